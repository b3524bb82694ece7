"""Scheduled sends, quiet hours, expiry and cancel, end to end on a frozen clock (issue 23).

The worker runs against Azurite and the Twilio emulator with its clock frozen; the queue port is a
stand-in that keeps each message put back with its delay, and a test "waits" by moving the clock on
by that delay and handing the message to the worker again, as the host would once it is visible.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.records.model import parse_iso
from tests.outbound.conftest import new_id, record
from tests.support import PUBLIC_BASE_URL, function, http_request
from tools.emulator.rest import TwilioEmulator

NY = ZoneInfo("America/New_York")
NY_NUMBER = "+12125550123"  # a Manhattan prefix: phonenumbers puts it in America/New_York
SENDER = "+15005550006"


@dataclass
class Host:
    """A frozen clock and a queue stand-in: what the worker put back, with its delay, in order."""

    now: datetime
    app: Any
    twilio: TwilioEmulator
    queued: list[tuple[str, str, int]] = field(default_factory=list)  # (queue message id, body, delay)
    created_at: list[datetime] = field(default_factory=list)  # the clock at each create

    def requeue(self, body: str, delay_seconds: int) -> str:
        message_id = uuid.uuid4().hex
        self.queued.append((message_id, body, delay_seconds))
        return message_id

    def deps(self) -> Any:
        from switchboard.functions.outbound import deps
        from switchboard.settings import get_settings

        return dataclasses.replace(deps(get_settings()), now=lambda: self.now, requeue=self.requeue, pace=None)

    def deliver(self, message: dict[str, Any] | str, message_id: str | None = None) -> Any:
        from switchboard.outbound.worker import handle_message

        body = (json.dumps(message) if isinstance(message, dict) else message).encode()
        before = len(self.twilio.created("messages")) + len(self.twilio.created("calls"))
        stored = handle_message(message_id or uuid.uuid4().hex, body, 1, self.deps())
        after = len(self.twilio.created("messages")) + len(self.twilio.created("calls"))
        self.created_at.extend([self.now] * (after - before))
        return stored

    def wait_and_redeliver(self) -> int:
        """Move the clock to when the last message put back becomes visible, and deliver it; its delay."""
        message_id, body, delay = self.queued[-1]
        self.now += timedelta(seconds=delay)
        self.deliver(body, message_id)
        return delay


@pytest.fixture
def host(app, twilio: TwilioEmulator, configure) -> Host:
    configure(OUTBOUND_QUIET_HOURS="21:00-08:00", OUTBOUND_QUIET_HOURS_ZONE="America/Chicago")
    return Host(datetime(2027, 1, 12, 22, 30, 17, tzinfo=NY).astimezone(timezone.utc), app, twilio)


def sms(**fields: Any) -> dict[str, Any]:
    return {"type": "sms", "id": new_id(), "to": NY_NUMBER, "from": SENDER, "body": "Your table is ready", **fields}


def at(moment: datetime) -> str:
    return moment.isoformat()


def test_an_sms_at_2230_new_york_time_is_created_at_0800_new_york_time_and_not_before(host: Host) -> None:
    message = sms()
    host.deliver(message)
    waiting = record(host.app, message["id"])
    assert (waiting["status"], waiting["attempts"], waiting["sid"]) == ("scheduled", 0, None)
    assert parse_iso(waiting["scheduled_for"]).astimezone(NY) == datetime(2027, 1, 13, 8, 0, tzinfo=NY)
    [event] = waiting["events"]
    assert (event["kind"], event["status"]) == ("scheduled", "scheduled")
    assert "quiet hours 21:00-08:00 in America/New_York" in event["detail"]
    assert host.twilio.attempts("messages") == []
    # The host may hand the message over early (a copy redelivered, a clock running ahead): it waits again.
    _, body, delay = host.queued[-1]
    host.now += timedelta(seconds=delay - 90)
    host.deliver(body, host.queued[-1][0])
    assert host.twilio.attempts("messages") == []
    assert record(host.app, message["id"])["status"] == "scheduled"
    assert host.queued[-1][2] == 90
    host.wait_and_redeliver()
    [created] = host.created_at
    assert datetime(2027, 1, 13, 8, 0, tzinfo=NY) <= created < datetime(2027, 1, 13, 8, 1, tzinfo=NY)
    sent = record(host.app, message["id"])
    assert (sent["status"], sent["attempts"]) == ("queued", 1)
    assert [event["kind"] for event in sent["events"]] == ["scheduled", "scheduled", "sent"]


def test_quiet_hours_false_sends_at_once_and_a_call_keeps_its_own_window(host: Host, configure) -> None:
    urgent = sms(quiet_hours=False)
    host.deliver(urgent)
    assert record(host.app, urgent["id"])["status"] == "queued"
    configure(OUTBOUND_QUIET_HOURS_CALLS="off")
    call = {"type": "call", "id": new_id(), "to": NY_NUMBER, "from": SENDER, "say": "Hello"}
    host.deliver(call)
    assert record(host.app, call["id"])["status"] == "queued"
    assert len(host.created_at) == 2
    assert host.queued == []


def test_send_at_two_hours_ahead_is_created_within_a_minute_of_it(host: Host, configure) -> None:
    configure(OUTBOUND_QUIET_HOURS=None)
    send_at = host.now + timedelta(hours=2)
    message = sms(send_at=at(send_at.astimezone(NY)))
    host.deliver(message)
    waiting = record(host.app, message["id"])
    assert waiting["status"] == "scheduled"
    assert parse_iso(waiting["scheduled_for"]) == send_at
    assert host.twilio.attempts("messages") == []
    assert host.wait_and_redeliver() == 7200
    [created] = host.created_at
    assert send_at <= created < send_at + timedelta(seconds=60)
    assert record(host.app, message["id"])["request"]["send_at"] == send_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_send_at_in_the_past_means_now(host: Host, configure) -> None:
    configure(OUTBOUND_QUIET_HOURS=None)
    message = sms(send_at=at(host.now - timedelta(days=3)))
    host.deliver(message)
    assert record(host.app, message["id"])["status"] == "queued"
    assert host.created_at == [host.now]


def cancel(app, request_id: str) -> tuple[int, dict[str, Any]]:
    url = f"{PUBLIC_BASE_URL}/api/outbound/{request_id}"
    response = function(app, "outbound_cancel")(http_request("DELETE", url, route_params={"id": request_id}))
    return response.status_code, json.loads(response.get_body())


def test_a_cancel_ten_minutes_before_send_at_leaves_no_create_and_a_canceled_record(host: Host, configure) -> None:
    configure(OUTBOUND_QUIET_HOURS=None)
    message = sms(send_at=at(host.now + timedelta(hours=2)))
    host.deliver(message)
    host.now += timedelta(hours=1, minutes=50)
    assert cancel(host.app, message["id"]) == (200, {"id": message["id"], "status": "canceled"})
    assert cancel(host.app, message["id"]) == (200, {"id": message["id"], "status": "canceled"})  # again: the same
    host.now -= timedelta(hours=1, minutes=50)
    host.wait_and_redeliver()  # the message comes back at send_at
    assert host.twilio.attempts("messages") == []
    done = record(host.app, message["id"])
    assert (done["status"], done["sid"], done["attempts"]) == ("canceled", None, 0)
    # (The endpoint stamps its event with the real time, this test's clock runs in 2027: order by kind.)
    assert sorted(event["kind"] for event in done["events"]) == ["canceled", "scheduled"]


def test_cancel_answers_409_with_the_status_once_the_send_started_and_404_for_an_unknown_id(
    host: Host, configure
) -> None:
    configure(OUTBOUND_QUIET_HOURS=None)
    message = sms()
    host.deliver(message)
    status, body = cancel(host.app, message["id"])
    assert (status, body["id"], body["status"]) == (409, message["id"], "queued")
    assert "cannot be canceled" in body["error"]
    assert record(host.app, message["id"])["status"] == "queued"
    assert cancel(host.app, new_id()) == (404, {"error": "no such request"})
    status, body = cancel(host.app, "a/b")
    assert status == 400


def test_a_cancel_racing_the_claim_never_leaves_a_create_after_canceled(host: Host, configure) -> None:
    """The cancel lands between the worker's last look at the record and its claim: the claim must fail."""
    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.cancel import cancel as cancel_in_store
    from switchboard.records.store import RecordStore
    from switchboard.settings import get_settings

    configure(OUTBOUND_QUIET_HOURS=None)
    message = sms(send_at=at(host.now + timedelta(minutes=5)))
    host.deliver(message)
    store = store_for(get_settings())

    class CancelFirst(RecordStore):
        """The store as the worker sees it: a cancel from another host lands just before each update."""

        def update(self, record_id: str, mutate: Any) -> Any:
            cancel_in_store(store, record_id, host.now)
            return super().update(record_id, mutate)

    racing = CancelFirst(store.records, store.optouts, **store.options)
    original = host.deps

    host.deps = lambda: dataclasses.replace(original(), store=racing)  # type: ignore[method-assign]
    host.wait_and_redeliver()
    assert host.twilio.attempts("messages") == []
    assert record(host.app, message["id"])["status"] == "canceled"


def test_an_expires_at_that_passes_during_the_wait_ends_expired_with_no_create(host: Host) -> None:
    message = sms(expires_at=at(datetime(2027, 1, 12, 23, 30, tzinfo=NY)))
    host.deliver(message)
    waiting = record(host.app, message["id"])
    assert waiting["status"] == "scheduled"
    assert "expires_at" in waiting["events"][0]["detail"]
    assert host.wait_and_redeliver() == 3600 - 17  # back at its expires_at, not at 08:00
    done = record(host.app, message["id"])
    assert (done["status"], done["attempts"], done["sid"]) == ("expired", 0, None)
    assert "expires_at 2027-01-13T04:30:00.000000Z passed" in done["reason"]
    assert [event["kind"] for event in done["events"]] == ["scheduled", "expired"]
    assert host.twilio.attempts("messages") == []


def test_a_request_already_expired_on_arrival_is_expired_at_once(host: Host) -> None:
    message = sms(expires_at=at(host.now - timedelta(seconds=1)))
    host.deliver(message)
    done = record(host.app, message["id"])
    assert (done["status"], [event["kind"] for event in done["events"]]) == ("expired", ["expired"])
    assert host.queued == []
    assert host.twilio.attempts("messages") == []


def test_a_nine_day_wait_takes_two_hops_and_is_still_sent(host: Host, configure) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.records.reconcile import is_stale
    from switchboard.settings import get_settings

    configure(OUTBOUND_QUIET_HOURS=None)
    send_at = host.now + timedelta(days=9)
    message = sms(send_at=at(send_at))
    host.deliver(message)
    assert host.wait_and_redeliver() == 7 * 24 * 3600  # the queue's longest visibility timeout
    stored = store_for(get_settings()).get(message["id"])
    assert stored is not None
    assert stored.status == "scheduled"
    assert not is_stale(stored, host.now)  # waiting by design: the reconcile timer leaves it alone
    assert host.twilio.attempts("messages") == []
    assert host.wait_and_redeliver() == 2 * 24 * 3600
    assert host.created_at == [send_at]
    sent = record(host.app, message["id"])
    assert [event["kind"] for event in sent["events"]] == ["scheduled", "scheduled", "sent"]
    assert len(host.queued) == 2


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"send_at": "2027-01-13T09:00:00"}, "send_at: has no UTC offset"),
        ({"send_at": "tomorrow at nine"}, "send_at: must be an RFC 3339 date and time"),
        ({"send_at": "2027-02-18T09:00:00Z"}, "send_at: at most 35 days ahead"),
        (
            {"send_at": "2027-01-13T09:00:00Z", "expires_at": "2027-01-13T08:00:00Z"},
            "expires_at: must be after send_at",
        ),
        ({"expires_at": "2027-01-13"}, "expires_at: must be an RFC 3339 date and time"),
        ({"validity_period": 0}, "validity_period: must be between 1 and 36000"),
        ({"validity_period": 36001}, "validity_period: must be between 1 and 36000"),
        ({"quiet_hours": "no"}, "quiet_hours: must be true or false"),
    ],
)
def test_bad_timing_is_rejected_with_a_reason_and_nothing_reaches_twilio(
    host: Host, fields: dict[str, Any], reason: str
) -> None:
    message = sms(**fields)
    host.deliver(message)
    done = record(host.app, message["id"])
    assert done["status"] == "rejected"
    assert done["reason"].startswith(reason), done["reason"]
    assert host.twilio.attempts("messages") == []
    assert host.queued == []


def test_validity_period_reaches_twilio_as_validityperiod(host: Host) -> None:
    message = sms(validity_period=600, quiet_hours=False)
    host.deliver(message)
    [form] = host.twilio.created("messages")
    assert form["ValidityPeriod"] == ["600"]


def test_the_http_face_refuses_bad_timing_with_400_and_queues_nothing(app, configure) -> None:
    from tools.devhost.invoke import Out

    configure(TWILIO_PHONE_NUMBER=SENDER)
    url = f"{PUBLIC_BASE_URL}/api/outbound"
    far = (datetime.now(timezone.utc) + timedelta(days=40)).isoformat()
    for fields, reason in [({"send_at": "2027-01-13T09:00:00"}, "send_at: has no UTC offset"),
                           ({"send_at": far}, "send_at: at most 35 days ahead")]:  # fmt: skip
        out = Out()
        body = json.dumps({"type": "sms", "to": NY_NUMBER, "body": "hi", **fields}).encode()
        response = function(app, "outbound_enqueue")(http_request("POST", url, body=body), out)
        assert response.status_code == 400
        assert json.loads(response.get_body())["error"].startswith(reason)
        assert out.get() is None


def test_through_the_real_queue_a_send_at_moments_ahead_waits_invisible_and_is_then_sent(
    app, twilio: TwilioEmulator, configure
) -> None:
    """The app's own requeue (Azurite): the message put back is invisible until send_at, then sends."""
    from tests.outbound.conftest import deliver, redeliver

    configure(OUTBOUND_QUIET_HOURS=None)
    send_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    message = sms(send_at=at(send_at))
    deliver(app, message)
    waiting = record(app, message["id"])
    assert (waiting["status"], waiting["attempts"]) == ("scheduled", 0)
    assert parse_iso(waiting["retry_at"]) >= send_at
    assert twilio.attempts("messages") == []
    redeliver(app, message["id"])  # taken once the queue shows it, as the host would
    assert record(app, message["id"])["status"] == "queued"
    [form] = twilio.created("messages")
    assert "SendAt" not in form  # Switchboard held it; Twilio was not asked to schedule it


def test_on_the_spring_forward_night_the_sms_goes_at_0800_daylight_time(host: Host) -> None:
    host.now = datetime(2027, 3, 13, 22, 30, tzinfo=NY).astimezone(timezone.utc)
    message = sms()
    host.deliver(message)
    assert host.wait_and_redeliver() == 8 * 3600 + 30 * 60  # an hour shorter than the clock says
    [created] = host.created_at
    assert created == datetime(2027, 3, 14, 12, 0, tzinfo=timezone.utc)
    assert created.astimezone(NY).strftime("%H:%M %Z") == "08:00 EDT"


def test_a_retry_that_would_come_in_quiet_hours_waits_for_their_end(host: Host) -> None:
    host.now = datetime(2027, 1, 12, 20, 59, 59, 500000, tzinfo=NY).astimezone(timezone.utc)  # retries: 1 s here
    host.twilio.faults.add("messages", status=429, times=1)
    message = sms()
    host.deliver(message)
    assert record(host.app, message["id"])["status"] == "retrying"
    host.wait_and_redeliver()  # back after the backoff: now past 21:00 in New York
    waiting = record(host.app, message["id"])
    assert (waiting["status"], waiting["attempts"]) == ("scheduled", 1)
    assert parse_iso(waiting["scheduled_for"]) == datetime(2027, 1, 13, 8, 0, tzinfo=NY)
    assert len(host.twilio.attempts("messages")) == 1
    host.wait_and_redeliver()
    [created] = host.created_at
    assert datetime(2027, 1, 13, 8, 0, tzinfo=NY) <= created < datetime(2027, 1, 13, 8, 1, tzinfo=NY)
    assert record(host.app, message["id"])["attempts"] == 2


def test_a_scheduled_request_counts_in_the_caps_when_first_taken_and_not_again_when_sent(host: Host, configure) -> None:
    configure(OUTBOUND_QUIET_HOURS=None, OUTBOUND_LIMITS="sms:per_to=1/24h")
    number = "+1212555" + str(uuid.uuid4().int)[:4]  # a New York number no other test counts
    later = sms(to=number, send_at=at(host.now + timedelta(hours=2)))
    host.deliver(later)
    assert record(host.app, later["id"])["status"] == "scheduled"
    now = sms(to=number)
    host.deliver(now)  # the waiting one holds the day's one unit
    refused = record(host.app, now["id"])
    assert (refused["status"], refused["reason"]) == ("rejected", "limit:sms:per_to=1/24h")
    host.wait_and_redeliver()
    assert record(host.app, later["id"])["status"] == "queued"
    assert [form["Body"] for form in host.twilio.created("messages")] == [["Your table is ready"]]
