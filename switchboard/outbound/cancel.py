"""Cancel an outbound request that has not started its send (DELETE /api/outbound/{id}).

The record is the lock, as for the send itself: the cancel is an ETag-guarded update that only
applies while the record is in a state the worker has not sent from (`scheduled`, `paced`, `pending`,
or `retrying` after Twilio refused to take it), and the worker's claim of a send is an ETag-guarded
update that only applies to such a state too. Whichever writes first wins; the other sees the new
status. So a cancel racing a delivery never leaves a create after `canceled`: either the cancel
lands first and the claim fails, or the claim lands first and the cancel answers 409 `sending`.

Not cancelable: `sending` (an attempt may be at Twilio right now), a record whose last attempt got no
answer (`recheck`: Twilio may have it), anything with a SID, and every final status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple

from switchboard.records import lifecycle as lc
from switchboard.records.ids import ID_PATTERN
from switchboard.records.model import Record
from switchboard.records.store import RecordStore

REASON = "canceled (DELETE /api/outbound/{id}) before its send started"


class Canceled(NamedTuple):
    outcome: Literal["canceled", "started", "not_found"]
    record: Record | None


def cancelable(record: Record) -> bool:
    """Has this record's send not started, so that canceling it leaves nothing at Twilio?"""
    if record.direction != "outbound" or record.sid is not None or record.recheck:
        return False
    return record.status in lc.PRE_SEND - {lc.SENDING}


def answer(store: RecordStore, record_id: str, now: datetime) -> tuple[int, dict[str, object]]:
    """The HTTP answer to a cancel (DELETE /api/outbound/{id}, and the operator page's button): status and JSON."""
    if not ID_PATTERN.fullmatch(record_id):
        return 400, {"error": "id must be 1-64 characters of A-Z a-z 0-9 _ . : -"}
    result = cancel(store, record_id, now)
    if result.record is None:
        return 404, {"error": "no such request"}
    record = result.record
    if result.outcome == "canceled":
        return 200, {"id": record.id, "status": record.status}
    error = "its send has started or finished; it cannot be canceled"
    return 409, {"id": record.id, "status": record.status, "error": error}


def cancel(store: RecordStore, record_id: str, now: datetime) -> Canceled:
    """`canceled` (also for one canceled before: a DELETE may be repeated), `started` (409) or `not_found`."""

    def mark(current: Record) -> Record | None:
        if not cancelable(current):
            return None
        return current.with_changes(now, status=lc.CANCELED, reason=REASON, retry_at=None, pace_slot=None)

    record, applied = store.update(record_id, mark)
    if record is None or record.direction != "outbound":
        return Canceled("not_found", None)  # an inbound record (its id is a SID) is no request to cancel
    if applied:
        store.add_event(record_id, "canceled", status=lc.CANCELED, detail=REASON, now=now)
        return Canceled("canceled", record)
    if record.status == lc.CANCELED and record.sid is None:
        return Canceled("canceled", record)
    return Canceled("started", record)
