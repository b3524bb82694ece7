"""Helpers shared by the tests: Twilio-signed requests and calls through the app's own function index."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
API_SECRET = "test-api-secret-fedcba9876543210"
PHONE_NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://switchboard.example.net"
FUNCTION_KEY = "test-function-key-5b2c"

BASE_ENV = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_API_SECRET": API_SECRET,
    "TWILIO_API_KEY": "SK" + "0" * 32,
    "TWILIO_PHONE_NUMBER": PHONE_NUMBER,
    "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "LOCAL_FUNCTION_KEY": FUNCTION_KEY,
    # Tests never reach the internet: a REST call a test did not point at an emulator finds nothing listening.
    "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
    # Tests that are not about pacing are not held up by it (tests/outbound/test_pacing.py sets its own rates).
    "OUTBOUND_MESSAGES_PER_SECOND": "10000",
    "OUTBOUND_CALLS_PER_SECOND": "10000",
    # Nor capped by OUTBOUND_LIMITS, nor is the auto-reply throttled (tests/outbound/test_caps.py turns both on).
    "OUTBOUND_LIMITS": "off",
    "SMS_AUTO_REPLY_MINUTES": "0",
}

Pairs = Sequence[tuple[str, str]] | Mapping[str, str]


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve a test's stand-in (bound to 127.0.0.1) on a thread; yields its port; stops, closes and joins it.

    A short poll: `shutdown()` waits for serve_forever to notice, up to the default 0.5 s per server."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class MultiDict:
    """What RequestValidator needs to sign repeated parameters."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def __iter__(self):
        return iter(dict.fromkeys(k for k, _ in self.pairs))

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


def _pairs(params: Pairs | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def twilio_signature(url: str, params: Pairs | None = None, token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, MultiDict(_pairs(params))))


def signed_form(
    url: str, params: Pairs | None = None, *, token: str = AUTH_TOKEN, signed_as: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a form POST signed as Twilio would sign `signed_as` (default: `url`)."""
    pairs = _pairs(params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(signed_as or url, pairs, token),
    }
    return headers, urlencode(pairs).encode()


def function(app: func.FunctionApp, name: str):
    from tools.devhost.index import functions_of

    for candidate in functions_of(app):
        if candidate.get_function_name() == name:
            return observed(name, candidate.get_user_function())
    raise LookupError(f"no function {name}")


def observed(name: str, user_function):
    """The function, with its responses and exceptions shown to the session's leak guard."""
    from tests.leakguard import observe_exception, observe_response

    def call(*args, **kwargs):
        try:
            response = user_function(*args, **kwargs)
        except Exception as error:
            observe_exception(name, error)
            raise
        observe_response(name, response)
        return response

    return call


def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    route_params: Mapping[str, str] | None = None,
) -> func.HttpRequest:
    from urllib.parse import parse_qsl, urlsplit

    return func.HttpRequest(
        method=method, url=url, headers=dict(headers or {}),
        params=dict(parse_qsl(urlsplit(url).query, keep_blank_values=True)),
        route_params=dict(route_params or {}), body=body,
    )  # fmt: skip


def post_signed(app: func.FunctionApp, name: str, url: str, params: Pairs | None = None, **kw) -> func.HttpResponse:
    headers, body = signed_form(url, params, **kw)
    return function(app, name)(http_request("POST", url, headers=headers, body=body))


def xml_of(response: func.HttpResponse) -> str:
    assert response.status_code == 200, (response.status_code, response.get_body())
    assert response.mimetype == "text/xml"
    return response.get_body().decode("utf-8")


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
