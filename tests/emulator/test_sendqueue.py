"""The emulator's send queues, as Twilio's: per-sender message rate, account call rate, 21611 and 22005.

The rules with a fake clock; then over HTTP with the real twilio SDK, with the simulator playing what
leaves the queue."""

from __future__ import annotations

import time

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import get_settings
from tools.emulator.progress import Simulator
from tools.emulator.resources import TwilioError
from tools.emulator.rest import TwilioEmulator
from tools.emulator.sendqueue import Later, SendPacing, SendQueues

TO, FROM, OTHER = "+15558675310", "+15005550006", "+15558675399"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_messages_leave_at_the_senders_rate_and_a_long_one_takes_its_segments() -> None:
    clock = Clock()
    queues = SendQueues(SendPacing(message_rate=2), clock)
    assert [queues.admit("messages", FROM) for _ in range(3)] == [1000.0, 1000.5, 1001.0]
    assert queues.admit("messages", FROM, segments=3) == 1001.5
    assert queues.admit("messages", FROM) == 1003.0  # the 3 segments took 1.5 s
    assert queues.admit("messages", OTHER) == 1000.0  # another sender has its own queue


def test_past_the_senders_queue_limit_a_create_is_refused_with_21611() -> None:
    clock = Clock()
    queues = SendQueues(SendPacing(message_rate=1, message_queue_limit=2), clock)
    queues.admit("messages", FROM)  # leaves at once: not queued
    queues.admit("messages", FROM)
    queues.admit("messages", FROM)
    with pytest.raises(TwilioError) as refused:
        queues.admit("messages", FROM)
    assert (refused.value.status, refused.value.code) == (400, 21611)
    assert queues.refused["21611"] == 1
    clock.now += 1.5  # one left the queue: room again
    assert queues.admit("messages", FROM) == 1003.0


def test_the_default_queue_limit_is_four_hours_of_sending() -> None:
    clock = Clock()
    queues = SendQueues(SendPacing(message_rate=0.01), clock)  # 144 segments in 4 hours
    for _ in range(145):
        queues.admit("messages", FROM)
    with pytest.raises(TwilioError, match="maximum number of queued messages"):
        queues.admit("messages", FROM)


def test_calls_leave_at_the_accounts_rate_and_past_24_hours_queued_get_22005() -> None:
    clock = Clock()
    queues = SendQueues(SendPacing(call_rate=0.001), clock)  # 1000 s per call: 86.4 calls fill 24 hours
    slots = [queues.admit("calls", FROM) for _ in range(88)]
    assert slots[:3] == [1000.0, 2000.0, 3000.0]
    with pytest.raises(TwilioError) as refused:
        queues.admit("calls", OTHER)  # one queue for the account, whatever the caller ID
    assert (refused.value.status, refused.value.code) == (400, 22005)


def test_without_a_rate_nothing_waits() -> None:
    queues = SendQueues(None, Clock())
    assert {queues.admit("messages", FROM) for _ in range(50)} == {1000.0}


def test_later_runs_work_in_time_order_and_stops_cleanly() -> None:
    later, ran = Later(), []
    start = time.time()
    later.at(start + 0.2, lambda: ran.append("b"))
    later.at(start + 0.05, lambda: ran.append("a"))
    deadline = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ran == ["a", "b"]
    later.at(time.time() + 60, lambda: ran.append("never"))
    assert later.pending == 1
    later.stop()
    assert later.pending == 0


@pytest.fixture
def emulator(start_emulator) -> TwilioEmulator:
    return start_emulator(timeout=2)


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return build_client(get_settings())


def test_over_http_a_message_stays_queued_until_its_slot_and_21611_past_the_limit(
    client: Client, emulator: TwilioEmulator
) -> None:
    emulator.send_queues.pacing = SendPacing(message_rate=2, message_queue_limit=2)
    with Simulator(emulator) as simulator:
        sids = [client.messages.create(to=TO, from_=FROM, body=f"m{index}").sid for index in range(3)]
        with pytest.raises(TwilioRestException) as refused:
            client.messages.create(to=TO, from_=FROM, body="one too many")
        assert (refused.value.status, refused.value.code) == (400, 21611)
        assert client.messages.create(to=TO, from_=OTHER, body="another sender").status == "queued"
        # The last one leaves its queue a second after the first: until then Twilio shows it queued.
        assert client.messages(sids[2]).fetch().status == "queued"
        assert simulator.wait_idle(timeout=10)
        assert [client.messages(sid).fetch().status for sid in sids] == ["delivered"] * 3
    slots = [emulator.slot_of(sid) or 0.0 for sid in sids]
    assert slots[1] - slots[0] == pytest.approx(0.5)
    assert slots[2] - slots[1] == pytest.approx(0.5)
    assert len(emulator.created("messages")) == 4
    assert emulator.send_queues.refused["21611"] == 1


def test_over_http_a_call_waits_for_the_accounts_rate_and_reports_its_queue_time(
    client: Client, emulator: TwilioEmulator
) -> None:
    emulator.send_queues.pacing = SendPacing(call_rate=1)
    twiml = "<Response><Say>Hi</Say></Response>"
    with Simulator(emulator) as simulator:
        first = client.calls.create(to=TO, from_=FROM, twiml=twiml)
        second = client.calls.create(to=TO, from_=FROM, twiml=twiml)
        assert second.status == "queued"
        time.sleep(0.3)
        assert client.calls(second.sid).fetch().status == "queued"  # not placed before its slot
        assert simulator.wait_idle(timeout=10)
        placed = client.calls(second.sid).fetch()
        assert placed.status == "completed"
        assert 600 <= int(placed.queue_time) <= 2000
        assert int(client.calls(first.sid).fetch().queue_time) == 0
