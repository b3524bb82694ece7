"""Only Twilio's webhooks are anonymous, and they are signature-checked; everything else needs a function key."""

from __future__ import annotations

import pytest
import requests

from tests.security.routes import http_routes, keyed_routes, webhook_routes
from tests.support import FUNCTION_KEY, PUBLIC_BASE_URL, http_request, signed_form
from tools.devhost.host import LocalHost
from tools.localmachine import free_port

WEBHOOKS = webhook_routes()
KEYED = keyed_routes()


def test_every_route_is_a_signed_webhook_or_needs_a_key() -> None:
    routes = http_routes()
    assert {route.route for route in WEBHOOKS} >= {"voice/incoming", "sms/incoming", "twiml/message"}
    for route in routes:
        assert route.auth_level in ("ANONYMOUS", "FUNCTION", "ADMIN"), str(route)
    assert len(WEBHOOKS) + len(KEYED) == len(routes)


def _form_request(route, method: str, *, signed_as: str | None = None, token: str | None = None, unsigned=False):
    url = PUBLIC_BASE_URL + route.path
    params = {"From": "+15558675310", "To": "+15005550006", "CallSid": "CA" + "1" * 32, "Body": "hi"}
    if method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        params = {}
    kwargs = {"token": token} if token else {}
    headers, body = signed_form(url, params, signed_as=signed_as, **kwargs)
    if unsigned:
        del headers["X-Twilio-Signature"]
    return http_request(method, url, headers=headers, body=body, route_params=route.route_params)


@pytest.mark.parametrize("route", WEBHOOKS, ids=str)
def test_anonymous_routes_refuse_unsigned_and_wrongly_signed_requests(route) -> None:
    for method in route.methods:
        unsigned = _form_request(route, method, unsigned=True)
        assert route.call(unsigned).status_code == 403, (method, "unsigned")
        other_url = _form_request(route, method, signed_as=PUBLIC_BASE_URL + "/api/elsewhere")
        assert route.call(other_url).status_code == 403, (method, "signed for another URL")
        other_token = _form_request(route, method, token="someone-elses-token-0123456789")
        assert route.call(other_token).status_code == 403, (method, "signed with another token")
        # The same request, correctly signed, gets past the check: the 403s came from it.
        signed = route.call(_form_request(route, method)).status_code
        assert signed not in (403, 500), (method, signed)


@pytest.mark.parametrize("route", KEYED, ids=str)
def test_the_local_host_enforces_function_keys(route, served: LocalHost) -> None:
    url = f"http://127.0.0.1:{served.port}{route.path}"
    for method in route.methods:
        assert requests.request(method, url, timeout=10).status_code == 401, (method, "no key")
        assert requests.request(method, url, params={"code": "wrong"}, timeout=10).status_code == 401, method
        wrong_header = {"x-functions-key": FUNCTION_KEY + "x"}
        assert requests.request(method, url, headers=wrong_header, timeout=10).status_code == 401, method
        for given in ({"params": {"code": FUNCTION_KEY}}, {"headers": {"x-functions-key": FUNCTION_KEY}}):
            status = requests.request(method, url, timeout=10, **given).status_code
            assert status not in (401, 403, 500), (method, given, status)


def test_the_local_host_lets_twilio_reach_webhooks_without_a_key(app) -> None:
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as host:
        for route in WEBHOOKS:
            method = "POST" if "POST" in route.methods else route.methods[0]
            # No key and no signature: the function itself answers 403, not the host's 401.
            assert requests.request(method, f"http://127.0.0.1:{host.port}{route.path}", timeout=10).status_code == 403


def test_the_function_keys_the_docs_hand_out_name_real_functions() -> None:
    """Per-function keys (docs/operate.md, docs/deploy.md) are set by function name: a renamed function would leave
    the operator page, erasure or outbound on the host's default key."""
    import re
    from pathlib import Path

    names = {route.name for route in http_routes()}
    docs = Path(__file__).resolve().parents[2] / "docs"
    named = {n for page in ("operate.md", "deploy.md")
             for n in re.findall(r"--function-name (\w+)", (docs / page).read_text(encoding="utf-8"))}  # fmt: skip
    assert {"dashboard", "media_get", "number_erase", "outbound_enqueue", "health"} <= named
    assert named <= names, named - names
    assert all(route.auth_level == "FUNCTION" for route in KEYED if route.name in named)
