"""The whole loop over real HTTP: the local host (app + queue worker), the Twilio emulator, Azurite.

The same tour `make demo` prints, run in process so that it is fast and its failures are readable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from switchboard.settings import get_settings
from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.demo import Tour, features_of, step_menu_call, step_seed_call, step_sms, step_stop
from tools.devhost.host import LocalHost
from tools.emulator.inbound import inbound_call
from tools.emulator.progress import Simulator
from tools.emulator.rest import TwilioEmulator

pytestmark = pytest.mark.slow


@dataclass
class Loop:
    tour: Tour
    emulator: TwilioEmulator
    simulator: Simulator


@pytest.fixture
def loop(app, azurite: str, configure) -> Iterator[Loop]:
    with TwilioEmulator.from_settings(get_settings()) as emulator, Simulator(emulator) as simulator:
        overrides = {"visibility_timeout": 1.0}
        with LocalHost(app, port=0, function_keys=(FUNCTION_KEY,), config_overrides=overrides) as host:
            origin = f"http://127.0.0.1:{host.port}"
            configure(PUBLIC_BASE_URL=origin, TWILIO_API_BASE_URL=emulator.base_url, SMS_AUTO_REPLY="Thanks!")
            features = features_of(app)
            # A caller of its own: the STOP it sends opts the number out for every test sharing this Azurite.
            tour = Tour(
                origin, FUNCTION_KEY, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER, features, say=lambda _: None,
                caller="+15558670199",
            )  # fmt: skip
            yield Loop(tour, emulator, simulator)
            simulator.wait_idle(10)


@pytest.fixture
def tour(loop: Loop) -> Tour:
    return loop.tour


def needs(tour: Tour, *features: str) -> None:
    missing = [f for f in features if f not in tour.features]
    if missing:
        pytest.skip(f"this build has no {', '.join(missing)}")


def test_seed_call_ends_completed_with_its_events(tour: Tour) -> None:
    needs(tour, "queue:outbound", "route:records/{id}")
    step_seed_call(tour)  # raises unless the record ends completed
    status, record = tour.record(tour.record_ids[-1])
    assert (status, record["status"], record["to"]) == (200, "completed", "+15558675310")
    assert record["sid"].startswith("CA")
    # Each signed status callback the emulator posted was accepted and kept as an event.
    statuses = [event["status"] for event in record["events"]]
    assert {"initiated", "ringing", "in-progress", "completed"} <= set(statuses)
    assert statuses[-1] == "completed"


def test_sms_ends_delivered(tour: Tour) -> None:
    needs(tour, "queue:outbound", "route:records/{id}")
    step_sms(tour)
    status, record = tour.record(tour.record_ids[-1])
    assert (status, record["status"]) == (200, "delivered")


def test_inbound_call_through_a_menu(tour: Tour) -> None:
    needs(tour, "twimlet:menu")
    step_menu_call(tour)
    assert "      Say: You chose sales. Goodbye." in tour.lines


def test_inbound_stop(tour: Tour) -> None:
    step_stop(tour)
    assert any(line.startswith("      reply: ") or "(no reply" in line for line in tour.lines)
    if "route:records/{id}" in tour.features:
        inbound = next(record_id for record_id in tour.record_ids if record_id.startswith("SM"))
        status, record = tour.record(inbound)
        assert (status, record["direction"], record["from"]) == (200, "inbound", "+15558670199")


def test_voicemail_recording_callbacks_reach_the_app_and_notify_by_sms(loop: Loop) -> None:
    tour = loop.tour
    needs(tour, "queue:outbound", "twimlet:voicemail")
    notify = "+15558670222"
    url = f"{tour.origin}/api/twiml/voicemail?" + urlencode({"Message": "Leave a message.", "NotifyNumber": notify})
    call_sid, result = inbound_call(
        url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER, from_=tour.caller
    )
    assert result.errors == []
    assert result.transcript[0] == "Say: Leave a message."
    callbacks = [(e.url.split("?")[1], e.status) for e in result.exchanges if "Stage=recording" in e.url
                 or "Stage=transcription" in e.url]  # fmt: skip
    assert callbacks
    assert all(status == 200 for _, status in callbacks)
    deadline = time.monotonic() + 30
    notices: list[dict[str, Any]] = []
    while not notices and time.monotonic() < deadline:
        notices = [m for m in loop.emulator.resources("messages").values() if m["to"] == notify]
        time.sleep(0.2)
    assert len(notices) == 1
    assert notices[0]["body"].startswith("New voicemail from")
    assert "This is a test recording." in notices[0]["body"]  # the emulator's scripted transcription
    status, record = tour.record(call_sid)  # the voicemail landed on the call's record
    assert status == 200
    assert record["recording_url"].startswith(f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE")
