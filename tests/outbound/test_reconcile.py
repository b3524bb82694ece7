"""Callbacks that cannot be written answer 503, and the reconcile timer fetches what they would have said.

Azurite tables (a fresh records table per test, so a run sees only its own records), the real SDK over
HTTP to the Twilio emulator, the functions called as the host calls them.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import timedelta

import pytest

from switchboard.records.store import utcnow
from switchboard.settings import get_settings
from tests.outbound.conftest import callback, deliver, new_id, record
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL, post_signed
from tools.emulator.rest import TwilioEmulator
from tools.localmachine import free_port

TO = "+15558675310"


@pytest.fixture
def fresh_table(configure) -> str:
    name = "rec" + uuid.uuid4().hex[:12]
    configure(RECORDS_TABLE=name)
    return name


@pytest.fixture
def storage_outage(configure):
    """Point the app's storage at a port where nothing listens, for as long as the test says."""
    working = os.environ["AzureWebJobsStorage"]
    dead = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{free_port()}", working)

    def outage(down: bool) -> None:
        configure(AzureWebJobsStorage=dead if down else working)

    return outage


def reconcile_later(minutes: float = 31):
    from switchboard.functions.status import reconcile_now

    return reconcile_now(get_settings(), now=utcnow() + timedelta(minutes=minutes), per_second=100)


def test_a_status_callback_lost_to_a_storage_outage_is_fetched_by_the_reconcile_timer(
    app, twilio: TwilioEmulator, fresh_table: str, storage_outage
) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": TO, "body": "will it arrive?"})
    sid = record(app, request_id)["sid"]
    storage_outage(True)
    lost = callback(app, "sms", {"MessageSid": sid, "MessageStatus": "delivered", "To": TO}, request_id)
    assert (lost.status_code, lost.get_body()) == (503, b"Service Unavailable")  # not 200: it was not recorded
    storage_outage(False)
    assert record(app, request_id)["status"] == "queued"

    twilio.update_resource("messages", sid, status="delivered", price="-0.0079", price_unit="USD")
    assert reconcile_later(minutes=5).fetched == 0  # not due yet: RECONCILE_AFTER_MINUTES is 30
    summary = reconcile_later()
    assert (summary.fetched, summary.changed) == (1, 1)
    body = record(app, request_id)
    assert (body["status"], body["price"]) == ("delivered", "-0.0079")
    reconciled = body["events"][-1]
    assert (reconciled["kind"], reconciled["status"], reconciled["sid"]) == ("reconciled", "delivered", sid)
    # Twilio retrying the lost callback later (it does not by default) is a repeat, not news.
    again = callback(app, "sms", {"MessageSid": sid, "MessageStatus": "delivered", "To": TO}, request_id)
    assert again.status_code == 200
    assert [e["kind"] for e in record(app, request_id)["events"]] == ["sent", "reconciled"]
    assert reconcile_later().fetched == 0  # final now: never asked again


def test_a_call_status_callback_that_cannot_be_written_answers_503(
    app, twilio: TwilioEmulator, fresh_table: str, storage_outage
) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": TO, "say": "Hi", "timeout": 20})
    sid = record(app, request_id)["sid"]
    storage_outage(True)
    params = {"CallSid": sid, "CallStatus": "completed", "CallDuration": "7"}
    assert callback(app, "call", params, request_id).status_code == 503
    recording = {"CallSid": sid, "RecordingSid": "RE" + uuid.uuid4().hex, "RecordingStatus": "completed",
                 "RecordingUrl": f"{twilio.base_url}/Recordings/x", "RecordingDuration": "3"}  # fmt: skip
    url = f"{PUBLIC_BASE_URL}/api/voice/recording?request_id={request_id}"
    assert post_signed(app, "voice_recording", url, recording).status_code == 503
    storage_outage(False)
    twilio.update_resource("calls", sid, status="completed", duration="7")
    assert reconcile_later(minutes=5).fetched == 0  # a call is due after its ring timeout plus 5 minutes
    assert reconcile_later(minutes=6).changed == 1
    body = record(app, request_id)
    assert (body["status"], body["duration"]) == ("completed", 7)


def test_an_inbound_call_gets_its_final_status_and_duration(app, twilio: TwilioEmulator, fresh_table: str) -> None:
    from switchboard.adapters.twilio_client import get_client

    # A call Twilio knows (placed on the emulator), arriving at our number's voice webhook.
    sid = get_client(get_settings()).calls.create(to=PHONE_NUMBER, from_=TO, twiml="<Response/>").sid
    incoming = {"CallSid": sid, "From": TO, "To": PHONE_NUMBER, "CallStatus": "ringing", "Direction": "inbound"}
    assert post_signed(app, "voice_incoming", f"{PUBLIC_BASE_URL}/api/voice/incoming", incoming).status_code == 200
    assert record(app, sid)["status"] == "ringing"
    twilio.update_resource("calls", sid, status="completed", duration="42")
    summary = reconcile_later(minutes=10)
    assert (summary.fetched, summary.changed) == (1, 1)
    body = record(app, sid)
    assert (body["direction"], body["status"], body["duration"]) == ("inbound", "completed", 42)
    assert body["events"][-1]["kind"] == "reconciled"


def test_the_reconcile_timer_is_a_timer_every_five_minutes(app) -> None:
    from tools.devhost.index import functions_of

    [timer] = [f for f in functions_of(app) if "reconcile" in f.get_function_name()]
    [binding] = [b.get_dict_repr() for b in timer.get_bindings()]
    assert (binding["type"], binding["schedule"]) == ("timerTrigger", "0 */5 * * * *")
