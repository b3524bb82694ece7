"""Status callbacks, inbound records, the read API and POST /api/outbound, called as the host calls them."""

from __future__ import annotations

import json
import uuid

import pytest

from switchboard.outbound.contract import OutboundRequest, parse
from switchboard.settings import get_settings
from tests.outbound.conftest import callback, deliver, get_record, new_id, record, redeliver
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL, XML_DECLARATION, function, http_request, post_signed, xml_of
from tools.emulator.rest import TwilioEmulator

TO = "+15558675310"


def _unique_number() -> str:
    return "+1555" + str(int(new_id()[2:], 16))[-7:]


def test_the_app_declares_the_new_routes_and_queues(app) -> None:
    from tools.devhost.index import index

    http, queues = index(app)
    routes = {f.route: (sorted(f.methods or ()), f.auth_level.upper()) for f in http}
    assert routes["voice/status"] == (["POST"], "ANONYMOUS")
    assert routes["sms/status"] == (["POST"], "ANONYMOUS")
    assert routes["outbound"] == (["POST"], "FUNCTION")
    assert routes["records/{id}"] == (["GET"], "FUNCTION")
    assert routes["records"] == (["GET"], "FUNCTION")
    assert {q.queue_name for q in queues} >= {"outbound", "outbound-poison"}
    [enqueue] = [f for f in http if f.route == "outbound"]
    assert [(o.queue_name, o.connection) for o in enqueue.outputs] == [("outbound", "AzureWebJobsStorage")]


def test_callbacks_out_of_order_and_repeated_only_move_forward(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi"})
    sid = record(app, request_id)["sid"]
    sent = [
        ("initiated", {}),
        ("completed", {"CallDuration": "42", "AnsweredBy": "human"}),
        ("ringing", {}),  # late
        ("completed", {"CallDuration": "42"}),  # repeated
        ("in-progress", {}),  # late
    ]
    for status, extra in sent:
        response = callback(app, "call", {"CallSid": sid, "CallStatus": status, "To": TO, **extra}, request_id)
        assert xml_of(response) == f"{XML_DECLARATION}<Response />"
    body = record(app, request_id)
    assert (body["status"], body["duration"], body["answered_by"]) == ("completed", 42, "human")
    callbacks = [event["status"] for event in body["events"] if event["kind"] == "callback"]
    # The repeated "completed" (no idempotency token, same SID and status) is recognised as a repeat.
    assert callbacks == ["initiated", "completed", "ringing", "in-progress"]
    assert next(e for e in body["events"] if e["status"] == "completed")["params"]["CallDuration"] == "42"


def test_sms_callbacks_update_by_sid_and_keep_errors(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    # A number of its own: a 30003 suppresses SMS to it (SUPPRESS_ON_ERRORS), and TO serves the other tests.
    deliver(app, {"type": "sms", "id": request_id, "to": _unique_number(), "body": "hi"})
    sid = record(app, request_id)["sid"]
    for status in ("sent", "undelivered", "delivered"):
        params = {"MessageSid": sid, "MessageStatus": status}
        if status == "undelivered":
            params |= {"ErrorCode": "30003", "ErrorMessage": "Unreachable destination handset"}
        assert callback(app, "sms", params).status_code == 200  # no request id: found by SID
    body = record(app, request_id)
    assert (body["status"], body["error_code"]) == ("undelivered", 30003)
    assert body["error_message"] == "Unreachable destination handset"


def test_a_callback_for_an_unknown_sid_is_answered_and_kept(app, azurite: str) -> None:
    sid = "CA" + new_id()[2:].ljust(32, "0")
    response = callback(app, "call", {"CallSid": sid, "CallStatus": "completed", "To": TO, "Direction": "outbound-api"})
    assert response.status_code == 200
    body = record(app, sid)
    assert (body["status"], body["sid"], body["direction"]) == ("completed", sid, "outbound")
    assert body["reason"] == "status callback for a SID with no record"
    assert callback(app, "call", {"CallSid": sid, "CallStatus": "ringing"}).status_code == 200
    body = record(app, sid)
    assert body["status"] == "completed"
    assert len(body["events"]) == 2


def test_a_callback_that_beats_the_worker_finds_the_record_by_request_id(app, twilio: TwilioEmulator) -> None:
    """Twilio's first callback can arrive before the SID is stored, or after an answer was lost."""
    request_id = new_id()
    twilio.faults.add("calls", status=429, times=1)
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi"})
    assert record(app, request_id)["status"] == "retrying"
    sid = "CA" + uuid.uuid4().hex  # unique: other tests share the Azurite tables
    assert callback(app, "call", {"CallSid": sid, "CallStatus": "initiated"}, request_id).status_code == 200
    body = record(app, request_id)
    assert (body["sid"], body["status"]) == (sid, "initiated")
    assert record(app, sid)["id"] == request_id
    # Linked now: the worker leaves it alone when the message it put back comes round.
    redeliver(app, request_id)
    assert twilio.created("calls") == []


def test_status_callbacks_must_be_signed(app) -> None:
    url = f"{PUBLIC_BASE_URL}/api/voice/status"
    response = function(app, "voice_status")(http_request(
        "POST", url, headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"CallSid=CA1&CallStatus=completed",
    ))  # fmt: skip
    assert response.status_code == 403


def test_inbound_calls_and_messages_are_recorded(app, azurite: str, configure) -> None:
    configure(VOICE_GREETING="Hi there", SMS_AUTO_REPLY="Thanks!")
    number = _unique_number()
    call_sid, message_sid = "CA" + new_id()[2:].ljust(32, "1"), "SM" + new_id()[2:].ljust(32, "2")
    call = {"CallSid": call_sid, "From": number, "To": PHONE_NUMBER, "CallStatus": "ringing"}
    voice = post_signed(app, "voice_incoming", f"{PUBLIC_BASE_URL}/api/voice/incoming", call)
    assert xml_of(voice) == f"{XML_DECLARATION}<Response><Say>Hi there</Say><Hangup /></Response>"
    text = {"MessageSid": message_sid, "From": number, "To": PHONE_NUMBER, "Body": "hello"}
    sms = post_signed(app, "sms_incoming", f"{PUBLIC_BASE_URL}/api/sms/incoming", text)
    assert xml_of(sms) == f"{XML_DECLARATION}<Response><Message>Thanks!</Message></Response>"

    body = record(app, call_sid)
    assert (body["type"], body["direction"], body["status"], body["from"]) == ("call", "inbound", "ringing", number)
    body = record(app, message_sid)
    assert (body["type"], body["direction"], body["status"], body["body"]) == ("sms", "inbound", "received", "hello")

    listing = _list(app, number)
    assert [r["id"] for r in listing["records"]] == [message_sid, call_sid]  # newest first


def test_stop_gets_no_reply_of_ours(app, azurite: str, configure) -> None:
    configure(SMS_AUTO_REPLY="Thanks!")
    text = {"MessageSid": "SM" + new_id()[2:].ljust(32, "3"), "From": _unique_number(), "To": PHONE_NUMBER,
            "Body": "Stop"}  # fmt: skip
    sms = post_signed(app, "sms_incoming", f"{PUBLIC_BASE_URL}/api/sms/incoming", text)
    assert xml_of(sms) == f"{XML_DECLARATION}<Response />"


def test_a_storage_failure_never_breaks_the_twiml_answer(app, azurite: str, configure, monkeypatch) -> None:
    from tools.localmachine import free_port

    dead = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
    monkeypatch.setenv("AzureWebJobsStorage", dead)
    configure(VOICE_GREETING="Still here")
    call = {"CallSid": "CA" + "f" * 32, "From": TO, "To": PHONE_NUMBER, "CallStatus": "ringing"}
    voice = post_signed(app, "voice_incoming", f"{PUBLIC_BASE_URL}/api/voice/incoming", call)
    assert xml_of(voice) == f"{XML_DECLARATION}<Response><Say>Still here</Say><Hangup /></Response>"


def _list(app, number: str, limit: str | None = None):
    query = f"number={number.replace('+', '%2B')}" + (f"&limit={limit}" if limit else "")
    response = function(app, "records_list")(http_request("GET", f"{PUBLIC_BASE_URL}/api/records?{query}"))
    return json.loads(response.get_body()) | {"_status": response.status_code}


def test_a_numbers_history_is_newest_first_and_limited(app, twilio: TwilioEmulator) -> None:
    number = _unique_number()
    ids = [new_id() for _ in range(3)]
    for request_id in ids:
        deliver(app, {"type": "sms", "id": request_id, "to": number, "body": "x"})
    listing = _list(app, number)
    assert [r["id"] for r in listing["records"]] == ids[::-1]
    assert listing["records"][0]["status"] == "queued"
    assert [r["id"] for r in _list(app, number, "2")["records"]] == ids[:0:-1]
    assert _list(app, "call-me", None)["_status"] == 400
    assert _list(app, number, "1000")["_status"] == 400


def test_unknown_and_malformed_record_ids(app, azurite: str) -> None:
    assert get_record(app, new_id())[0] == 404
    assert get_record(app, "a/b")[0] == 400


def test_the_read_api_finds_a_record_by_its_call_or_message_sid_only(app, azurite: str) -> None:
    """A record key is a request id or a call or message SID: a Messaging Service SID (`MG…`) names no record."""
    from switchboard.functions.glue_records import store_for
    from switchboard.records.model import Record, iso
    from switchboard.records.store import utcnow

    store = store_for(get_settings())
    request_id, digits = new_id(), uuid.uuid4().hex
    now = iso(utcnow())
    store.claim(Record(id=request_id, type="sms", direction="outbound", status="queued", created_at=now,
                       updated_at=now, to=TO))  # fmt: skip
    message_sid, service_sid = "SM" + digits, "MG" + digits
    for sid in (message_sid, service_sid):  # the app never links an MG…: planted to show it is not consulted
        store.link_sid(sid, request_id)
    assert record(app, message_sid)["id"] == request_id
    assert get_record(app, service_sid) == (404, {"error": "no such record"})


def _post(app, payload: bytes | dict[str, object]):
    from tools.devhost.invoke import Out

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    out = Out()
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/outbound", headers={"Content-Type": "application/json"},
                           body=body)  # fmt: skip
    response = function(app, "outbound_enqueue")(request, out)
    return response.status_code, json.loads(response.get_body()), out.get()


def test_post_outbound_validates_and_enqueues(app) -> None:
    status, body, queued = _post(app, {"type": "call", "to": TO, "say": "Hello world."})
    assert status == 202
    assert len(body["id"]) == 32
    message = json.loads(queued)
    assert message == {"type": "call", "to": TO, "say": "Hello world.", "id": body["id"]}
    parsed = parse(queued, default_id="other", default_from=get_settings().phone_number)
    assert isinstance(parsed, OutboundRequest)
    assert parsed.id == body["id"]

    assert _post(app, {"type": "sms", "id": "mine-1", "to": TO, "body": "x"})[:2] == (202, {"id": "mine-1"})


E164_WHY = (
    "must be an E.164 phone number such as +15558675310 (with + and country code;"
    " the outbound contract does not guess the country of a national number)"
)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{nope", "body is not valid JSON"),
        (b'{"type": "call", "timeout": ' + b"9" * 5000 + b"}", "body is not valid JSON"),  # int over 4300 digits
        (b"[]", "message must be a JSON object"),
        ({"type": "call", "to": "12345", "say": "x"}, f"to: {E164_WHY}"),
        # Twimlet URLs take national numbers; the queue contract, written by programs, does not guess a country.
        ({"type": "call", "to": "415-555-1212", "say": "x"}, f"to: {E164_WHY}"),
        ({"type": "sms", "to": TO, "body": "x", "extra": 1}, "unknown field for a sms: extra"),
    ],
)
def test_post_outbound_refuses_bad_requests(app, payload, error: str) -> None:
    status, body, queued = _post(app, payload)
    assert (status, body, queued) == (400, {"error": error}, None)


def test_a_malformed_request_id_in_a_callback_is_ignored(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "hi"})
    sid = record(app, request_id)["sid"]
    response = callback(app, "sms", {"MessageSid": sid, "MessageStatus": "sent"}, "bad'id%2Fx")
    assert response.status_code == 200
    assert record(app, request_id)["status"] == "sent"  # found by SID instead


@pytest.mark.parametrize("field", ["ErrorCode", "CallDuration", "Duration"])
def test_a_number_too_big_for_a_table_column_does_not_lose_the_status(app, twilio: TwilioEmulator, field: str) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": "+15558675310", "say": "Hi"})
    sid = record(app, request_id)["sid"]
    callback(app, "call", {"CallSid": sid, "CallStatus": "completed", field: "9" * 10}, request_id)
    assert record(app, request_id)["status"] == "completed"
