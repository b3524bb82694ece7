"""Twilio retries webhooks with the same `I-Twilio-Idempotency-Token`: no retry double-records or double-forwards."""

from __future__ import annotations

import pytest

from switchboard.emulator.rest import TwilioEmulator
from switchboard.functions.recording import store_for
from switchboard.settings import get_settings
from tests.outbound.conftest import deliver, new_id, record
from tests.support import PUBLIC_BASE_URL, post_signed, xml_of

pytestmark = pytest.mark.azurite
TO = "+15558675310"


def _status(app, kind: str, params: dict[str, str], request_id: str, token: str | None):
    path, name = ("voice/status", "voice_status") if kind == "call" else ("sms/status", "sms_status")
    url = f"{PUBLIC_BASE_URL}/api/{path}?request_id={request_id}"
    headers = {"I-Twilio-Idempotency-Token": token} if token else {}
    from tests.support import function, http_request, signed_form

    signed_headers, body = signed_form(url, params)
    return function(app, name)(http_request("POST", url, headers=signed_headers | headers, body=body))


def _callbacks(app, request_id: str) -> list[str]:
    return [e["status"] for e in record(app, request_id)["events"] if e["kind"] == "callback"]


def test_a_retried_status_callback_is_recorded_once(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "replay"})
    sid = record(app, request_id)["sid"]
    params = {"MessageSid": sid, "MessageStatus": "delivered", "To": TO}
    for _ in range(3):  # Twilio's retries carry the same token
        assert _status(app, "sms", params, request_id, token="tok-1").status_code == 200
    assert _callbacks(app, request_id) == ["delivered"]
    assert record(app, request_id)["status"] == "delivered"


def test_a_repeated_callback_without_a_token_is_recognised_by_sid_and_status(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "replay"})
    sid = record(app, request_id)["sid"]
    for status, sequence in (("ringing", "1"), ("ringing", "1"), ("completed", "3"), ("completed", "3")):
        params = {"CallSid": sid, "CallStatus": status, "To": TO, "SequenceNumber": sequence}
        assert _status(app, "call", params, request_id, token=None).status_code == 200
    assert _callbacks(app, request_id) == ["ringing", "completed"]


def test_distinct_deliveries_are_all_kept(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "two tokens"})
    sid = record(app, request_id)["sid"]
    _status(app, "sms", {"MessageSid": sid, "MessageStatus": "sent", "To": TO}, request_id, token="a")
    _status(app, "sms", {"MessageSid": sid, "MessageStatus": "delivered", "To": TO}, request_id, token="b")
    assert _callbacks(app, request_id) == ["sent", "delivered"]


def test_a_retried_inbound_sms_is_recorded_once_and_forwarded_by_the_one_answer_twilio_keeps(
    app, azurite: str, configure
) -> None:
    configure(SMS_FORWARD_TO="+15005550001", SMS_AUTO_REPLY=None)
    sid = "SM" + new_id()[2:].ljust(32, "0")
    params = {"MessageSid": sid, "From": "+15557654321", "To": "+15005550006", "Body": "hello twice"}
    url = f"{PUBLIC_BASE_URL}/api/sms/incoming"
    answers = [xml_of(post_signed(app, "sms_incoming", url, params)) for _ in range(2)]
    # Twilio retries only when it got no usable answer, so it acts on exactly one of these: the same TwiML.
    assert answers[0] == answers[1]
    assert answers[0].count("<Message") == 1
    stored, events = store_for(get_settings()).record_with_events(sid)
    assert stored is not None
    assert stored.status == "received"
    assert [e["kind"] for e in events] == ["incoming"]
