"""The outbound queue function end to end: Azurite tables, the real SDK over HTTP to the Twilio emulator."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest

from switchboard.outbound.worker import TransientSendError
from switchboard.records.model import iso, parse_iso
from switchboard.records.store import utcnow
from switchboard.settings import get_settings
from tests.outbound.conftest import deliver, get_record, new_id, one, record, redeliver, tagged, take_deferred
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL
from tools.emulator.rest import TwilioEmulator

TO = "+15558675310"


def test_a_call_is_placed_once_and_recorded(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hello world."})

    [created] = twilio.created("calls")
    assert one(created, "To") == TO
    assert one(created, "From") == PHONE_NUMBER
    assert one(created, "Twiml") == '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello world.</Say></Response>'
    assert (
        one(created, "StatusCallback") == f"{PUBLIC_BASE_URL}/api/voice/status{tagged('/api/voice/status', request_id)}"
    )
    assert created["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    [sid] = twilio.resources("calls")
    body = record(app, request_id)
    assert {k: body[k] for k in ("id", "type", "direction", "status", "sid", "to", "from", "attempts")} == {
        "id": request_id, "type": "call", "direction": "outbound", "status": "queued", "sid": sid,
        "to": TO, "from": PHONE_NUMBER, "attempts": 1,
    }  # fmt: skip
    assert body["error_code"] is None
    assert body["error_message"] is None
    assert body["created_at"] <= body["updated_at"]
    assert body["request"] == {"type": "call", "to": TO, "from": PHONE_NUMBER, "say": "Hello world."}
    assert [event["kind"] for event in body["events"]] == ["sent"]
    assert record(app, sid)["id"] == request_id  # by SID too


def test_an_sms_is_sent_once_and_recorded(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "Your code is 1234",
                  "media_url": ["https://example.com/a.png"]})  # fmt: skip
    [created] = twilio.created("messages")
    assert one(created, "Body") == "Your code is 1234"
    assert created["MediaUrl"] == ["https://example.com/a.png"]
    assert one(created, "StatusCallback") == f"{PUBLIC_BASE_URL}/api/sms/status{tagged('/api/sms/status', request_id)}"
    body = record(app, request_id)
    assert (body["type"], body["status"], body["attempts"]) == ("sms", "queued", 1)
    assert body["sid"].startswith(("SM", "MM"))
    assert body["body"] == "Your code is 1234"


def test_the_seed_message_without_an_id_uses_the_queue_message_id(app, twilio: TwilioEmulator) -> None:
    message_id = new_id()
    deliver(app, '{"type":"call","to":"+15558675310","say":"Hello world."}', message_id=message_id)
    assert record(app, message_id)["status"] == "queued"
    assert len(twilio.created("calls")) == 1


def test_duplicate_delivery_sends_exactly_once(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "once"}
    deliver(app, message, message_id="q1")
    deliver(app, message, message_id="q1", dequeue_count=2)  # the same queue message, redelivered
    deliver(app, message, message_id="q2")  # the producer sent it twice
    assert len(twilio.attempts("messages")) == 1
    body = record(app, request_id)
    assert (body["status"], body["attempts"]) == ("queued", 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{this is not json", "not valid JSON"),
        ('{"type":"call","to":"555-0100","say":"Hi"}', "to: must be an E.164"),
        ('{"type":"call","to":"+15558675310","say":"Hi","priority":"high"}', "unknown field for a call: priority"),
    ],
)
def test_bad_messages_are_rejected_and_never_reach_twilio(app, twilio: TwilioEmulator, raw: str, reason: str) -> None:
    message_id = new_id()
    deliver(app, raw, message_id=message_id)
    deliver(app, raw, message_id=message_id, dequeue_count=2)  # redelivery changes nothing
    assert twilio.attempts("calls") == []
    body = record(app, message_id)
    assert body["status"] == "rejected"
    assert reason in body["reason"]
    assert body["raw"] == raw
    assert [event["kind"] for event in body["events"]] == ["rejected"]


def test_a_permanent_twilio_error_is_failed_and_not_retried(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": "+15005550001", "say": "Hi"})  # does not raise
    body = record(app, request_id)
    assert (body["status"], body["error_code"], body["sid"]) == ("failed", 21211, None)
    assert "not a valid phone number" in body["error_message"]
    deliver(app, {"type": "call", "id": request_id, "to": "+15005550001", "say": "Hi"}, dequeue_count=2)
    assert len(twilio.attempts("calls")) == 1


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503), (400, 21611)])
def test_a_failed_create_goes_back_on_the_queue_and_then_succeeds(
    app, twilio: TwilioEmulator, status: int, code: int
) -> None:
    """429 and the queue limits (21611) are never carried out; a 5xx found nothing at Twilio: both retry later."""
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "retry me"}
    twilio.faults.add("messages", status=status, code=code, times=1)
    deliver(app, message)  # completes: no exception, no dequeue spent
    body = record(app, request_id)
    assert (body["status"], body["attempts"], body["error_code"], body["sid"]) == ("retrying", 1, code, None)
    assert (body["hops"], body["first_attempt_at"]) == (1, body["created_at"])
    assert body["retry_at"] > body["updated_at"]
    [event] = body["events"]
    assert (event["kind"], event["status"]) == ("retry_scheduled", "retrying")
    assert f"code {code}" in event["detail"]
    assert "next attempt in 1 s" in event["detail"]
    redeliver(app, request_id)
    body = record(app, request_id)
    assert (body["status"], body["attempts"], body["error_code"], body["hops"]) == ("queued", 2, None, 1)
    assert "retry_at" not in body
    assert len(twilio.attempts("messages")) == 2
    assert len(twilio.created("messages")) == 1
    assert [event["kind"] for event in body["events"]] == ["retry_scheduled", "sent"]


def test_a_500_after_twilio_created_it_is_adopted_not_sent_again(app, twilio: TwilioEmulator) -> None:
    """Twilio's 20500: a create that answers 500 may have been carried out. Ask first; never twice."""
    for kind, message in (("messages", {"type": "sms", "to": TO, "body": f"once {new_id()}"}),
                          ("calls", {"type": "call", "to": TO, "say": "Once only"})):  # fmt: skip
        request_id = new_id()
        twilio.faults.add(kind, status=500, created=True, times=1)
        before = set(twilio.resources(kind))
        deliver(app, {**message, "id": request_id})
        [sid] = set(twilio.resources(kind)) - before
        body = record(app, request_id)
        assert (body["status"], body["sid"], body["attempts"]) == ("queued", sid, 1)
        assert [event["kind"] for event in body["events"]] == ["reconciled"]
        assert len(twilio.created(kind)) == 1
        assert len(twilio.attempts(kind)) == 1


def test_retry_after_sets_the_shortest_wait(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    twilio.faults.add("calls", status=429, retry_after=4, times=1)
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi"})
    body = record(app, request_id)
    [event] = body["events"]
    assert "Retry-After 4 s" in event["detail"]
    assert "next attempt in 4 s" in event["detail"]
    waited = parse_iso(body["retry_at"]) - parse_iso(body["updated_at"])
    assert timedelta(seconds=4) <= waited < timedelta(seconds=5)
    redeliver(app, request_id)
    body = record(app, request_id)
    assert body["status"] == "queued"
    assert body["queue_time"] == 0  # Twilio's queue_time of the call, as the create answered it


def test_the_retry_budget_ends_dead_lettered_with_the_last_code(app, twilio: TwilioEmulator) -> None:
    from switchboard.functions.glue_records import store_for

    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Hi"}
    twilio.faults.add("calls", status=429, times=2)
    deliver(app, message)
    assert record(app, request_id)["status"] == "retrying"
    # Six hours (OUTBOUND_RETRY_HOURS) since the first attempt, as the record says.
    long_ago = iso(utcnow() - timedelta(hours=6, seconds=1))
    store_for(get_settings()).update(request_id, lambda r: r.with_changes(utcnow(), first_attempt_at=long_ago))
    redeliver(app, request_id)
    body = record(app, request_id)
    assert (body["status"], body["attempts"], body["error_code"]) == ("dead_lettered", 2, 20429)
    assert body["reason"].startswith("retry budget spent (6 h since the first attempt, 2 attempt(s)); last error:")
    assert body["events"][-1]["kind"] == "dead_lettered"
    assert twilio.created("calls") == []


def test_a_copy_of_a_waiting_message_does_nothing(app, twilio: TwilioEmulator) -> None:
    """The host redelivered the original after the message was put back: copies must not multiply."""
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "wait for it"}
    twilio.faults.add("messages", status=429, times=1)
    deliver(app, message, message_id="original")
    before = record(app, request_id)
    deliver(app, message, message_id="original", dequeue_count=2)  # due later, carried by another message
    assert record(app, request_id) == before
    assert len(twilio.attempts("messages")) == 1
    redeliver(app, request_id)
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("messages")) == 1


def test_the_host_poison_queue_still_buries_a_waiting_record(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Hi"}
    twilio.faults.add("calls", status=429, times=1)
    deliver(app, message)
    take_deferred(request_id)  # lost with its host, say; the original ends in the poison queue
    deliver(app, json.dumps(message), queue="outbound-poison")
    body = record(app, request_id)
    assert (body["status"], body["attempts"], body["error_code"]) == ("dead_lettered", 1, 20429)
    assert body["reason"].startswith("dead-lettered after 1 attempt(s); last error:")
    assert twilio.created("calls") == []


def test_a_forged_poison_message_does_not_bury_another_producers_request(app, twilio: TwilioEmulator) -> None:
    """Issue 20 point 4: a message on outbound-poison naming a pending request's id dead-lettered it.

    Only the message the record was claimed with (the same content) may bury it; another is an id conflict.
    """
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "your code is 1234"}
    twilio.faults.add("messages", status=429, times=1)
    deliver(app, message)
    before = record(app, request_id)
    assert before["status"] == "retrying"
    forged = {"type": "sms", "id": request_id, "to": TO, "body": "anything else"}
    deliver(app, json.dumps(forged), queue="outbound-poison")
    after = record(app, request_id)
    assert after["status"] == "retrying"
    assert [event["kind"] for event in after["events"]][-1] == "id_conflict"
    redeliver(app, request_id)  # the real message still goes out when it comes up
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("messages")) == 1


def test_poison_finds_the_record_of_a_message_without_an_id(app, twilio: TwilioEmulator) -> None:
    raw = json.dumps({"type": "sms", "to": TO, "body": f"no id {new_id()}"})
    original_id = new_id()
    twilio.faults.add("messages", status=429, times=1)
    deliver(app, raw, message_id=original_id)
    put_back = take_deferred(original_id)
    assert json.loads(put_back.get_body())["id"] == original_id  # the next hop finds the same record
    deliver(app, raw, message_id="poison-copy-id", queue="outbound-poison")  # the poison copy gets a new id
    assert record(app, original_id)["status"] == "dead_lettered"
    assert get_record(app, "poison-copy-id")[0] == 404


def test_poison_of_a_message_never_seen_creates_a_final_record(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi"}, queue="outbound-poison")
    body = record(app, request_id)
    assert body["status"] == "dead_lettered"
    poison_id = new_id()
    deliver(app, "garbage", message_id=poison_id, queue="outbound-poison")
    body = record(app, poison_id)
    assert (body["status"], body["raw"]) == ("rejected", "garbage")
    assert twilio.attempts("calls") == []


def test_a_sent_record_is_left_alone_by_poison(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Hi"}
    deliver(app, message)
    deliver(app, json.dumps(message), queue="outbound-poison")
    assert record(app, request_id)["status"] == "queued"


def test_a_lost_answer_is_reconciled_and_not_sent_again(app, twilio: TwilioEmulator) -> None:
    """Twilio created the call but the answer came after our read timeout."""
    request_id = new_id()
    twilio.faults.add("calls", slow=2.0, times=1)
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi"})  # adopts, no raise
    [sid] = twilio.resources("calls")
    body = record(app, request_id)
    assert (body["status"], body["sid"], body["attempts"]) == ("queued", sid, 1)
    assert [event["kind"] for event in body["events"]] == ["reconciled"]
    assert len(twilio.attempts("calls")) == 1


def test_a_dropped_connection_with_nothing_at_twilio_is_retried(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "dropped"}
    twilio.faults.add("messages", drop=True, times=1)
    deliver(app, message)
    body = record(app, request_id)
    assert (body["status"], body["sid"]) == ("retrying", None)
    redeliver(app, request_id)
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("messages")) == 1


def test_an_ambiguous_answer_with_two_candidates_is_unknown(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    body_text = f"same text {new_id()}"
    # Someone else (outside this app) sent the very same text a moment ago.
    from switchboard.adapters.twilio_client import get_client

    get_client(get_settings()).messages.create(to=TO, from_=PHONE_NUMBER, body=body_text)
    twilio.faults.add("messages", slow=2.0, times=1)
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": body_text})
    body = record(app, request_id)
    assert (body["status"], body["sid"]) == ("unknown", None)
    assert "2 possible matches" in body["reason"]
    assert len(twilio.created("messages")) == 2  # nothing more was sent


def _stale_sending(request_id: str) -> None:
    """Leave the record as a worker that died mid-attempt would: `sending`, long ago."""
    from switchboard.functions.glue_records import store_for

    store = store_for(get_settings())
    long_ago = utcnow() - timedelta(minutes=5)

    def died(current):
        return current.with_changes(
            long_ago, status="sending", attempts=1, attempt_started_at=iso(long_ago), retry_at=None
        )

    store.update(request_id, died)


def test_a_redelivery_after_a_worker_died_mid_attempt_is_unknown_and_never_resent(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Hi"}
    twilio.faults.add("calls", status=429, times=1)
    deliver(app, message)
    _stale_sending(request_id)
    deliver(app, message, dequeue_count=2)
    body = record(app, request_id)
    assert body["status"] == "unknown"
    assert "interrupted" in body["reason"]
    assert twilio.created("calls") == []
    deliver(app, message, dequeue_count=3)
    redeliver(app, request_id)  # the message the first attempt put back: it finds the record final
    assert len(twilio.attempts("calls")) == 1


def test_a_worker_that_died_after_twilio_accepted_is_reconciled(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": f"died {request_id}"}
    twilio.faults.add("messages", status=429, times=1)
    deliver(app, message)
    from switchboard.adapters.twilio_client import get_client

    sent = get_client(get_settings()).messages.create(to=TO, from_=PHONE_NUMBER, body=message["body"])
    _stale_sending(request_id)
    deliver(app, message, dequeue_count=2)
    body = record(app, request_id)
    assert (body["status"], body["sid"]) == ("queued", sent.sid)
    redeliver(app, request_id)
    assert len(twilio.created("messages")) == 1


def test_a_redelivery_while_an_attempt_may_still_run_waits(app, twilio: TwilioEmulator, monkeypatch) -> None:
    """It looks again after the attempt's in-flight window through a copy on the queue, spending no dequeue."""
    import switchboard.functions.outbound as shell
    from switchboard.functions.glue_records import store_for

    real, copies = shell.requeue, []

    def requeue(body: str, delay_seconds: int) -> str:
        copies.append((json.loads(body)["id"], delay_seconds))
        return real(body, delay_seconds)

    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Hi"}
    twilio.faults.add("calls", status=429, times=1)
    deliver(app, message)
    take_deferred(request_id)  # another worker took it and is sending now:
    now = utcnow()
    store_for(get_settings()).update(
        request_id, lambda r: r.with_changes(now, status="sending", attempt_started_at=iso(now), retry_at=None)
    )
    monkeypatch.setattr(shell, "requeue", requeue)
    deliver(app, message, dequeue_count=2)  # completes: no exception, so the host counts no failed dequeue
    assert record(app, request_id)["status"] == "sending"  # the other attempt's record, untouched
    from switchboard.outbound.worker import OUTCOME_PATIENCE_SECONDS

    window = 2 * get_settings().twilio_timeout_seconds + 5 + OUTCOME_PATIENCE_SECONDS
    [(copied, delay)] = copies
    assert copied == request_id
    assert window - 2 <= delay <= window + 2
    assert twilio.created("calls") == []


def test_twilio_unreachable_is_transient(app, twilio: TwilioEmulator, configure) -> None:
    from tools.localmachine import free_port

    configure(TWILIO_API_BASE_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "hi"})
    body = record(app, request_id)
    assert (body["status"], body["attempts"], body["hops"]) == ("retrying", 1, 1)
    assert "could not connect" in body["error_message"]
    take_deferred(request_id)


def test_sms_to_an_opted_out_number_is_rejected(app, twilio: TwilioEmulator) -> None:
    from tests.support import post_signed

    number = "+1555" + new_id()[-7:].translate(str.maketrans("abcdef", "123456"))
    sms_url = f"{PUBLIC_BASE_URL}/api/sms/incoming"
    inbound = {"MessageSid": "SM" + "c" * 32, "From": number, "To": PHONE_NUMBER, "Body": "STOP"}
    assert post_signed(app, "sms_incoming", sms_url, inbound).status_code == 200

    stopped = new_id()
    deliver(app, {"type": "sms", "id": stopped, "to": number, "body": "promo"})
    body = record(app, stopped)
    assert (body["status"], body["reason"]) == ("rejected", "opted_out")
    assert twilio.attempts("messages") == []

    # Calls are not SMS: the opt-out does not stop them.
    call_id = new_id()
    deliver(app, {"type": "call", "id": call_id, "to": number, "say": "Hi"})
    assert record(app, call_id)["status"] == "queued"

    restart = {**inbound, "MessageSid": "SM" + "d" * 32, "Body": "start"}
    assert post_signed(app, "sms_incoming", sms_url, restart).status_code == 200
    again = new_id()
    deliver(app, {"type": "sms", "id": again, "to": number, "body": "welcome back"})
    assert record(app, again)["status"] == "queued"


def test_base64_is_the_producers_job(app, twilio: TwilioEmulator) -> None:
    """The host decodes base64 before the function runs; the function sees JSON bytes."""
    encoded = base64.b64encode(b'{"type":"call","to":"+15558675310","say":"Hello world."}')
    message_id = new_id()
    deliver(app, encoded, message_id=message_id)  # as if the host had not decoded it
    assert record(app, message_id)["status"] == "rejected"


def test_after_a_lost_answer_twilio_is_asked_again_before_the_retry(app, twilio: TwilioEmulator) -> None:
    """Twilio can finish a slow create after we first looked: the retry looks again and adopts it."""
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": f"late {request_id}"}
    twilio.faults.add("messages", drop=True, times=1)
    deliver(app, message)
    assert record(app, request_id)["status"] == "retrying"
    from switchboard.adapters.twilio_client import get_client

    late = get_client(get_settings()).messages.create(to=TO, from_=PHONE_NUMBER, body=message["body"])
    redeliver(app, request_id)
    body = record(app, request_id)
    assert (body["status"], body["sid"], body["attempts"]) == ("queued", late.sid, 1)
    assert len(twilio.created("messages")) == 1


def test_parallel_copies_of_one_message_send_once(app, twilio: TwilioEmulator, configure) -> None:
    """Four copies at once, the first create held in flight at Twilio until the other three have finished.

    The hold is an event, not a sleep: however slow the machine, the copies meet an attempt in flight, and
    the held create never runs into the client's timeout (which would make it ambiguous, another test's case).
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from itertools import islice

    configure(TWILIO_TIMEOUT_SECONDS="30")
    request_id = new_id()
    message = {"type": "call", "id": request_id, "to": TO, "say": "Only once"}
    released = threading.Event()
    twilio.faults.add("calls", hold=released, times=1)

    def run(count: int) -> str:
        try:
            deliver(app, message, message_id=f"copy-{count}")
        except TransientSendError:
            return "retry later"
        return "done"

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(run, count) for count in range(4)]
        try:
            losers = list(islice(as_completed(futures, timeout=60), 3))  # while the winner's create is held
            assert record(app, request_id)["status"] == "sending"  # they met an attempt in flight
        finally:
            released.set()
        outcomes = [future.result(timeout=60) for future in futures]
    assert [loser.result() for loser in losers] == ["done"] * 3  # each put a copy back to look again later
    assert len(twilio.attempts("calls")) == 1
    assert outcomes == ["done"] * 4
    assert record(app, request_id)["status"] == "queued"
    for count in range(4):  # the retries find the SID and do nothing
        deliver(app, message, message_id=f"copy-{count}", dequeue_count=2)
    assert len(twilio.attempts("calls")) == 1
    assert record(app, request_id)["status"] == "queued"


def _requeue_failing(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The worker's queue port refuses `times` times as an unreachable account does, then works."""
    from azure.core.exceptions import ServiceRequestError

    import switchboard.functions.outbound as shell

    real, refused = shell.requeue, [0]

    def requeue(body: str, delay_seconds: int) -> str:
        if refused[0] < times:
            refused[0] += 1
            raise ServiceRequestError("connection refused")
        return real(body, delay_seconds)

    monkeypatch.setattr(shell, "requeue", requeue)
    return refused


def test_a_refusal_is_kept_through_a_short_storage_outage(app, twilio: TwilioEmulator, monkeypatch) -> None:
    """Twilio answered 429 (not taken), then storage failed twice: the record still says so, not `sending`.

    Left `sending`, a redelivery would take the attempt for interrupted and mark it `unknown`, never sent
    (the small chaos run's storm overlapping its outage found this).
    """
    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": TO, "body": "outage"}
    twilio.faults.add("messages", status=429, times=1)
    refused = _requeue_failing(monkeypatch, times=2)
    deliver(app, message)  # completes: the third try put it back
    assert refused == [2]
    body = record(app, request_id)
    assert (body["status"], body["error_code"], body["attempts"]) == ("retrying", 20429, 1)
    redeliver(app, request_id)
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("messages")) == 1


def test_an_ambiguous_answer_asks_twilio_once_through_a_storage_outage(
    app, twilio: TwilioEmulator, monkeypatch, caplog
) -> None:
    """A 500 (nothing created), then storage failed twice putting the message back: only the writes are tried
    again. Twilio is asked what it has once, and the 500 is logged once."""
    request_id = new_id()
    twilio.faults.add("messages", status=500, times=1)
    refused = _requeue_failing(monkeypatch, times=2)
    with caplog.at_level(logging.INFO, logger="switchboard"):
        deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "ambiguous outage"})
    assert refused == [2]
    assert twilio.lists("messages") == 1
    assert sum(f"Reconciled {request_id}" in r.getMessage() for r in caplog.records) == 1
    body = record(app, request_id)
    assert (body["status"], body["attempts"]) == ("retrying", 1)
    redeliver(app, request_id)  # asked again before this attempt, as promised; then sent once
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("messages")) == 1


def test_an_outage_longer_than_the_in_flight_window_still_raises(
    app, twilio: TwilioEmulator, monkeypatch, configure
) -> None:
    """Patience is bounded: storage that stays away makes the invocation fail for the host to retry."""
    from azure.core.exceptions import ServiceRequestError

    from switchboard.outbound import worker

    configure(TWILIO_TIMEOUT_SECONDS="1")
    monkeypatch.setattr(worker, "OUTCOME_PATIENCE_SECONDS", 2)  # window 2 * 1 + 5 + 2 s: patience ends near 7 s
    request_id = new_id()
    twilio.faults.add("messages", status=429, times=1)
    refused = _requeue_failing(monkeypatch, times=100)
    with pytest.raises(ServiceRequestError):
        deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "long outage"})
    assert 2 <= refused[0] <= worker.OUTCOME_TRIES
    assert record(app, request_id)["status"] == "sending"


def test_a_call_pointed_at_the_apps_voicemail_twimlet_never_reaches_twilio(app, twilio: TwilioEmulator) -> None:
    """Producer TwiML or a call's url may not configure the app's own twimlets (issue 20): here the
    voicemail twimlet, which would e-mail the call's recording to the producer's `Email`."""
    request_id = new_id()
    evil = f"{PUBLIC_BASE_URL}/api/twiml/voicemail?Email=someone%40elsewhere.example"
    for message in (
        {"type": "call", "id": request_id, "to": TO, "url": evil},
        {"type": "call", "id": new_id(), "to": TO, "twiml": f"<Response><Redirect>{evil}</Redirect></Response>"},
    ):
        deliver(app, message)
        body = record(app, message["id"])
        assert body["status"] == "rejected"
        assert "twimlet 'voicemail'" in body["reason"]
    assert twilio.attempts("calls") == []
    fine = {"type": "call", "id": new_id(), "to": TO, "url": f"{PUBLIC_BASE_URL}/api/twiml/message?Message=Hi"}
    deliver(app, fine)
    assert record(app, fine["id"])["status"] == "queued"
