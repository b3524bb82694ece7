"""Issue 11 point 5: replayed or re-split signed requests cannot add events, notices or opt-in changes."""

from __future__ import annotations

import base64
import json
import uuid

from switchboard.shared.sids import is_call_sid, is_message_sid, is_recording_sid
from tests.outbound.conftest import deliver, new_id, record
from tests.support import (
    PHONE_NUMBER,
    PUBLIC_BASE_URL,
    XML_DECLARATION,
    function,
    http_request,
    signed_form,
    twilio_signature,
)

INTERNAL = "http://127.0.0.1:7071/api"


def _hex() -> str:
    return uuid.uuid4().hex


def _post(app, function_name: str, path: str, params: dict[str, str], headers: dict[str, str] | None = None, **route):
    url = f"{PUBLIC_BASE_URL}/api/{path}"
    signed_headers, body = signed_form(f"{INTERNAL}/{path}", params, signed_as=url)
    request = http_request("POST", f"{INTERNAL}/{path}", headers=signed_headers | (headers or {}), body=body,
                           route_params=route)  # fmt: skip
    return function(app, function_name)(request)


def test_sid_shapes_are_fullmatched() -> None:
    sid = "0123456789abcdef" * 2
    assert is_call_sid("CA" + sid)
    assert is_message_sid("SM" + sid)
    assert is_message_sid("MM" + sid)
    assert is_recording_sid("RE" + sid)
    for bad in ("CA" + sid + "RecordingStatuscompleted", "CA" + sid[:-1], "CA" + sid[:-1] + "g", "ca" + sid,
                "CA" + sid + "\n", "SM" + sid[:31], "RE" + sid + "0"):  # fmt: skip
        assert not is_call_sid(bad), bad
        assert not is_message_sid(bad), bad
        assert not is_recording_sid(bad), bad


def test_a_re_split_voicemail_callback_adds_no_event_and_no_second_notice(app, azurite: str) -> None:
    """Twilio signs key+value without separators: `RecordingSid` can swallow `RecordingStatus`."""
    from switchboard.adapters.storage import queue_client
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    call_sid, recording_sid = "CA" + _hex(), "RE" + _hex()
    path = "twiml/voicemail?Transcribe=false&NotifyNumber=%2B15558675310&Stage=recording"
    params = {"CallSid": call_sid, "From": "+15550001111", "RecordingDuration": "7", "RecordingSid": recording_sid,
              "RecordingStatus": "completed", "RecordingUrl": f"https://api.twilio.com/R/{recording_sid}"}  # fmt: skip
    resplit = {key: value for key, value in params.items() if key != "RecordingStatus"}
    resplit["RecordingSid"] = recording_sid + "RecordingStatus" + "completed"
    public = f"{PUBLIC_BASE_URL}/api/{path}"
    assert twilio_signature(public, params) == twilio_signature(public, resplit)  # the attack's premise

    for form in (params, resplit, params):
        assert _post(app, "twiml_twimlet", path, form, name="voicemail").status_code == 200
    _, events = store_for(get_settings()).record_with_events(call_sid)
    assert [(e["kind"], e.get("sid")) for e in events if e["kind"] == "voicemail"] == [("voicemail", recording_sid)]
    queued = queue_client("outbound", base64=False).peek_messages(max_messages=32)
    ids = {json.loads(base64.b64decode(m.content))["id"] for m in queued}
    assert {i for i in ids if i.startswith(f"vm-{recording_sid}")} == {f"vm-{recording_sid}"}


def test_forged_idempotency_tokens_add_no_events(app, twilio) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": "+15558675310", "say": "Hi"})
    sid = record(app, request_id)["sid"]
    params = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "3", "SequenceNumber": "3"}
    for _ in range(4):  # the token is a header outside the signature: anyone can vary it
        headers = {"I-Twilio-Idempotency-Token": uuid.uuid4().hex}
        response = _post(app, "voice_status", f"voice/status?request_id={request_id}", params, headers)
        assert response.get_body().decode() == f"{XML_DECLARATION}<Response />"
    callbacks = [e for e in record(app, request_id)["events"] if e["kind"] == "callback"]
    assert [e["status"] for e in callbacks] == ["completed"]


def test_a_re_split_status_callback_is_not_a_new_event(app, twilio) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": "+15558675310", "body": "Hi"})
    sid = record(app, request_id)["sid"]
    params = {"MessageSid": sid, "MessageStatus": "delivered", "SmsSid": sid, "SmsStatus": "delivered"}
    resplit = {"MessageSid": sid, "MessageStatus": "delivered" + "SmsSid" + sid, "SmsStatus": "delivered"}
    url = f"{PUBLIC_BASE_URL}/api/sms/status?request_id={request_id}"
    assert twilio_signature(url, params) == twilio_signature(url, resplit)
    for form in (params, resplit):
        assert _post(app, "sms_status", f"sms/status?request_id={request_id}", form).status_code == 200
    assert [e["status"] for e in record(app, request_id)["events"] if e["kind"] == "callback"] == ["delivered"]


def test_a_callback_with_a_malformed_sid_creates_nothing(app, azurite: str) -> None:
    from tests.outbound.conftest import get_record

    sid = "CA" + _hex() + "ffff"
    response = _post(app, "voice_status", "voice/status", {"CallSid": sid, "CallStatus": "completed"})
    assert response.status_code == 200
    assert get_record(app, sid)[0] == 404


def test_an_old_start_replayed_after_a_newer_stop_does_not_opt_back_in(app, azurite: str) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    number = "+1555" + str(uuid.uuid4().int)[-7:]
    store = store_for(get_settings())

    def text(sid: str, body: str) -> None:
        params = {"MessageSid": sid, "SmsSid": sid, "From": number, "To": PHONE_NUMBER, "Body": body}
        assert _post(app, "sms_incoming", "sms/incoming", params).status_code == 200

    start, stop = "SM" + _hex(), "SM" + _hex()
    text(start, "START")
    assert store.is_opted_out(number) is False
    text(stop, "STOP")
    assert store.is_opted_out(number) is True
    text(start, "START")  # the old, validly signed START, replayed
    assert store.is_opted_out(number) is True
    text("SM" + _hex(), "unstop")  # a new START still works
    assert store.is_opted_out(number) is False


def test_a_re_split_status_callback_cannot_rewrite_the_record(app, twilio) -> None:
    """Same SID and status, same signature, but `Price` swallows `PriceUnit`: the record keeps Twilio's values."""
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": "+15558675310", "say": "Hi"})
    sid = record(app, request_id)["sid"]
    params = {"AnsweredBy": "human", "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": "completed",
              "Price": "-0.0130", "PriceUnit": "USD"}  # fmt: skip
    resplit = {"AnsweredBy": "human" + "ApiVersion" + "2010-04-01", "CallSid": sid, "CallStatus": "completed",
               "Price": "-0.0130" + "PriceUnit" + "USD"}  # fmt: skip
    url = f"{PUBLIC_BASE_URL}/api/voice/status?request_id={request_id}"
    assert twilio_signature(url, params) == twilio_signature(url, resplit)  # the attack's premise
    for form in (params, resplit):
        assert _post(app, "voice_status", f"voice/status?request_id={request_id}", form).status_code == 200
    stored = record(app, request_id)
    assert (stored["price"], stored["price_unit"], stored["answered_by"]) == ("-0.0130", "USD", "human")
    assert [e["status"] for e in stored["events"] if e["kind"] == "callback"] == ["completed"]
