"""Issue 24, done when: over the local host, the Twilio emulator and Azurite, 30 outbound requests over the
emulator's documented magic numbers (docs/emulator.md), 5 inbound SMS and 1 voicemail produce exactly the
documented events (docs/events.md), each id once; with the `events` queue gone for the whole run, every event
waits in the outbox and arrives once the queue is back, sent by the republish timer's run.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from azure.core.exceptions import ResourceNotFoundError

from switchboard import client
from switchboard.records.publisher import REPUBLISH_GRACE
from switchboard.settings import get_settings
from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.demo import Tour, features_of
from tools.devhost.host import LocalHost
from tools.emulator.inbound import inbound_call, inbound_sms
from tools.emulator.progress import Simulator
from tools.emulator.rest import TwilioEmulator

pytestmark = pytest.mark.slow

ANYONE = "+15558675310"
# (type, to, from, how many, the final status docs/emulator.md gives it): 18 SMS and 12 calls.
OUTBOUND = [
    ("sms", ANYONE, None, 4, "delivered"),
    ("sms", "+15550100001", None, 2, "delivered"),
    ("sms", "+15550100003", None, 3, "failed"),  # ErrorCode 30008
    ("sms", "+15550100005", None, 3, "undelivered"),  # sent, then undelivered, ErrorCode 30003
    ("sms", "+15005550001", None, 2, "failed"),  # 400 21211: refused at create
    ("sms", "+15005550002", None, 1, "failed"),  # 400 21612
    ("sms", "+15005550009", None, 1, "failed"),  # 400 21614
    ("sms", "+15005550004", None, 1, "failed"),  # 400 21610: also the number's opt-out
    ("sms", ANYONE, "+15005550007", 1, "failed"),  # 400 21606: a From the account does not own
    ("call", ANYONE, None, 3, "completed"),
    ("call", "+15550100001", None, 2, "busy"),
    ("call", "+15550100002", None, 2, "no-answer"),
    ("call", "+15550100003", None, 2, "failed"),
    ("call", "+15550100005", None, 1, "completed"),
    ("call", "+15550100006", None, 1, "completed"),  # answered by a machine
    ("call", "+15005550001", None, 1, "failed"),  # 400 21211
]
FINAL = {"delivered", "undelivered", "failed", "completed", "busy", "no-answer", "canceled", "rejected",
         "dead_lettered", "unknown"}  # fmt: skip


@dataclass
class Run:
    host: LocalHost
    emulator: TwilioEmulator
    simulator: Simulator
    tour: Tour
    events_queue: str


@pytest.fixture
def run(app, azurite: str, configure) -> Iterator[Run]:
    mark = uuid.uuid4().hex[:8]
    events_queue = f"events-{mark}"
    # Tables of its own (no opt-out or record of earlier tests), no pacing or suppression in the way.
    configure(RECORDS_TABLE=f"rec{mark}", OPTOUTS_TABLE=f"opt{mark}", EVENTS_QUEUE=events_queue,
              OUTBOUND_MESSAGES_PER_SECOND="100", OUTBOUND_CALLS_PER_SECOND="100", SUPPRESS_ON_ERRORS="off",
              EVENTS_INCLUDE_BODY="false")  # fmt: skip
    with TwilioEmulator.from_settings(get_settings()) as emulator, Simulator(emulator) as simulator:
        overrides = {"visibility_timeout": 1.0, "max_polling_interval": 0.2}
        with LocalHost(app, port=0, function_keys=(FUNCTION_KEY,), config_overrides=overrides) as host:
            origin = f"http://127.0.0.1:{host.port}"
            configure(PUBLIC_BASE_URL=origin, TWILIO_API_BASE_URL=emulator.base_url)
            tour = Tour(origin, FUNCTION_KEY, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER, features_of(app),
                        say=lambda _: None)  # fmt: skip
            yield Run(host, emulator, simulator, tour, events_queue)
            simulator.wait_idle(10)
    with contextlib.suppress(ResourceNotFoundError):
        client.events_queue(azurite, queue_name=events_queue).delete_queue()


def enqueue_all(azurite: str) -> dict[str, tuple[str, str]]:
    """The 30 requests on the `outbound` queue, as another app sends them; {request id: (kind, final status)}."""
    queue = client.outbound_queue(azurite)
    expected: dict[str, tuple[str, str]] = {}
    for kind, to, sender, count, status in OUTBOUND:
        for _ in range(count):
            request_id = f"ev-{uuid.uuid4().hex[:12]}"
            if kind == "sms":
                client.send_sms(queue, to, body="Your code is 1234.", from_=sender, request_id=request_id)
            else:
                client.send_call(queue, to, say="Hello world.", from_=sender, request_id=request_id)
            expected[request_id] = ("call" if kind == "call" else "message", status)
    assert len(expected) == 30
    return expected


def wait_final(tour: Tour, record_ids: list[str], timeout: float = 90.0) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline and len(done) < len(record_ids):
        for record_id in record_ids:
            if record_id not in done:
                status, record = tour.record(record_id)
                if status == 200 and record.get("status") in FINAL:
                    done[record_id] = record
        time.sleep(0.3)
    missing = sorted(set(record_ids) - set(done))
    assert not missing, f"not final in {timeout:.0f} s: {missing}"
    return done


def test_every_change_makes_one_documented_event_and_none_is_lost_while_the_queue_is_gone(
    run: Run, azurite: str
) -> None:
    from switchboard.functions.events import republish_now
    from switchboard.functions.glue_records import store_for

    tour = run.tour
    events = client.events_queue(azurite, queue_name=run.events_queue)
    with contextlib.suppress(ResourceNotFoundError):  # the app's queue is gone for the whole run
        events.delete_queue()

    outbound = enqueue_all(azurite)
    texter, stopper = "+1555" + str(uuid.uuid4().int)[-7:], "+1555" + str(uuid.uuid4().int)[-7:]
    inbound = []
    for index, (sender, body) in enumerate([(texter, f"hello {n}") for n in range(4)] + [(stopper, "STOP")]):
        result = inbound_sms(f"{tour.origin}/api/sms/incoming", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                             to=PHONE_NUMBER, from_=sender, body=body)  # fmt: skip
        assert result.error is None, (index, result.error)
        inbound.append(result.message_sid)
    url = f"{tour.origin}/api/twiml/voicemail?" + urlencode({"Message": "Leave a message."})
    call_sid, walk = inbound_call(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER,
                                  from_=texter)  # fmt: skip
    assert walk.errors == []
    records = wait_final(tour, list(outbound))
    assert {rid: (str(r["status"])) for rid, r in records.items()} == {rid: s for rid, (_, s) in outbound.items()}
    assert run.simulator.wait_idle(30)
    voicemail = tour.record(call_sid)[1]
    assert voicemail["transcript"] == "This is a test recording."  # the emulator's scripted transcription

    expected = {f"{rid}:{status}": f"switchboard.{kind}.{status.replace('-', '_')}"
                for rid, (kind, status) in outbound.items()}  # fmt: skip
    expected |= {f"{sid}:received": "switchboard.message.received" for sid in inbound}
    expected[f"{inbound[-1]}:optout.added"] = "switchboard.optout.added"  # the STOP
    unsubscribed = next(rid for rid, record in records.items() if record.get("error_code") == 21610)
    expected[f"{unsubscribed}:optout.added"] = "switchboard.optout.added"  # Twilio's 21610
    expected[f"{call_sid}:received"] = "switchboard.call.received"
    expected[f"{call_sid}:transcribed"] = "switchboard.voicemail.transcribed"
    assert len(expected) == 30 + 5 + 2 + 2

    # Nothing reached a queue that is not there: every event waits in the outbox, in its change's partition.
    store = store_for(get_settings())
    pending = [json.loads(str(row["event"])) for optouts in (False, True) for row in store.pending_outbox(
        optouts=optouts)]  # fmt: skip
    ours = {event["id"]: event["type"] for event in pending if event["id"] in expected}
    assert ours == expected

    events.create_queue()  # back
    summary = republish_now(get_settings(), now=_later())  # the timer's run, its grace passed
    assert summary.failed == 0
    received: list[client.Event] = []
    while batch := client.receive_events(events, max_events=32):
        received += batch
        for event in batch:
            event.ack()
    arrived = [event for event in received if event.id in expected]
    assert sorted(event.id for event in arrived) == sorted(expected)  # each id once, none missing
    assert {event.id: event.type for event in arrived} == expected
    ours_ids = {*outbound, *inbound, call_sid}
    assert [e.id for e in received if e.id not in expected and e.data.get("id") in ours_ids] == []  # nothing else
    by_id = {event.id: event for event in arrived}
    assert by_id[f"{call_sid}:transcribed"].sequence > by_id[f"{call_sid}:received"].sequence
    undelivered = next(e for e in arrived if e.type == "switchboard.message.undelivered")
    assert (undelivered.data["error_code"], undelivered.data["error_reason"]) == (30003, "unreachable handset")
    assert "body" not in undelivered.data  # EVENTS_INCLUDE_BODY=false
    assert "transcript" not in by_id[f"{call_sid}:transcribed"].data
    assert by_id[f"{inbound[-1]}:optout.added"].subject == stopper
    # Sent once: the next run finds nothing pending.
    assert republish_now(get_settings(), now=_later()).sent == 0
    assert [row for optouts in (False, True) for row in store.pending_outbox(optouts=optouts)] == []


def _later() -> datetime:
    from switchboard.records.store import utcnow

    return utcnow() + REPUBLISH_GRACE + timedelta(seconds=1)
