"""Deleting records: retention (records older than RETENTION_DAYS) and erasure (everything naming one number).

Both remove, for each record: its blobs (recordings, MMS media), its events and delivery markers,
its number index rows (To and From), its day index row, its SID index row, and last the record row.
The index row a sweep walks from goes at the very end, so an interrupted run redoes that record
next time (every delete is idempotent) instead of leaving an unfindable remainder.
Opt-outs (`OPTOUTS_TABLE`) are kept: a STOP must outlive the data, as the law that asks for erasure
also asks for that. Erasure deletes the opt-out only when asked (`?optout=true`).
Audit rows (`audit:erasure`) record that an erasure happened: time, counts, and an HMAC of the number
with a secret salt, never the number.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from switchboard.records.model import (
    RECORD_ROW,
    SID_ROW,
    day_partition,
    iso,
    number_partition,
    number_row,
    parse_iso,
    record_partition,
    sid_partition,
)
from switchboard.records.store import RecordStore
from switchboard.shared.phones import E164 as E164_PATTERN

log = logging.getLogger("switchboard.records")

AUDIT_PARTITION = "audit:erasure"
MAX_ERASE_RECORDS = 2000  # per request; the answer says whether more remain (repeat the request)
RETENTION_BATCH = 100  # index rows read per query
RETENTION_BUDGET = 500  # records per timer run
RETENTION_SECONDS = 60.0  # and at most this long per run (functionTimeout is two minutes)
SALT_CONTEXT = b"switchboard erasure audit salt v1"

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


def _delete(store: RecordStore, partition: str, row: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        store.records.delete_entity(partition, row)
    except ResourceNotFoundError:
        return False
    return True


def forget_record(
    store: RecordStore, record_id: str, delete_blobs: BlobDeleter, walking: tuple[str, str] | None = None
) -> Counts:
    """Delete one record and everything hanging off it, except `walking`: the index row the caller walks from."""
    from azure.core.exceptions import ResourceNotFoundError

    counts = Counts()
    record = store.get(record_id)
    counts.blobs += delete_blobs(record_id)
    rows: list[str] = []
    with contextlib.suppress(ResourceNotFoundError):
        query = store.records.query_entities(
            "PartitionKey eq @pk", parameters={"pk": record_partition(record_id)}, select=["RowKey"]
        )
        rows = [str(entity["RowKey"]) for entity in query]
    for row in rows:
        if row != RECORD_ROW and _delete(store, record_partition(record_id), row):
            counts.events += 1
    if record is not None:
        created = parse_iso(record.created_at)
        row = number_row(created, record_id)
        numbers = dict.fromkeys(n for n in (record.to, record.from_) if n and E164_PATTERN.fullmatch(n))
        for partition in [number_partition(n) for n in numbers] + [day_partition(created)]:
            if (partition, row) != walking:
                counts.index_rows += _delete(store, partition, row)
        if record.sid and store.record_id_for_sid(record.sid) == record_id:
            counts.index_rows += _delete(store, sid_partition(record.sid), SID_ROW)
        counts.records += _delete(store, record_partition(record_id), RECORD_ROW)
    return counts


# -- erasure ---------------------------------------------------------------------------------------


def number_hash(number: str, salt: str) -> str:
    return hmac.new(salt.encode("utf-8"), number.encode("utf-8"), hashlib.sha256).hexdigest()


def derived_salt(auth_token: str) -> str:
    """A salt from the auth token when ERASURE_AUDIT_SALT is unset: secret, but changes if the token rotates."""
    return hmac.new(auth_token.encode("utf-8"), SALT_CONTEXT, hashlib.sha256).hexdigest()


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
    from azure.core.exceptions import ResourceNotFoundError

    moment = now or datetime.now(timezone.utc)
    counts = Counts()
    partition = number_partition(number)
    complete = True
    handled = 0
    while True:
        try:
            page = store.records.query_entities(
                "PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey", "record_id"],
                results_per_page=RETENTION_BATCH,
            )  # fmt: skip
            rows = [
                (str(e["RowKey"]), str(e.get("record_id") or ""))
                for _, e in zip(range(RETENTION_BATCH), page, strict=False)
            ]
        except ResourceNotFoundError:
            rows = []
        if not rows:
            break
        for row, record_id in rows:
            if handled >= limit:
                complete = False
                break
            if record_id:
                counts.add(forget_record(store, record_id, delete_blobs, walking=(partition, row)))
            counts.index_rows += _delete(store, partition, row)
            handled += 1
        if not complete:
            break
    if optout:
        with contextlib.suppress(ResourceNotFoundError):
            store.optouts.delete_entity(number, "optout")
            counts.optouts += 1
    digest = number_hash(number, salt)
    audit = {
        "PartitionKey": AUDIT_PARTITION,
        "RowKey": f"{10**16 - 1 - int(moment.timestamp() * 1_000_000):016d}:{secrets.token_hex(4)}",
        "at": iso(moment),
        "kind": "erasure",
        "number_hash": digest,
        "complete": complete,
        **asdict(counts),
    }
    store.records.create_entity(audit)
    log.info("Erased a number (hash %s…): %s, complete=%s", digest[:12], asdict(counts), complete)
    return {"number_hash": digest, **asdict(counts), "complete": complete, "at": audit["at"]}


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
) -> Counts:
    """Delete records of days before the cutoff, oldest first, at most `budget` per run.

    The day index is its own cursor: a handled record's day row is deleted last, so the next run
    starts where this one stopped.
    """
    from azure.core.exceptions import ResourceNotFoundError

    moment = now or datetime.now(timezone.utc)
    cutoff = retention_cutoff(moment, days)
    first_kept = day_partition(datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=timezone.utc))
    counts = Counts()
    deadline = time.monotonic() + seconds
    handled = 0
    while handled < budget and time.monotonic() < deadline:
        try:
            page = store.records.query_entities(
                "PartitionKey ge @low and PartitionKey lt @high",
                parameters={"low": "d:", "high": first_kept},
                select=["PartitionKey", "RowKey", "record_id"],
                results_per_page=RETENTION_BATCH,
            )
            rows = [(str(e["PartitionKey"]), str(e["RowKey"]), str(e.get("record_id") or ""))
                    for _, e in zip(range(RETENTION_BATCH), page, strict=False)]  # fmt: skip
        except ResourceNotFoundError:
            rows = []
        if not rows:
            break
        for partition, row, record_id in rows:
            if handled >= budget or time.monotonic() >= deadline:
                break
            if record_id:
                counts.add(forget_record(store, record_id, delete_blobs, walking=(partition, row)))
            counts.index_rows += _delete(store, partition, row)
            handled += 1
    if counts.records or counts.index_rows:
        log.info("Retention (%d days, before %s): %s", days, cutoff.isoformat(), asdict(counts))
    return counts
