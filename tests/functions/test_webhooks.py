"""The webhook functions, called the way the host calls them: through app.get_functions()."""

from __future__ import annotations

import logging

import pytest

from tests.support import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    function,
    http_request,
    post_signed,
    signed_form,
    twilio_signature,
    xml_of,
)
from tests.support import (
    XML_DECLARATION as DECL,
)

VOICE_URL = f"{PUBLIC_BASE_URL}/api/voice/incoming"
SMS_URL = f"{PUBLIC_BASE_URL}/api/sms/incoming"
CALL = {"CallSid": "CA" + "a" * 32, "From": "+15558675310", "To": "+15005550006", "CallStatus": "ringing"}
TEXT = {"MessageSid": "SM" + "b" * 32, "From": "+15558675310", "To": "+15005550006", "Body": "hello"}


def test_the_app_declares_the_webhook_routes(app) -> None:
    import json

    from tools.devhost.index import functions_of

    routes = {}
    for fn in functions_of(app):
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        routes[trigger.get("route")] = (trigger.get("methods"), trigger.get("authLevel"))
    assert routes["voice/incoming"] == (["POST"], "ANONYMOUS")
    assert routes["sms/incoming"] == (["POST"], "ANONYMOUS")
    assert routes["twiml/message"] == (["GET", "POST"], "ANONYMOUS")


def test_signed_voice_webhook_answers_with_twiml(app, configure) -> None:
    configure(VOICE_GREETING="Hello from Switchboard.", VOICE_FORWARD_TO=None)
    response = post_signed(app, "voice_incoming", VOICE_URL, CALL)
    assert xml_of(response) == f"{DECL}<Response><Say>Hello from Switchboard.</Say><Hangup /></Response>"


def test_unsigned_voice_webhook_is_forbidden_without_twiml(app, caplog) -> None:
    headers, body = signed_form(VOICE_URL, CALL)
    del headers["X-Twilio-Signature"]
    with caplog.at_level(logging.WARNING):
        response = function(app, "voice_incoming")(http_request("POST", VOICE_URL, headers=headers, body=body))
    assert response.status_code == 403
    assert b"<Response" not in response.get_body()
    assert "no signature" in caplog.text
    assert AUTH_TOKEN not in caplog.text


def test_wrongly_signed_sms_webhook_is_forbidden(app) -> None:
    response = post_signed(app, "sms_incoming", SMS_URL, TEXT, token="not-our-token")
    assert response.status_code == 403


def test_signature_for_another_url_is_refused(app) -> None:
    response = post_signed(app, "sms_incoming", SMS_URL, TEXT, signed_as=VOICE_URL)
    assert response.status_code == 403


def test_sms_webhook_auto_replies(app, configure) -> None:
    configure(SMS_AUTO_REPLY="Thanks!", SMS_FORWARD_TO=None)
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, TEXT)) == (
        f"{DECL}<Response><Message>Thanks!</Message></Response>"
    )


def test_hello_world_message_twimlet_by_get(app) -> None:
    url = f"{PUBLIC_BASE_URL}/api/twiml/message?Message=Hello%20world."
    request = http_request("GET", url, headers={"X-Twilio-Signature": twilio_signature(url)})
    response = function(app, "twiml_message")(request)
    assert xml_of(response) == f"{DECL}<Response><Say>Hello world.</Say></Response>"


def test_message_twimlet_by_signed_post_with_query(app) -> None:
    url = f"{PUBLIC_BASE_URL}/api/twiml/message?Message%5B0%5D=Hi&Voice=alice"
    response = post_signed(app, "twiml_message", url, CALL)
    assert xml_of(response) == f'{DECL}<Response><Say voice="alice">Hi</Say></Response>'


def test_oversized_body_is_refused_before_parsing(app) -> None:
    body = b"Body=" + b"x" * (64 * 1024)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "irrelevant"}
    response = function(app, "sms_incoming")(http_request("POST", SMS_URL, headers=headers, body=body))
    assert response.status_code == 413


def test_validation_off_needs_explicit_setting_and_warns_every_time(app, configure, caplog) -> None:
    configure(WEBHOOK_VALIDATION="false", VOICE_GREETING="Hi", VOICE_FORWARD_TO=None)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            response = function(app, "voice_incoming")(http_request("POST", VOICE_URL))
            assert response.status_code == 200
    assert caplog.text.count("WEBHOOK_VALIDATION is off") == 2


def test_a_failing_flow_answers_the_caller_politely(app, configure, monkeypatch) -> None:
    from switchboard.twiml import voice  # the handler imports answer_call from here when called

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(voice, "answer_call", broken)
    response = post_signed(app, "voice_incoming", VOICE_URL, CALL)
    assert xml_of(response) == (
        f"{DECL}<Response><Say>Sorry, we cannot take your call right now. Goodbye.</Say><Hangup /></Response>"
    )


@pytest.mark.parametrize("name", ["voice_incoming", "sms_incoming", "twiml_message"])
def test_missing_required_setting_is_a_clear_error(app, configure, name) -> None:
    from switchboard.settings import SettingsError

    configure(TWILIO_AUTH_TOKEN=None)
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        post_signed(app, name, f"{PUBLIC_BASE_URL}/api/x", CALL)
