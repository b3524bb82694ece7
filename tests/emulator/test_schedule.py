"""The emulator's Message Scheduling (ScheduleType, SendAt), ValidityPeriod and its frozen clock, over the real SDK."""

from __future__ import annotations

import datetime

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import get_settings
from tools.emulator.progress import Simulator
from tools.emulator.resources import SimClock
from tools.emulator.rest import TwilioEmulator

TO, FROM = "+15558675310", "+15005550006"
MG = "MG" + "0" * 32
NOW = datetime.datetime(2027, 1, 12, 12, 0, tzinfo=datetime.timezone.utc)
FIXED = {"messaging_service_sid": MG, "schedule_type": "fixed"}


@pytest.fixture
def emulator(start_emulator) -> TwilioEmulator:
    emulator = start_emulator(timeout=1)
    emulator.clock.freeze(NOW)
    return emulator


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return build_client(get_settings())


def test_a_frozen_clock_stands_still_and_moves_only_when_advanced() -> None:
    clock = SimClock()
    clock.freeze(NOW)
    assert clock.now() == NOW
    clock.advance_to(NOW + datetime.timedelta(days=9))
    assert clock.now() == NOW + datetime.timedelta(days=9)
    clock.advance_to(NOW)  # never back
    assert clock.now() == NOW + datetime.timedelta(days=9)
    clock.thaw()
    assert clock.now() >= NOW + datetime.timedelta(days=9)


def test_a_scheduled_message_waits_for_send_at_and_can_be_canceled_until_then(
    client: Client, emulator: TwilioEmulator
) -> None:
    send_at = NOW + datetime.timedelta(hours=2)
    message = client.messages.create(to=TO, messaging_service_sid=MG, body="later", schedule_type="fixed",
                                     send_at=send_at)  # fmt: skip
    assert message.status == "scheduled"
    assert emulator.created("messages")[0]["SendAt"] == ["2027-01-12T14:00:00Z"]
    assert emulator.resources("messages")[message.sid]["send_at"] == "2027-01-12T14:00:00Z"
    other = client.messages.create(to=TO, messaging_service_sid=MG, body="kept", schedule_type="fixed",
                                   send_at=send_at)  # fmt: skip
    assert client.messages(message.sid).update(status="canceled").status == "canceled"
    emulator.clock.advance_to(send_at - datetime.timedelta(seconds=1))
    assert emulator.release_scheduled() == []
    emulator.clock.advance_to(send_at)
    assert emulator.release_scheduled() == [other.sid]
    assert client.messages(other.sid).fetch().status == "accepted"
    assert client.messages(message.sid).fetch().status == "canceled"
    with pytest.raises(TwilioRestException) as raised:  # no longer scheduled: Twilio's 30409
        client.messages(other.sid).update(status="canceled")
    assert raised.value.code == 30409


def test_the_simulator_sends_a_scheduled_message_at_send_at_by_the_emulators_clock(emulator: TwilioEmulator) -> None:
    client = build_client(get_settings())
    with Simulator(emulator) as simulator:
        message = client.messages.create(to=TO, messaging_service_sid=MG, body="later", schedule_type="fixed",
                                         send_at=NOW + datetime.timedelta(minutes=20))  # fmt: skip
        assert simulator.wait_idle(timeout=10)
        assert client.messages(message.sid).fetch().status == "scheduled"
        emulator.clock.advance_to(NOW + datetime.timedelta(minutes=20))
        emulator.release_scheduled()
        assert simulator.wait_idle(timeout=10)
        assert client.messages(message.sid).fetch().status == "delivered"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"messaging_service_sid": MG, "schedule_type": "fixed"}, 35111),  # SendAt is missing
        ({"from_": FROM, "schedule_type": "fixed", "send_at": NOW + datetime.timedelta(hours=1)}, 35118),
        ({**FIXED, "send_at": NOW + datetime.timedelta(minutes=14)}, 35114),  # under 900 s ahead
        ({**FIXED, "send_at": NOW + datetime.timedelta(days=35, seconds=1)}, 35114),
        ({**FIXED, "send_at": "tomorrow"}, 35114),
        ({"messaging_service_sid": MG, "schedule_type": "later", "send_at": NOW + datetime.timedelta(hours=1)}, 35126),
        ({"from_": FROM, "validity_period": 36001}, 90007),
    ],
)  # fmt: skip
def test_scheduling_and_validity_errors_are_twilios(client: Client, emulator: TwilioEmulator, kwargs, code) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=TO, body="x", **kwargs)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert emulator.created("messages") == []


def test_the_edges_of_the_scheduling_window_are_inclusive(client: Client, emulator: TwilioEmulator) -> None:
    for lead in (datetime.timedelta(seconds=900), datetime.timedelta(days=35)):
        created = client.messages.create(to=TO, body="x", messaging_service_sid=MG, schedule_type="fixed",
                                         send_at=NOW + lead)  # fmt: skip
        assert created.status == "scheduled"
    assert client.messages.create(to=TO, from_=FROM, body="x", validity_period=1).status == "queued"
