"""Deleting records: retention (records older than RETENTION_DAYS) and erasure (everything naming one number).

Both remove, for each record: its blobs (recordings, MMS media), then through the records store its
events and delivery markers, its index rows (number rows for To and From, the day row, the SID row:
`records.model.index_keys`, the rule indexing writes them by), and last the record row.
The index row a sweep walks from goes at the very end, so an interrupted run redoes that record
next time (every delete is idempotent) instead of leaving an unfindable remainder.
Opt-outs (`OPTOUTS_TABLE`) are kept: a STOP must outlive the data, as the law that asks for erasure
also asks for that. Erasure deletes the opt-out only when asked (`?optout=true`); it always deletes the
number's suppression (switchboard/records/suppressions.py), which sits beside the opt-out.
Audit rows (`audit:erasure`) record that an erasure happened: time, counts, and an HMAC of the number
with a secret salt, never the number.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from switchboard.records.model import IndexKey, iso, number_partition
from switchboard.records.store import IndexEntry, RecordStore
from switchboard.records.suppressions import forget_suppression
from switchboard.shared.tags import FINGERPRINT_CONTEXT, app_salt, derive

log = logging.getLogger("switchboard.records")

AUDIT_PARTITION = "audit:erasure"
MAX_ERASE_RECORDS = 2000  # per request; the answer says whether more remain (repeat the request)
RETENTION_BATCH = 100  # index rows read per query
RETENTION_BUDGET = 500  # records per timer run
RETENTION_SECONDS = 60.0  # and at most this long per run (functionTimeout is two minutes)

BlobDeleter = Callable[[str], int]  # record id -> blobs deleted


@dataclass
class Counts:
    records: int = 0
    events: int = 0
    index_rows: int = 0
    blobs: int = 0
    optouts: int = 0

    def add(self, other: Counts) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


def forget_record(
    store: RecordStore,
    record_id: str,
    delete_blobs: BlobDeleter,
    walking: IndexKey | None = None,
    *,
    how: str = "erasure",
    key: bytes | None = None,
    now: datetime | None = None,
) -> Counts:
    """Delete one record and everything hanging off it, except `walking`: the index row the caller walks from.

    First the tombstones (the id's, and its SID's when that is another id): from then on a replayed
    webhook or a redelivered queue message for it changes nothing, and a media copy still running
    deletes what it writes (switchboard/media/copy.py). Then the blobs, then the rows.
    """
    moment = now or datetime.now(timezone.utc)
    record = store.get(record_id)
    mac = None
    if record is not None and record.content_hash and key:
        mac = hmac.new(key, record.content_hash.encode("utf-8"), hashlib.sha256).hexdigest()
    store.seal(record_id, how=how, now=moment, content_mac=mac)
    if record is not None and record.sid and record.sid != record_id and store.get(record.sid) is None:
        store.seal(record.sid, how=how, now=moment)  # a late callback makes no orphan of it (a live one keeps its own)
    blobs = delete_blobs(record_id)
    gone = store.forget(record_id, keep=walking)
    return Counts(records=gone.records, events=gone.events, index_rows=gone.index_rows, blobs=blobs)


def _forget_entry(
    store: RecordStore, entry: IndexEntry, delete_blobs: BlobDeleter, *, how: str, key: bytes | None
) -> Counts:
    """The record an index row points at, then the row itself (last: it is the walk's cursor)."""
    counts = (
        forget_record(store, entry.record_id, delete_blobs, walking=entry.key, how=how, key=key)
        if entry.record_id
        else Counts()
    )
    counts.index_rows += store.drop_index_row(entry.key)
    return counts


def tombstone_key(salt: str) -> bytes:
    """The key of a tombstone's content hash and of queue-message fingerprints: one from the app's salt."""
    return derive(salt, FINGERPRINT_CONTEXT)


# -- erasure ---------------------------------------------------------------------------------------


def number_hash(number: str, salt: str) -> str:
    return hmac.new(salt.encode("utf-8"), number.encode("utf-8"), hashlib.sha256).hexdigest()


def derived_salt(auth_token: str) -> str:
    """A salt from the auth token when ERASURE_AUDIT_SALT is unset: secret, but changes if the token rotates."""
    return app_salt(None, auth_token)


def erase_number(
    store: RecordStore,
    number: str,
    delete_blobs: BlobDeleter,
    *,
    salt: str,
    optout: bool = False,
    now: datetime | None = None,
    limit: int = MAX_ERASE_RECORDS,
) -> dict[str, Any]:
    """Delete every record naming `number` (through its number index), then write the audit row."""
    moment = now or datetime.now(timezone.utc)
    counts = Counts()
    partition = number_partition(number)
    complete = True
    handled = 0
    while complete and (entries := store.index_entries(partition, RETENTION_BATCH)):
        for entry in entries:
            if handled >= limit:
                complete = False
                break
            counts.add(_forget_entry(store, entry, delete_blobs, how="erasure", key=tombstone_key(salt)))
            handled += 1
    if optout:
        store.delete_opt_out(number)
        counts.optouts += 1
    suppressions = forget_suppression(store, number)  # always: a suppression is no promise the law asks to keep
    digest = number_hash(number, salt)
    audit = {
        "PartitionKey": AUDIT_PARTITION,
        "RowKey": f"{10**16 - 1 - int(moment.timestamp() * 1_000_000):016d}:{secrets.token_hex(4)}",
        "at": iso(moment),
        "kind": "erasure",
        "number_hash": digest,
        "complete": complete,
        "suppressions": suppressions,
        **asdict(counts),
    }
    store.add_audit(audit)
    log.info("Erased a number (hash %s…): %s, complete=%s", digest[:12], asdict(counts), complete)
    return {"number_hash": digest, **asdict(counts), "suppressions": suppressions, "complete": complete,
            "at": audit["at"]}  # fmt: skip


# -- retention ----------------------------------------------------------------------------------------


def retention_cutoff(now: datetime, days: int) -> date:
    """The first day kept: records of earlier (UTC) days are older than `days` days and go."""
    return (now.astimezone(timezone.utc) - timedelta(days=days)).date()


def sweep_retention(
    store: RecordStore,
    days: int,
    delete_blobs: BlobDeleter,
    *,
    now: datetime | None = None,
    budget: int = RETENTION_BUDGET,
    seconds: float = RETENTION_SECONDS,
    salt: str | None = None,
) -> Counts:
    """Delete records of days before the cutoff, oldest first, at most `budget` per run.

    The day index is its own cursor: a handled record's day row is deleted last, so the next run
    starts where this one stopped.
    """
    moment = now or datetime.now(timezone.utc)
    key = tombstone_key(salt) if salt else None
    cutoff = retention_cutoff(moment, days)
    counts = Counts()
    deadline = time.monotonic() + seconds
    handled = 0
    while handled < budget and time.monotonic() < deadline:
        entries = store.day_entries_before(cutoff, RETENTION_BATCH)
        if not entries:
            break
        for entry in entries:
            if handled >= budget or time.monotonic() >= deadline:
                break
            counts.add(_forget_entry(store, entry, delete_blobs, how="retention", key=key))
            handled += 1
    if counts.records or counts.index_rows:
        log.info("Retention (%d days, before %s): %s", days, cutoff.isoformat(), asdict(counts))
    return counts
