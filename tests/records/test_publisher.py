"""Publishing the outbox (issue 24): a write's events to a real (Azurite) queue, base64 as a queue trigger reads
them, read back and acknowledged with switchboard.client; a missing queue keeps the rows for the republish timer;
Event Grid gets one CloudEvents batch with a bearer token; opt-out changes carry their event in their transaction."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest

from switchboard import client
from switchboard.adapters.events import BATCH_CONTENT_TYPE, EVENT_GRID_SCOPE, EventGridError, EventGridSink, QueueSink
from switchboard.records.model import Record, iso, record_partition
from switchboard.records.outbox import parse_event
from switchboard.records.publisher import publish, republish
from switchboard.records.store import RecordStore, outbox_journal
from tests.support import serving

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
CUSTOMER = "+15558670601"


def outbound(record_id: str, status: str = "sending", **extra: Any) -> Record:
    return Record(id=record_id, type="sms", direction="outbound", status=status, created_at=iso(NOW),
                  updated_at=iso(NOW), to=CUSTOMER, from_="+15005550006", body="secret text", **extra)  # fmt: skip


def finish(store: RecordStore, record_id: str, status: str, **changes: Any) -> None:
    store.update(record_id, lambda current: current.with_changes(NOW, status=status, **changes))


def outbox(store: RecordStore, partition: str, *, optouts: bool = False) -> list[str]:
    return [str(row["RowKey"]) for row in store.outbox_rows(partition, optouts=optouts)]


@pytest.fixture
def events_queue(azurite: str) -> Iterator[str]:
    name = "events-" + uuid.uuid4().hex[:10]
    client.events_queue(azurite, queue_name=name).create_queue()
    yield name
    client.events_queue(azurite, queue_name=name).delete_queue()


def test_a_final_status_is_published_to_the_queue_base64_and_read_back_with_the_client(
    azurite_store: RecordStore, azurite: str, events_queue: str
) -> None:
    store = azurite_store
    store.insert(outbound("p1"))
    with outbox_journal() as written:
        finish(store, "p1", "undelivered", error_code=30006)
    assert [row.row["RowKey"] for row in written] == ["outbox:000005"]
    assert publish(store, written, [QueueSink(events_queue)], include_body=False) == 1
    assert outbox(store, record_partition("p1")) == []  # sent: its row is gone
    from azure.storage.queue import QueueClient

    with QueueClient.from_connection_string(azurite, events_queue) as raw:  # no decode policy: the wire's text
        peeked = raw.peek_messages()[0].content
    assert json.loads(base64.b64decode(peeked))["id"] == "p1:undelivered"  # base64 on the wire, as a trigger reads
    events = client.receive_events(client.events_queue(azurite, queue_name=events_queue))
    assert [(e.id, e.type, e.subject, e.sequence) for e in events] == [
        ("p1:undelivered", "switchboard.message.undelivered", CUSTOMER, "000005")]  # fmt: skip
    assert events[0].data["error_reason"] == "landline or unreachable carrier"
    assert "body" not in events[0].data  # EVENTS_INCLUDE_BODY=false
    events[0].ack()
    assert client.receive_events(client.events_queue(azurite, queue_name=events_queue)) == []


def test_a_missing_queue_keeps_the_rows_until_the_republish_timer_finds_it(
    azurite_store: RecordStore, azurite: str
) -> None:
    store = azurite_store
    name = "events-" + uuid.uuid4().hex[:10]  # not created yet: the queue is "down"
    sink = QueueSink(name)
    store.insert(outbound("p2"))
    store.insert(outbound("p3", status="rejected", reason="opted_out"))  # born final: its event rides with it
    with outbox_journal() as written:
        finish(store, "p2", "delivered")
    with pytest.raises(Exception, match=r"QueueNotFound|queue"):
        publish(store, written, [sink], include_body=True)
    assert outbox(store, record_partition("p2")) == ["outbox:000005"]
    assert republish(store, [sink], NOW + timedelta(seconds=5), include_body=True).sent == 0  # within the grace
    summary = republish(store, [sink], NOW + timedelta(minutes=1), include_body=True)
    assert (summary.sent, summary.failed) == (0, 2)  # still down: both partitions kept
    client.events_queue(azurite, queue_name=name).create_queue()
    try:
        assert republish(store, [sink], NOW + timedelta(minutes=2), include_body=True).sent == 2
        assert republish(store, [sink], NOW + timedelta(minutes=3), include_body=True).sent == 0  # nothing twice
        ids = sorted(e.id for e in client.receive_events(client.events_queue(azurite, queue_name=name)))
        assert ids == ["p2:delivered", "p3:rejected"]
    finally:
        client.events_queue(azurite, queue_name=name).delete_queue()


def test_republish_is_bounded_per_run_and_keeps_one_records_order(twin_store: RecordStore) -> None:
    sent: list[str] = []

    class Sink:
        name = "list"

        def send(self, events: Any) -> None:
            sent.extend(json.loads(event)["id"] for event in events)

    store = twin_store
    for index in range(5):
        store.insert(outbound(f"b{index}", status="failed"))
    finish_read = outbound("b9", sid="SM" + "9" * 32, status="sent")
    store.insert(finish_read)
    finish(store, "b9", "delivered")
    finish(store, "b9", "read")
    later = NOW + timedelta(minutes=1)
    assert republish(store, [Sink()], later, include_body=True, max_rows=3).stopped_early
    assert len(sent) == 3
    republish(store, [Sink()], later, include_body=True)
    assert sorted(sent) == sorted([f"b{i}:failed" for i in range(5)] + ["b9:delivered", "b9:read"])
    assert sent.index("b9:delivered") < sent.index("b9:read")  # one record's events in sequence order


def test_an_opt_out_change_writes_its_event_in_the_opt_out_rows_transaction(twin: Any, twin_store: RecordStore) -> None:
    store = twin_store
    twin.requests.clear()
    with outbox_journal() as written:
        assert store.set_opt_out(CUSTOMER, True, keyword="STOP", via="+15005550006", now=NOW, message_sid="SM1")
    assert twin.requests == ["get_entity optouts", "submit_transaction optouts"]  # the row and its event together
    assert store.is_opted_out(CUSTOMER)
    event = parse_event(written[0].row["event"])
    assert written[0].optouts
    assert (event["id"], event["type"], event["subject"]) == ("SM1:optout.added", "switchboard.optout.added", CUSTOMER)
    assert event["data"] | {"updated_at": None} == {"id": "SM1", "number": CUSTOMER, "opted_out": True, "body": "STOP",
                                                    "via": "+15005550006", "updated_at": None}  # fmt: skip
    # The same state again is no change: no event. Opting back in is.
    assert not store.set_opt_out(CUSTOMER, True, keyword="STOP", via=None, now=NOW + timedelta(seconds=1))
    assert store.set_opt_out(CUSTOMER, False, keyword="START", via=None, now=NOW + timedelta(seconds=2),
                             message_sid="SM2")  # fmt: skip
    rows = store.outbox_rows(CUSTOMER, optouts=True)
    assert [parse_event(row["event"])["id"] for row in rows] == ["SM1:optout.added", "SM2:optout.removed"]
    store.delete_opt_out(CUSTOMER)  # erasure: the events naming the number go with its opt-out
    assert store.outbox_rows(CUSTOMER, optouts=True) == []


def test_an_inbound_stop_publishes_its_arrival_and_its_opt_out(twin_store: RecordStore) -> None:
    from switchboard.records.callbacks import record_inbound_message

    form = {"MessageSid": "SM" + "a" * 32, "From": CUSTOMER, "To": "+15005550006", "Body": "ARRET",
            "OptOutType": "STOP"}  # fmt: skip
    with outbox_journal() as written:
        record_inbound_message(twin_store, form, NOW)
    ids = sorted(parse_event(item.row["event"])["id"] for item in written)
    assert ids == ["SM" + "a" * 32 + ":optout.added", "SM" + "a" * 32 + ":received"]
    with outbox_journal() as replayed:
        record_inbound_message(twin_store, form, NOW + timedelta(seconds=1))
    assert replayed == []  # a replay writes no event


class Posted(NamedTuple):
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def grid() -> Iterator[tuple[str, list[Posted], list[int]]]:
    """A stand-in Event Grid endpoint on 127.0.0.1 (plain HTTP: the setting insists on https, the sink does not)."""
    posted: list[Posted] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.append(Posted(dict(self.headers), body))
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}/api/events", posted, answers


class StaticToken:
    """Entra ID has no local stand-in: a credential that hands out one fixed token and records the scopes asked."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> Any:
        self.scopes.extend(scopes)
        from azure.core.credentials import AccessToken

        return AccessToken("test-token", 0)


def test_event_grid_gets_one_cloudevents_batch_with_a_bearer_token(
    twin_store: RecordStore, grid: tuple[str, list[Posted], list[int]]
) -> None:
    endpoint, posted, answers = grid
    credential = StaticToken()
    sink = EventGridSink(endpoint, credential)
    store = twin_store
    store.insert(outbound("g1", sid="SM" + "1" * 32, status="sent"))
    with outbox_journal() as written:
        finish(store, "g1", "delivered")
        finish(store, "g1", "read")
    assert publish(store, written, [sink], include_body=True) == 2
    assert credential.scopes == [EVENT_GRID_SCOPE]
    headers, body = posted[0]
    assert headers["Authorization"] == "Bearer test-token"
    assert headers["Content-Type"] == BATCH_CONTENT_TYPE
    assert [event["id"] for event in json.loads(body)] == ["g1:delivered", "g1:read"]
    store.insert(outbound("g2", status="sent", sid="SM" + "2" * 32))
    answers.append(401)
    with outbox_journal() as failing:
        finish(store, "g2", "failed")
    with pytest.raises(EventGridError, match="401"):
        publish(store, failing, [sink], include_body=True)
    assert outbox(store, record_partition("g2")) == ["outbox:000005"]  # kept for the timer
    sink.session.close()


def test_the_events_republish_timer_sends_what_a_write_could_not(
    app, azurite: str, configure, events_queue: str
) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings
    from tests.support import function

    mark = uuid.uuid4().hex[:8]
    configure(RECORDS_TABLE=f"rec{mark}", OPTOUTS_TABLE=f"opt{mark}", EVENTS_QUEUE=events_queue)
    store = store_for(get_settings())
    store.insert(outbound("t1", status="rejected", reason="opted_out"))  # its change happened long ago: due
    store.set_opt_out(CUSTOMER, True, keyword="STOP", via=None, now=NOW, message_sid="SMt")
    from tools.devhost.index import timers_of

    schedules = {timer.name: timer.schedule for timer in timers_of(app)}
    assert schedules["events_republish"] == "30 * * * * *"  # every minute
    assert function(app, "events_republish")(None) is None
    events = client.receive_events(client.events_queue(azurite, queue_name=events_queue))
    assert sorted(event.id for event in events) == ["SMt:optout.added", "t1:rejected"]
    assert store.outbox_rows(record_partition("t1")) == []
    assert store.outbox_rows(CUSTOMER, optouts=True) == []
