"""The reconcile timer's rules over the table twin: which records are asked about, bounds, staleness.

Twilio's answers here are plain mappings (what the shell's fetch returns); tests/outbound/test_reconcile.py
runs the same timer against the emulator over the real SDK, with Azurite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from switchboard.records import reconcile as rc
from switchboard.records.callbacks import record_status_callback
from switchboard.records.model import STALE_PARTITION, Record, iso
from switchboard.records.store import RecordStore

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
AFTER = timedelta(minutes=30)
SID = "SM" + "a" * 32
CALL_SID = "CA" + "b" * 32


def make(record_id: str, *, kind: str = "sms", status: str = "queued", sid: str | None = SID, age: timedelta,
         changed: timedelta | None = None, request: dict[str, Any] | None = None) -> Record:  # fmt: skip
    created = NOW - age
    return Record(id=record_id, type=kind, direction="outbound", status=status, created_at=iso(created),
                  updated_at=iso(NOW - (changed if changed is not None else age)), sid=sid, to="+15558675310",
                  request=json.dumps(request) if request else None)  # fmt: skip


class Twilio:
    """What the shell's fetch returns: resources by SID; a 429 after `allow` fetches when set."""

    def __init__(self, resources: Mapping[str, Mapping[str, Any]], allow: int | None = None) -> None:
        self.resources = dict(resources)
        self.asked: list[str] = []
        self.allow = allow

    def __call__(self, kind: str, sid: str) -> Mapping[str, Any] | None:
        if self.allow is not None and len(self.asked) >= self.allow:
            raise rc.RateLimited("20429")
        self.asked.append(sid)
        return self.resources.get(sid)


class Clock:
    """The run's monotonic clock; sleeping moves it on."""

    def __init__(self) -> None:
        self.at = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


def run(store: RecordStore, twilio: Twilio, **bounds: Any) -> rc.Summary:
    slept: list[float] = []
    options: dict[str, Any] = {"after": AFTER, "limit": 100, "per_second": 1000.0} | bounds
    return rc.run(store, twilio, NOW, sleep=slept.append, clock=lambda: 0.0, **options)


def test_which_records_are_due() -> None:
    assert rc.due(make("a", age=timedelta(minutes=31)), NOW, AFTER)
    assert not rc.due(make("b", age=timedelta(minutes=29)), NOW, AFTER)
    assert not rc.due(make("c", status="delivered", age=timedelta(hours=2)), NOW, AFTER)
    assert not rc.due(make("d", status="retrying", sid=None, age=timedelta(hours=2)), NOW, AFTER)  # no SID
    assert not rc.due(make("e", status="scheduled", age=timedelta(hours=2)), NOW, AFTER)  # waits by design
    sent = make("f", status="sent", age=timedelta(hours=2))
    assert rc.due(sent, NOW, AFTER)
    assert not rc.due(Record(**{**sent.__dict__, "reconciled_at": iso(NOW - timedelta(hours=1))}), NOW, AFTER)
    # Calls: after their ring timeout plus five minutes, whatever RECONCILE_AFTER_MINUTES says.
    ringing = make("g", kind="call", sid=CALL_SID, status="ringing", age=timedelta(minutes=6), request={"timeout": 30})
    assert rc.due(ringing, NOW, AFTER)
    assert not rc.due(make("h", kind="call", sid=CALL_SID, status="ringing", age=timedelta(minutes=5)), NOW, AFTER)
    asked = Record(**{**ringing.__dict__, "reconciled_at": iso(NOW - timedelta(minutes=1))})
    assert not rc.due(asked, NOW, AFTER)  # asked a minute ago: waits its turn again


def test_twilios_resource_is_read_as_its_callback() -> None:
    answer = {"status": "completed", "duration": "42", "price": "-0.0130", "price_unit": "USD",
              "to": "+15558675310", "from_": "+15005550006"}  # fmt: skip
    update = rc.update_of("call", CALL_SID, answer)
    assert update is not None
    assert (update.status, update.duration, update.price, update.from_) == ("completed", 42, "-0.0130", "+15005550006")
    assert rc.update_of("sms", SID, {"status": "no-such-status"}) is None
    assert rc.update_of("sms", "not-a-sid", {"status": "delivered"}) is None


def test_a_run_applies_twilios_answer_forward_only_with_a_reconciled_event(twin_store: RecordStore) -> None:
    for record in (make("late", age=timedelta(hours=1)), make("fresh", sid="SM" + "f" * 32, age=timedelta(minutes=5)),
                   make("ahead", sid="SM" + "e" * 32, status="sending", age=timedelta(hours=1))):  # fmt: skip
        twin_store.claim(record)
    twilio = Twilio({SID: {"status": "delivered", "price": "-0.0079", "price_unit": "USD"},
                     "SM" + "e" * 32: {"status": "queued"}})  # fmt: skip
    summary = run(twin_store, twilio)
    assert sorted(twilio.asked) == sorted([SID, "SM" + "e" * 32])  # not the fresh one
    assert (summary.fetched, summary.changed, summary.unchanged) == (2, 1, 1)
    late, events = twin_store.record_with_events("late")
    assert late is not None
    assert (late.status, late.price, late.reconciled_at) == ("delivered", "-0.0079", iso(NOW))
    assert [(e["kind"], e["status"]) for e in events] == [("reconciled", "delivered")]
    ahead = twin_store.get("ahead")
    assert ahead is not None
    assert ahead.status == "sending"  # Twilio's "queued" is behind what the record knows: no step back
    assert ahead.updated_at == make("ahead", age=timedelta(hours=1)).updated_at  # asked, but nothing changed
    assert ahead.reconciled_at == iso(NOW)
    # The lost callback turning up after all is a repeat: no second event.
    record_status_callback(twin_store, "sms", {"MessageSid": SID, "MessageStatus": "delivered"}, "late", NOW)
    assert [e["kind"] for e in twin_store.record_with_events("late")[1]] == ["reconciled"]


def test_a_run_is_bounded_in_count_and_rate_and_stops_at_a_429(twin_store: RecordStore) -> None:
    sids = [f"SM{i:032x}" for i in range(6)]
    for number, sid in enumerate(sids):
        twin_store.claim(make(f"r{number}", sid=sid, age=timedelta(hours=1)))
    twilio = Twilio({sid: {"status": "delivered"} for sid in sids})
    clock = Clock()
    summary = rc.run(twin_store, twilio, NOW, after=AFTER, limit=4, per_second=2.0, sleep=clock.sleep,
                     clock=clock.now)  # fmt: skip
    assert (summary.fetched, len(twilio.asked)) == (4, 4)
    assert len(clock.slept) == 3  # between fetches, to keep to 2 a second on the run's clock
    assert clock.at == pytest.approx(1.5)  # four fetches, half a second apart
    limited = Twilio({sid: {"status": "delivered"} for sid in sids}, allow=1)
    summary = run(twin_store, limited)
    assert summary.rate_limited
    assert (summary.fetched, len(limited.asked)) == (2, 1)  # the second fetch met the 429; the run stopped


def test_a_record_gone_at_twilio_is_noted_not_changed(twin_store: RecordStore) -> None:
    twin_store.claim(make("gone", age=timedelta(hours=1)))
    summary = run(twin_store, Twilio({}))
    assert summary.missing_at_twilio == 1
    gone = twin_store.get("gone")
    assert gone is not None
    assert (gone.status, gone.reconciled_at) == ("queued", iso(NOW))


def test_a_record_not_final_after_seven_days_is_stale_once(twin_store: RecordStore) -> None:
    old = make("old", age=timedelta(days=7, minutes=1))
    waiting = make("waiting", status="retrying", sid=None, age=timedelta(days=7, hours=1))
    sent = make("sent", status="sent", age=timedelta(days=7, hours=2))  # as far as many carriers go: not stale
    for record in (old, waiting, sent):
        twin_store.claim(record)
    twilio = Twilio({SID: {"status": "queued"}})
    summary = run(twin_store, twilio)
    assert sorted(summary.stale_ids) == ["old", "waiting"]
    assert twilio.asked == [SID]  # the sent one, once; a stale one is no longer asked about
    for record_id in ("old", "waiting"):
        stored, events = twin_store.record_with_events(record_id)
        assert stored is not None
        assert stored.stale
        [event] = [e for e in events if e["kind"] == "stale"]
        assert event["detail"].startswith(f"still {stored.status} 7 days after it was created")
    assert sorted(twin_store.stale_ids(10)) == ["old", "waiting"]
    again = run(twin_store, twilio)
    assert (again.stale, again.fetched) == (0, 0)
    assert twilio.asked == [SID]
    assert len([e for e in twin_store.record_with_events("old")[1] if e["kind"] == "stale"]) == 1


def test_erasure_deletes_the_stale_index_row_too(twin_store: RecordStore) -> None:
    twin_store.claim(make("old", age=timedelta(days=7, minutes=1)))
    run(twin_store, Twilio({}))
    assert twin_store.stale_ids(10) == ["old"]
    twin_store.forget("old")
    rows = list(twin_store.records.query_entities("PartitionKey eq @pk", parameters={"pk": STALE_PARTITION}))
    assert rows == []


@pytest.mark.parametrize("age", [timedelta(days=8, hours=11), timedelta(days=7, minutes=1)])
def test_records_of_the_last_nine_days_are_scanned(twin_store: RecordStore, age: timedelta) -> None:
    twin_store.claim(make("edge", age=age))
    assert [record.id for record in rc.candidates(twin_store, NOW)] == ["edge"]


def test_a_reconciled_failure_suppresses_the_number_as_its_callback_would(twin_store: RecordStore) -> None:
    from switchboard.records.suppressions import number_block

    twin_store.claim(make("landline", age=timedelta(hours=1)))
    twilio = Twilio({SID: {"status": "undelivered", "error_code": 30006, "error_message": "Landline"}})
    run(twin_store, twilio, suppress={"30006": timedelta(days=30)})
    block = number_block(twin_store, "+15558675310", sms=True, now=NOW)
    assert block is not None
    assert block == ("suppressed:30006", iso(NOW + timedelta(days=30)))
    assert number_block(twin_store, "+15558675310", sms=False, now=NOW) is None  # WhatsApp: not suppressed
    assert number_block(twin_store, "+15558675310", sms=True, now=NOW + timedelta(days=30)) is None  # lapsed
