"""Property-based hostile input on every HTTP route of the real app (section 3 of the reliability promises).

Routes come from the app's own function metadata, so a new route is covered without a change here.
In process: the user function gets a `func.HttpRequest`, as the host would pass it; the operator page
reads through its reader port, over the in-memory table twin with hostile records (it refuses the keys
Table Storage refuses), instead of a few hundred storage reads per example; the health check asks its
dependencies once, really, and its probe port replays those answers for the other examples (no probe
reads the request). Over HTTP: a smaller sample through the local host, with its method routing and
function keys, with every dependency asked every time, on Azurite.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dashboard.seed import hostile_records, twin_store
from tests.leakguard import observe_response
from tests.security.hostile import INJECTIONS, Hostile, check_answer, check_twiml, hostile_requests
from tests.security.routes import Route, http_routes
from tests.support import FUNCTION_KEY, PUBLIC_BASE_URL, http_request, post_signed, signed_form, xml_of
from tools.devhost.host import LocalHost

ROUTES = http_routes()
FUZZ_SETTINGS = {
    "SMS_AUTO_REPLY": "Thanks!",
    "SMS_FORWARD_TO": "+15005550001",
    "VOICE_GREETING": "Hello.",
    "VOICE_FORWARD_TO": "",
    "MAX_BODY_BYTES": str(64 * 1024),
}


@pytest.fixture(scope="module", autouse=True)
def fuzz_settings() -> Iterator[None]:
    from switchboard.settings import get_settings

    saved = {key: os.environ.get(key) for key in FUZZ_SETTINGS}
    os.environ.update(FUZZ_SETTINGS)
    get_settings.cache_clear()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture
def quick_dependencies(route: Route, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator page's reader over the twin (tests/dashboard/test_search_input.py covers the real one); the
    health check's probes run for real once per route, then replayed (tests/functions/test_health.py)."""
    if route.name == "health":
        from switchboard.health import checks

        real, answers = checks.run_probes, {}

        def replay(probes, deadline: float):
            if missing := {name: probe for name, probe in probes.items() if name not in answers}:
                answers.update(real(missing, deadline))
            return {name: answers[name] for name in probes}

        monkeypatch.setattr(checks, "run_probes", replay)
    if route.name == "dashboard":
        from datetime import datetime, timezone

        from switchboard.dashboard.reader import StoreRecordReader

        reader = StoreRecordReader(twin_store(hostile_records(datetime.now(timezone.utc))))
        monkeypatch.setattr("switchboard.functions.dashboard.reader_for", lambda settings: reader)


def _call(route: Route, hostile: Hostile):
    request = http_request(
        hostile.method,
        "http://localhost:7071" + hostile.url,
        headers=hostile.headers,
        body=hostile.body,
        route_params=route.route_params,
    )
    return route.call(request)


@pytest.mark.parametrize("route", ROUTES, ids=str)
@given(data=st.data())
def test_hostile_requests_in_process(route: Route, data: st.DataObject, azurite: str, quick_dependencies: None) -> None:
    hostile = data.draw(hostile_requests(route), label="request")
    response = _call(route, hostile)
    body = response.get_body() or b""
    check_answer(route, hostile, response.status_code, response.mimetype or "", body)


@pytest.mark.parametrize("route", ROUTES, ids=str)
@settings(max_examples=25)
@given(data=st.data())
def test_hostile_requests_over_http(route: Route, data: st.DataObject, served: LocalHost) -> None:
    hostile = data.draw(hostile_requests(route, any_method=False), label="request")
    key = {"x-functions-key": FUNCTION_KEY} if not route.anonymous and data.draw(st.booleans()) else {}
    headers = {name: _on_the_wire(value) for name, value in (hostile.headers | key).items()}
    # http.client sends the target as generated; requests and urllib3 would re-quote a stray "%".
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        connection.request(hostile.method, hostile.url, body=hostile.body, headers=headers)
        answer = connection.getresponse()
        status, content_type, body = answer.status, answer.getheader("Content-Type", ""), answer.read()
    finally:
        connection.close()
    observe_response(f"http {route.name}", body)
    if not route.anonymous and not key:
        assert status == 401
        return
    check_answer(route, hostile, status, content_type, body, local_host=True)


def _on_the_wire(value: str) -> bytes:
    # HTTP/1.1 header values are bytes on one line: what a hostile client can actually send.
    return value.replace("\r", "").replace("\n", "").lstrip().encode("utf-8")


@pytest.mark.parametrize("payload", INJECTIONS)
def test_xml_injection_is_escaped_into_text(app, payload: str) -> None:
    from xml.etree.ElementTree import fromstring

    # The payload sits in the signed URL: that is where a twimlet's configuration comes from.
    url = f"{PUBLIC_BASE_URL}/api/twiml/message?{urlencode({'Message': payload})}"
    body = xml_of(post_signed(app, "twiml_message", url, {"CallSid": "CA" + "0" * 32}))
    check_twiml(body.encode())
    say = fromstring(body).find("Say")  # noqa: S314 (our own output)
    # Characters XML 1.0 cannot carry are the builder's to drop; everything else is said as written.
    expected = "".join(c for c in payload if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd"))
    assert say is not None
    assert say.text in (expected, expected.strip())


def test_sms_forward_body_is_escaped_and_clipped(app) -> None:
    url = f"{PUBLIC_BASE_URL}/api/sms/incoming"
    body = INJECTIONS[1] * 200
    answer = xml_of(post_signed(app, "sms_incoming", url, {"From": "+15558675310", "Body": body}))
    check_twiml(answer.encode())
    assert "&lt;/Message&gt;" in answer


def test_a_non_utf8_body_without_a_signature_is_forbidden(app) -> None:
    headers, _ = signed_form(f"{PUBLIC_BASE_URL}/api/sms/incoming", {})
    del headers["X-Twilio-Signature"]
    route = next(r for r in ROUTES if r.name == "sms_incoming")
    response = route.call(http_request("POST", f"{PUBLIC_BASE_URL}/api/sms/incoming", headers=headers, body=b"\xff"))
    assert response.status_code == 403


def test_characters_xml_cannot_hold_are_dropped_not_served(app) -> None:
    query = urlencode({"Message": "Press\x1f 1\x00 now\ufffe", "Voice": "a\x0bb"})
    body = xml_of(post_signed(app, "twiml_message", f"{PUBLIC_BASE_URL}/api/twiml/message?{query}", {}))
    assert body.endswith('<Response><Say voice="ab">Press 1 now</Say></Response>')


@pytest.mark.parametrize("query", ["bodySHA256=", "bodySHA256", "bodySHA256=&bodySHA256="])
def test_json_with_a_blank_body_hash_is_forbidden_not_a_crash(app, query: str) -> None:
    from tests.support import twilio_signature

    url = f"{PUBLIC_BASE_URL}/api/sms/incoming?{query}"
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(url)}
    route = next(r for r in ROUTES if r.name == "sms_incoming")
    assert route.call(http_request("POST", url, headers=headers, body=b'{"a": 1}')).status_code == 403
