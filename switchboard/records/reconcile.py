"""Asking Twilio about records whose status callbacks never came: the reconcile timer's rules and run.

A status callback can be lost: it arrives while Table Storage is unreachable (the callback answers 503,
and Twilio does not retry it), or the number's status callback was never set (inbound calls). So a
timer fetches, from Twilio's API, each record that has a SID, is in a non-final Twilio status and has
not changed for a while, and applies the answer like a callback: forward only, de-duplicated with the
callback of the same SID and status, with a `reconciled` event.

- Messages are due `RECONCILE_AFTER_MINUTES` after their last change. `sent` is as far as many carriers
  ever report, so a `sent` message is asked about once, not again and again.
- Calls are due after their ring timeout (the request's `timeout`, default 60 s) plus 5 minutes; a call
  still in progress is asked about again after the same wait.
- Each run fetches at most `RECONCILE_MAX_PER_RUN` records, `RECONCILE_PER_SECOND` at most, and stops
  at Twilio's first 429.
- A record still not final 7 days after it was created is marked `stale` (one `stale` event and a stale
  index row, listed on the operator page) and no longer fetched.

Records are found through the day index (`d:<day>`), for the last 8 days: one single-partition
query per day, then point reads of a few fields, as the operator page reads them.

Pure: `due`, `is_stale`, `update_of`. The run takes the store and a `fetch(kind, sid)` that returns
Twilio's resource as a mapping (None when Twilio has no such resource).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard.records import lifecycle as lc
from switchboard.records.callbacks import StatusUpdate, record_reconciled
from switchboard.records.model import Record, iso, parse_iso
from switchboard.records.store import RecordStore

log = logging.getLogger("switchboard.records")

STALE_AFTER = timedelta(days=7)
LOOK_BACK_DAYS = 9  # the day partitions read: a week of due records, the days they turn stale on, and one spare
CALL_MARGIN = timedelta(minutes=5)
DEFAULT_RING_SECONDS = 60  # Twilio's default call Timeout
SCAN_PER_DAY = 5000  # index rows read per day partition and run
FIELDS = [
    "id", "type", "direction", "status", "sid", "created_at", "updated_at", "reconciled_at", "stale", "request",
]  # fmt: skip
# Twilio statuses that may still move. `scheduled` waits by design; `sent` is handled apart (see `due`).
OPEN = {
    "call": frozenset({"queued", "initiated", "ringing", "in-progress", "answered"}),
    "sms": frozenset({"accepted", "queued", "sending"}),
}


class RateLimited(RuntimeError):
    """Twilio answered 429: the run stops and the next one carries on."""


Fetch = Callable[[str, str], Mapping[str, Any] | None]


def is_open(record: Record) -> bool:
    """Not final: a Twilio status that may still move, or one of our own pre-send states."""
    if record.sid is None:
        return record.status in lc.PRE_SEND
    return record.status in OPEN.get(record.type, frozenset())


def is_candidate(record: Record) -> bool:
    """Worth a look: not final, or a `sent` message (which may yet report delivered)."""
    return not record.stale and (is_open(record) or (record.type == "sms" and record.status == "sent"))


def is_stale(record: Record, now: datetime) -> bool:
    """Still not final 7 days after it was created, and not yet marked (`sent` counts as final here).

    A request `scheduled` by the worker waits by design (up to 35 days and quiet hours): not stale.
    """
    if record.sid is None and record.status == lc.SCHEDULED:
        return False
    return not record.stale and is_open(record) and now - parse_iso(record.created_at) >= STALE_AFTER


def wait_of(record: Record, after: timedelta) -> timedelta:
    """How long a record may go without news before Twilio is asked about it."""
    if record.type != "call":
        return after
    return timedelta(seconds=_ring_seconds(record)) + CALL_MARGIN


def due(record: Record, now: datetime, after: timedelta) -> bool:
    """Should Twilio be asked about this record now?"""
    if record.sid is None or not is_candidate(record):
        return False
    if record.type == "sms" and record.status == "sent" and record.reconciled_at:
        return False  # asked once: `sent` is as far as many carriers ever report
    last = parse_iso(record.updated_at)
    if record.reconciled_at:
        last = max(last, parse_iso(record.reconciled_at))
    return now - last >= wait_of(record, after)


def update_of(kind: str, sid: str, resource: Mapping[str, Any]) -> StatusUpdate | None:
    """Twilio's resource as the callback it would have sent: the same shape checks, the same rules."""
    status = resource.get("status")
    text = str(getattr(status, "value", status) or "")
    if kind == "call":
        params = {"CallSid": sid, "CallStatus": text, "CallDuration": resource.get("duration")}
    else:
        params = {"MessageSid": sid, "MessageStatus": text}
    params |= {
        "To": resource.get("to"), "From": resource.get("from_") or resource.get("from"),
        "Price": resource.get("price"), "PriceUnit": resource.get("price_unit"),
        "AnsweredBy": resource.get("answered_by"), "ErrorCode": resource.get("error_code"),
        "ErrorMessage": resource.get("error_message"),
    }  # fmt: skip
    return StatusUpdate.from_params(kind, {key: str(value) for key, value in params.items() if value not in (None, "")})


@dataclass
class Summary:
    scanned: int = 0
    fetched: int = 0
    changed: int = 0
    unchanged: int = 0
    missing_at_twilio: int = 0
    errors: int = 0
    stale: int = 0
    rate_limited: bool = False
    stale_ids: list[str] = field(default_factory=list)


def run(
    store: RecordStore,
    fetch: Fetch,
    now: datetime,
    *,
    after: timedelta,
    limit: int,
    per_second: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    suppress: Mapping[str, timedelta] | None = None,
) -> Summary:
    """One reconcile run: mark what turned stale, fetch what is due (bounded), apply what Twilio says.

    `suppress` (SUPPRESS_ON_ERRORS): a failure Twilio reports here suppresses the number as its callback would.
    """
    summary = Summary()
    pace = 1.0 / per_second
    next_fetch = clock()
    for record in candidates(store, now):
        summary.scanned += 1
        if is_stale(record, now):
            mark_stale(store, record, now)
            summary.stale += 1
            summary.stale_ids.append(record.id)
            continue
        if summary.fetched >= limit or not due(record, now, after):
            continue
        wait = next_fetch - clock()
        if wait > 0:
            sleep(wait)
        next_fetch = max(next_fetch, clock()) + pace
        summary.fetched += 1
        try:
            outcome = reconcile_one(store, fetch, record, now, suppress=suppress)
        except RateLimited:
            summary.rate_limited = True
            log.warning("Reconcile: Twilio answered 429 after %d fetch(es); the next run carries on", summary.fetched)
            break
        except Exception as error:  # one record's trouble must not stop the others
            summary.errors += 1
            log.warning("Reconcile: could not reconcile %s: %s", record.id, type(error).__name__)
            continue
        if outcome == "changed":
            summary.changed += 1
        elif outcome == "missing":
            summary.missing_at_twilio += 1
        else:
            summary.unchanged += 1
    return summary


def candidates(store: RecordStore, now: datetime) -> list[Record]:
    """Records of the last 8 days that are not final, oldest day first (a few fields each)."""
    found: list[Record] = []
    today = now.date()
    for back in range(LOOK_BACK_DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        since = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
        ids = store.day_ids(day, since, SCAN_PER_DAY)
        found.extend(record for record in store.get_many(ids, FIELDS) if is_candidate(record))
    return found


def reconcile_one(
    store: RecordStore, fetch: Fetch, record: Record, now: datetime, *, suppress: Mapping[str, timedelta] | None = None
) -> str:
    """Fetch one record's call or message and apply it: "changed", "unchanged" or "missing"."""
    assert record.sid is not None
    resource = fetch(record.type, record.sid)
    if resource is None:
        _touch(store, record.id, now)
        log.warning("Reconcile: Twilio has no %s %s (record %s)", record.type, record.sid, record.id)
        return "missing"
    update = update_of(record.type, record.sid, resource)
    if update is None:
        _touch(store, record.id, now)
        return "unchanged"
    current = store.get(record.id)  # the whole record: the write replaces it
    if current is None:
        return "missing"
    return "changed" if record_reconciled(store, current, update, now, suppress=suppress) else "unchanged"


def mark_stale(store: RecordStore, record: Record, now: datetime) -> None:
    """One `stale` event, the flag, and the stale index row the operator page lists."""

    def flag(current: Record) -> Record | None:
        if current.stale or not is_open(current):
            return None
        return replace(current, stale=True)

    stored, applied = store.update(record.id, flag)
    if stored is None or not stored.stale:
        return
    store.index(stored)
    if applied and store.mark_once(record.id, "stale"):
        detail = f"still {stored.status} {STALE_AFTER.days} days after it was created; no longer asked about"
        store.add_event(record.id, "stale", status=stored.status, sid=stored.sid, detail=detail, now=now)
        log.warning("Record %s is stale: %s", record.id, stored.status)


def _touch(store: RecordStore, record_id: str, now: datetime) -> None:
    """Note when Twilio was asked (not a change: `updated_at` stays)."""
    store.update(record_id, lambda current: replace(current, reconciled_at=iso(now)))


def _ring_seconds(record: Record) -> int:
    try:
        request = json.loads(record.request) if record.request else {}
    except ValueError:
        return DEFAULT_RING_SECONDS
    timeout = request.get("timeout") if isinstance(request, dict) else None
    return timeout if isinstance(timeout, int) and timeout > 0 else DEFAULT_RING_SECONDS
