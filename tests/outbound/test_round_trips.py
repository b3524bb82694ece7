"""The storage cost of the outbound path and of inbound webhooks, and the id-conflict rule, on Azurite
with the real SDKs over HTTP.

Round trips are counted from the HTTP requests the SDKs send (both send through requests.Session), in
order, so that what happens before Twilio's answer returns is told apart from what follows it. The
records store sends independent requests (index rows, each in its own partition) at once through
`store.concurrently`: those count as one sequential round trip, which is what a caller waits for.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from switchboard.records import store as records_store
from tests.outbound.conftest import callback, deliver, new_id, one, record, redeliver
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL, post_signed
from tools.emulator.rest import TwilioEmulator

TO = "+15558675310"
# 7 for an SMS (8 without an id, for the fingerprint row), plus the pace meter's claim (one write of its cached row).
MAX_TABLE_ROUND_TRIPS = 9
MAX_BEFORE_POST = 5


@dataclass
class Trips:
    table_port: int
    twilio_port: int
    table: list[str] = field(default_factory=list)  # method and path, in order
    before_post: int | None = None  # table requests sent before the first Twilio POST returned
    batch: int | None = None  # the `concurrently` call under way, if any
    batches: list[int | None] = field(default_factory=list)  # per table request: the batch it went in

    def seen(self, method: str, url: str, finished: bool) -> None:
        port = urlsplit(url).port
        if port == self.table_port and not finished:
            self.table.append(f"{method} {urlsplit(url).path}")
            self.batches.append(self.batch)
        elif port == self.twilio_port and method == "POST" and finished and self.before_post is None:
            self.before_post = len(self.table)

    @property
    def sequential(self) -> int:
        """Round trips one after the other: each request on its own, each batch sent at once as one."""
        return sum(batch is None for batch in self.batches) + len({b for b in self.batches if b is not None})


@contextlib.contextmanager
def counting(azurite: str, twilio: TwilioEmulator | None = None) -> Iterator[Trips]:
    import requests

    table_port = int(re.search(r"TableEndpoint=http://[^:]+:(\d+)", azurite)[1])
    trips = Trips(table_port, urlsplit(twilio.base_url).port or 0 if twilio else 0)
    original, batched = requests.Session.send, records_store.concurrently
    count = iter(range(1_000))

    def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
        trips.seen(request.method, request.url, finished=False)
        try:
            return original(session, request, **kwargs)
        finally:
            trips.seen(request.method, request.url, finished=True)

    def concurrently(calls: Sequence[Callable[[], Any]]) -> list[Any]:
        trips.batch = next(count)  # the caller waits for the whole batch: nothing else is sent meanwhile
        try:
            return batched(calls)
        finally:
            trips.batch = None

    requests.Session.send = send  # type: ignore[method-assign,assignment]
    records_store.concurrently = concurrently
    try:
        yield trips
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
        records_store.concurrently = batched


@pytest.mark.parametrize(
    ("message", "sequential"),
    [
        ({"type": "sms", "to": TO, "body": "Your order has shipped."}, 4),
        ({"type": "call", "to": TO, "say": "Hello world."}, 3),
        ({"type": "sms", "to": TO, "body": "no id: the queue message id is used"}, 5),
    ],
    ids=["sms", "call", "sms-without-id"],
)
def test_one_message_costs_at_most_9_table_round_trips_5_before_the_post(
    app, azurite: str, twilio: TwilioEmulator, message: dict[str, str], sequential: int
) -> None:
    """Before the POST: the opt-out read (SMS), the claim, the fingerprint row (no id), the pace meter. After it,
    one round trip: the SID's index row, the record with its `sent` event, and the number and day rows, at once."""
    deliver(app, {"type": "sms", "id": new_id(), "to": TO, "body": "warm"})  # tables exist, clients built
    deliver(app, {"type": "call", "id": new_id(), "to": TO, "say": "warm"})  # the meter knows both rows
    request_id = new_id()
    number = "+1555" + str(int(request_id[-7:], 16) % 10_000_000).zfill(7)  # its own number index partition
    message = {**message, "to": number}
    given = message if "no id" in message.get("body", "") else {**message, "id": request_id}
    with counting(azurite, twilio) as trips:
        deliver(app, given, message_id=request_id)
    assert trips.before_post is not None, "the message reached Twilio"
    assert len(trips.table) <= MAX_TABLE_ROUND_TRIPS, trips.table
    assert trips.before_post <= MAX_BEFORE_POST, trips.table[: trips.before_post]
    assert trips.sequential == sequential, (trips.table, trips.batches)
    body = record(app, request_id)
    assert (body["status"], body["attempts"]) == ("queued", 1)
    assert [event["kind"] for event in body["events"]] == ["sent"]
    assert record(app, body["sid"])["id"] == request_id  # the SID index row
    assert app_records_for(app, number) == [request_id]  # the number index row


def app_records_for(app, number: str) -> list[str]:
    import json

    from tests.support import PUBLIC_BASE_URL, function, http_request

    url = f"{PUBLIC_BASE_URL}/api/records?number=%2B{number[1:]}&limit=5"
    response = function(app, "records_list")(http_request("GET", url))
    return [item["id"] for item in json.loads(response.get_body())["records"]]


def test_a_status_callback_costs_three_table_round_trips(
    app, azurite: str, twilio: TwilioEmulator, configure, queue_name: str
) -> None:
    configure(EVENTS_QUEUE=queue_name)
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "tracked"})
    sid = record(app, request_id)["sid"]
    params = {"MessageSid": sid, "MessageStatus": "delivered", "To": TO}
    with counting(azurite, twilio) as trips:
        assert callback(app, "sms", params, request_id=request_id).status_code == 200
    # Read the record; one transaction: record, event, marker and the outbox row of `switchboard.message.delivered`;
    # once the events queue has it, the outbox row deleted (issue 24).
    assert len(trips.table) == 3, trips.table
    with counting(azurite, twilio) as repeat:
        assert callback(app, "sms", params, request_id=request_id).status_code == 200
    assert len(repeat.table) == 2, repeat.table  # a repeat writes no event: nothing to publish
    body = record(app, request_id)
    assert body["status"] == "delivered"
    assert [event["kind"] for event in body["events"]] == ["sent", "callback"]


# -- inbound webhooks ------------------------------------------------------------------------------

# Before: 6 sequential requests for an SMS or a call (claim, three index rows, SID link, event), 9 for a STOP.
# Since issue 24 the arrival's event is published before the answer too: its outbox row deleted once the
# `events` queue has it (a STOP's opt-out event beside it, at once).
MAX_INBOUND_ROUND_TRIPS = 4


def inbound(kind: str) -> tuple[str, str, dict[str, str]]:
    """A signed inbound webhook of a fresh SID and sender: (function, path, form)."""
    sender = "+1555" + str(uuid.uuid4().int)[-7:]
    if kind == "call":
        return "voice_incoming", "voice/incoming", {"CallSid": "CA" + uuid.uuid4().hex, "From": sender,
                                                    "To": PHONE_NUMBER, "CallStatus": "ringing"}  # fmt: skip
    body = "STOP" if kind == "stop" else "hello"
    return "sms_incoming", "sms/incoming", {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender,
                                            "To": PHONE_NUMBER, "Body": body}  # fmt: skip


@pytest.mark.parametrize(("kind", "expected"), [("sms", (6, 3)), ("call", (6, 3)), ("stop", (10, 4))])
def test_an_inbound_webhook_costs_at_most_4_table_round_trips_before_its_answer(
    app, azurite: str, configure, queue_name: str, *, kind: str, expected: tuple[int, int]
) -> None:
    """The record and its event in one transaction, then its index rows at once (a STOP's opt-out beside them),
    then the published event's outbox row deleted."""
    configure(SMS_AUTO_REPLY="Thanks!", VOICE_GREETING="Hello.", EVENTS_QUEUE=queue_name)
    name, path, _ = inbound(kind)
    post_signed(app, name, f"{PUBLIC_BASE_URL}/api/{path}", inbound(kind)[2])  # tables exist, clients built
    form = inbound(kind)[2]
    with counting(azurite) as trips:
        assert post_signed(app, name, f"{PUBLIC_BASE_URL}/api/{path}", form).status_code == 200
    assert (len(trips.table), trips.sequential) == expected, trips.table  # (requests, sequential)
    assert trips.sequential <= MAX_INBOUND_ROUND_TRIPS
    assert trips.table[0] == "POST /devstoreaccount1/$batch"  # the record and its event, together
    sid = form.get("CallSid") or form["MessageSid"]
    body = record(app, sid)
    assert [event["kind"] for event in body["events"]] == ["incoming"]
    assert app_records_for(app, form["From"]) == [sid]  # the number index row
    with counting(azurite) as replay:
        assert post_signed(app, name, f"{PUBLIC_BASE_URL}/api/{path}", form).status_code == 200
    # A replay reads the stored record back to index it again: 3, a STOP 4 (is it applied yet?); it publishes nothing.
    assert replay.sequential == (4 if kind == "stop" else 3), replay.table
    assert [event["kind"] for event in record(app, sid)["events"]] == ["incoming"]  # a replay adds nothing
    assert app_records_for(app, form["From"]) == [sid]


def test_the_auto_reply_throttle_adds_two_round_trips_before_the_answer(
    app, azurite: str, configure, queue_name: str
) -> None:
    """Its sender's row: a read, then the write that makes this reply the one (a create, later an update)."""
    configure(SMS_AUTO_REPLY="Thanks!", SMS_AUTO_REPLY_MINUTES="10", EVENTS_QUEUE=queue_name)
    name, path, _ = inbound("sms")
    post_signed(app, name, f"{PUBLIC_BASE_URL}/api/{path}", inbound("sms")[2])  # tables exist, clients built
    with counting(azurite) as trips:
        assert post_signed(app, name, f"{PUBLIC_BASE_URL}/api/{path}", inbound("sms")[2]).status_code == 200
    assert trips.sequential == 2 + 3, trips.table  # (the 3 of test_an_inbound_webhook_costs_... above)
    assert [trip.split(" ")[0] for trip in trips.table[:2]] == ["GET", "POST"]
    assert all("/limits" in trip for trip in trips.table[:2]), trips.table


# -- id conflicts ----------------------------------------------------------------------------------


def conflict_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for event in body["events"] if event["kind"] == "id_conflict"]


def test_a_reused_id_with_other_content_is_never_sent(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    first = {"type": "sms", "id": request_id, "to": TO, "body": "the first message"}
    other = {"type": "sms", "id": request_id, "to": TO, "body": "a different message"}
    deliver(app, first)
    deliver(app, other)
    deliver(app, other, dequeue_count=2)  # a redelivery of the conflicting message adds nothing
    [created] = twilio.created("messages")
    assert one(created, "Body") == "the first message"
    body = record(app, request_id)
    assert (body["status"], body["body"], body["request"]["body"]) == (
        "queued",
        "the first message",
        "the first message",
    )
    [event] = conflict_events(body)
    assert event["detail"].startswith("id_conflict")
    assert event["status"] == "queued"
    deliver(app, first, dequeue_count=2)  # the same content again is a plain duplicate, not a conflict
    assert len(conflict_events(record(app, request_id))) == 1
    assert len(twilio.created("messages")) == 1


def test_a_reused_id_while_the_first_is_retrying_sends_only_the_first(app, twilio: TwilioEmulator) -> None:
    """The record says what Twilio was asked: the conflicting message must not ride on the first one's retry."""
    request_id = new_id()
    first = {"type": "sms", "id": request_id, "to": TO, "body": "ticket 1 is ready"}
    other = {"type": "sms", "id": request_id, "to": "+15558675311", "body": "ticket 2 is ready"}
    twilio.faults.add("messages", status=503, code=20503, times=1)
    deliver(app, first)
    assert record(app, request_id)["status"] == "retrying"
    deliver(app, other)
    assert record(app, request_id)["status"] == "retrying"
    assert len(twilio.created("messages")) == 0
    redeliver(app, request_id)
    [created] = twilio.created("messages")
    assert (one(created, "To"), one(created, "Body")) == (TO, "ticket 1 is ready")
    body = record(app, request_id)
    assert (body["status"], body["to"], body["body"]) == ("queued", TO, "ticket 1 is ready")
    [event] = conflict_events(body)
    assert "not sent" in event["detail"]


def test_a_call_under_an_sms_id_is_a_conflict(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "text first"})
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "then a call"})
    assert twilio.attempts("calls") == []
    body = record(app, request_id)
    assert (body["type"], body["status"]) == ("sms", "queued")
    assert len(conflict_events(body)) == 1


def test_id_conflicts_on_one_record_are_bounded(app, twilio: TwilioEmulator) -> None:
    """A producer reusing one id (another producer's, or an inbound record's SID) with ever new content must not
    grow that record's partition without bound: the first conflicts are events, the rest only log lines."""
    from switchboard.outbound.worker import MAX_CONFLICT_EVENTS

    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "the first message"})
    for n in range(MAX_CONFLICT_EVENTS + 5):
        deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": f"other content {n}"})
    body = record(app, request_id)
    assert len(conflict_events(body)) == MAX_CONFLICT_EVENTS
    assert (body["status"], body["body"]) == ("queued", "the first message")
    assert len(twilio.created("messages")) == 1


def test_the_default_caps_add_three_round_trips_for_a_new_recipient_and_two_after(
    app, azurite: str, twilio: TwilioEmulator, configure
) -> None:
    """Its recipient's counters: a read (not cached yet) and one transaction; the app's `all` counter: one
    transaction of the row this process wrote last. A second SMS to the recipient: one transaction each."""

    def before_post(number: str) -> int:
        request_id = new_id()
        with counting(azurite, twilio) as trips:
            deliver(app, {"type": "sms", "id": request_id, "to": number, "body": "capped"}, message_id=request_id)
        assert record(app, request_id)["status"] == "queued"
        assert trips.before_post is not None
        return trips.before_post

    deliver(app, {"type": "sms", "id": new_id(), "to": TO, "body": "warm"})
    uncapped = before_post("+1555" + str(uuid.uuid4().int)[-7:])
    configure(OUTBOUND_LIMITS=None)  # the default caps
    deliver(app, {"type": "sms", "id": new_id(), "to": TO, "body": "warm"})  # the `all` counter is cached now
    number = "+1555" + str(uuid.uuid4().int)[-7:]
    assert before_post(number) == uncapped + 3
    assert before_post(number) == uncapped + 2
