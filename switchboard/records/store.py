"""Table Storage adapter for records, events, the SID, number and day indexes, and opt-outs.

Every read-modify-write is guarded by the entity's ETag (`MatchConditions.IfNotModified`)
and retried a bounded number of times when another writer got there first.
The table SDK is imported at first use; one TableClient per table per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from switchboard.adapters.storage import DEFAULT_CONNECTION
from switchboard.records.model import (
    EVENT_PREFIX,
    FINGERPRINT_ROW,
    RECORD_ROW,
    SID_ROW,
    Record,
    day_partition,
    event_json,
    event_row,
    fingerprint_partition,
    iso,
    number_partition,
    number_row,
    record_partition,
    sid_partition,
    storable,
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger("switchboard.records")

UPDATE_ATTEMPTS = 8
DEDUPE_PREFIX = "dedupe:"  # rows beside a record's events: webhook deliveries already applied
MAX_PARAMS_CHARS = 30_000  # one table property holds 64 KiB (32 K UTF-16 characters)
Mutation = Callable[[Record], Record | None]


class RecordConflict(RuntimeError):
    """Another writer kept winning the ETag race."""


class StaleRecord(RuntimeError):
    """The record changed since the ETag a transaction was guarded by."""


class RowExists(RuntimeError):
    """A row a transaction meant to create is already there (a marker: this change was already applied)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class RecordStore:
    def __init__(self, records: TableClient, optouts: TableClient, **request_options: Any) -> None:
        self.records = records
        self.optouts = optouts
        # Per-call transport options (e.g. short timeouts and no retries on the webhook path).
        self.options = request_options

    def with_options(self, **request_options: Any) -> RecordStore:
        return RecordStore(self.records, self.optouts, **(self.options | request_options))

    # -- records ---------------------------------------------------------------------------------

    def claim(self, record: Record) -> tuple[Record, bool]:
        """Insert the record unless its id exists. Returns (the stored record, whether we created it)."""
        from azure.core.exceptions import ResourceExistsError

        try:
            metadata = self.records.create_entity(record.to_entity(), **self.options)
        except ResourceExistsError:
            existing = self.get(record.id)
            if existing is None:  # deleted in between: very unlikely, try once more
                metadata = self.records.create_entity(record.to_entity(), **self.options)
            else:
                self.index(existing)  # a claim cut short before its index rows gets them on the retry
                return existing, False
        self.index(record)
        return Record.from_entity(record.to_entity(), etag=_etag(metadata)), True

    def insert(self, record: Record, *rows: dict[str, Any]) -> Record | None:
        """Create the record (and `rows` of its partition, events say) in one transaction; None if the id exists.

        Index rows are not written here: the caller writes them with `index`, after the work that must
        come first (a redelivered message writes them again if the first run stopped short).
        """
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import TableTransactionError

        try:
            if rows:
                results = self.records.submit_transaction(
                    [("create", record.to_entity()), *(("create", row) for row in rows)], **self.options
                )
                metadata = results[0]
            else:
                metadata = self.records.create_entity(record.to_entity(), **self.options)
        except ResourceExistsError:
            return None
        except TableTransactionError as error:
            if _code(error) == "EntityAlreadyExists":
                return None
            raise
        return Record.from_entity(record.to_entity(), etag=_etag(metadata))

    def commit(self, record: Record, *rows: dict[str, Any]) -> Record:
        """Replace the record if it still has `record.etag`, and create `rows` beside it: one transaction.

        Raises StaleRecord when another writer changed the record first, RowExists when one of `rows`
        (a marker) is already there. Returns the record with its new ETag.
        """
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError

        if record.etag is None:
            raise StaleRecord(f"record {record.id} has no ETag to guard the write")
        update = ("update", record.to_entity(), {"mode": "replace", "etag": record.etag,
                                                 "match_condition": MatchConditions.IfNotModified})  # fmt: skip
        try:
            results = self.records.submit_transaction([update, *(("create", row) for row in rows)], **self.options)
        except TableTransactionError as error:
            code = _code(error)
            if code == "UpdateConditionNotSatisfied":
                raise StaleRecord(f"record {record.id} changed") from error
            if code == "EntityAlreadyExists":
                raise RowExists(f"a row beside record {record.id} already exists") from error
            raise
        return Record.from_entity(record.to_entity(), etag=_etag(results[0]))

    def append(self, *rows: dict[str, Any]) -> bool:
        """Create rows of one record's partition (a marker and an event) in one transaction; False if one exists."""
        from azure.data.tables import TableTransactionError

        try:
            self.records.submit_transaction([("create", row) for row in rows], **self.options)
        except TableTransactionError as error:
            if _code(error) == "EntityAlreadyExists":
                return False
            raise
        return True

    def get(self, record_id: str) -> Record | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self.records.get_entity(record_partition(record_id), RECORD_ROW, **self.options)
        except ResourceNotFoundError:
            return None
        return Record.from_entity(entity, etag=_etag(entity.metadata))

    def update(self, record_id: str, mutate: Mutation) -> tuple[Record | None, bool]:
        """Read, apply `mutate`, write back if the ETag still matches; retry on conflict (bounded).

        `mutate` returns the new record, or None to leave it as it is.
        Returns what is stored (None if there is no such record) and whether `mutate`'s change was written.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.data.tables import UpdateMode

        for _ in range(UPDATE_ATTEMPTS):
            current = self.get(record_id)
            if current is None:
                return None, False
            changed = mutate(current)
            if changed is None:
                return current, False
            try:
                metadata = self.records.update_entity(
                    changed.to_entity(), mode=UpdateMode.REPLACE, etag=current.etag,
                    match_condition=MatchConditions.IfNotModified, **self.options,
                )  # fmt: skip
            except ResourceModifiedError:
                continue
            return Record.from_entity(changed.to_entity(), etag=_etag(metadata)), True
        raise RecordConflict(f"record {record_id} kept changing under {UPDATE_ATTEMPTS} attempts")

    def record_with_events(self, record_id: str) -> tuple[Record | None, list[dict[str, Any]]]:
        """The record and its events: one single-partition query."""
        record = None
        events = []
        query = self.records.query_entities(
            "PartitionKey eq @pk", parameters={"pk": record_partition(record_id)}, **self.options
        )
        for entity in query:
            if entity["RowKey"] == RECORD_ROW:
                record = Record.from_entity(entity, etag=_etag(entity.metadata))
            elif str(entity["RowKey"]).startswith(EVENT_PREFIX):
                events.append(event_json(entity))
        return record, events

    def add_event(  # one round trip; `commit` writes an event with a record change instead
        self,
        record_id: str,
        kind: str,
        *,
        status: str | None = None,
        sid: str | None = None,
        detail: str | None = None,
        params: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        self.records.create_entity(
            event_entity(record_id, kind, status=status, sid=sid, detail=detail, params=params, now=now),
            **self.options,
        )

    def was_marked(self, record_id: str, key: str) -> bool:
        """Whether `mark_once(record_id, key)` has been done."""
        return self._point(record_partition(record_id), _dedupe_row(key), "PartitionKey") is not None

    def mark_once(self, record_id: str, key: str) -> bool:
        """Remember that the delivery named `key` was applied to the record; False if it already was.

        Twilio retries webhooks (same `I-Twilio-Idempotency-Token`) and may send a callback twice:
        the marker row makes the second delivery a no-op instead of a second event.
        """
        from azure.core.exceptions import ResourceExistsError

        try:
            self.records.create_entity(marker_entity(record_id, key), **self.options)
        except ResourceExistsError:
            return False
        return True

    # -- indexes ---------------------------------------------------------------------------------

    def link_sid(self, sid: str, record_id: str) -> str:
        """Point the SID at the record unless it already points elsewhere. Returns the record it points at."""
        from azure.core.exceptions import ResourceExistsError

        entity = {"PartitionKey": sid_partition(sid), "RowKey": SID_ROW, "record_id": record_id}
        try:
            self.records.create_entity(entity, **self.options)
        except ResourceExistsError:
            owner = self.record_id_for_sid(sid)
            return owner or record_id
        return record_id

    def record_id_for_sid(self, sid: str) -> str | None:
        value = self._point(sid_partition(sid), SID_ROW, "record_id")
        return str(value) if value else None

    def remember_fingerprint(self, raw: bytes, record_id: str) -> None:
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": fingerprint_partition(fingerprint(raw)),
            "RowKey": FINGERPRINT_ROW,
            "record_id": record_id,
        }
        self.records.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)

    def record_id_for_fingerprint(self, raw: bytes) -> str | None:
        value = self._point(fingerprint_partition(fingerprint(raw)), FINGERPRINT_ROW, "record_id")
        return str(value) if value else None

    def history(self, number: str, limit: int) -> list[Record]:
        """A number's records, newest first: the top rows of one partition, then point reads."""
        query = self.records.query_entities(
            "PartitionKey eq @pk", parameters={"pk": number_partition(number)}, results_per_page=limit,
            select=["RowKey", "record_id"], **self.options,
        )  # fmt: skip
        found: list[Record] = []
        for entity in query:
            record = self.get(str(entity["record_id"]))
            if record is not None:
                found.append(record)
            if len(found) >= limit:
                break
        return found

    def index(self, record: Record) -> None:
        """The number index (To and From) and the day index rows of a newly claimed record.

        Index rows hold only the record id: status and the rest change after creation, so readers
        point-read the record itself (bounded by how many they show) instead of trusting a stale copy.
        """
        from azure.core.exceptions import ResourceExistsError

        from switchboard.shared.phones import E164 as E164_PATTERN

        created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
        row = number_row(created, record.id)
        numbers = dict.fromkeys(n for n in (record.to, record.from_) if n and E164_PATTERN.fullmatch(n))
        partitions = [number_partition(number) for number in numbers] + [day_partition(created)]
        for partition in partitions:
            entity = {"PartitionKey": partition, "RowKey": row, "record_id": record.id}
            with contextlib.suppress(ResourceExistsError):  # a retried claim indexes again
                self.records.create_entity(entity, **self.options)

    # -- opt-outs ----------------------------------------------------------------------------------

    def is_opted_out(self, number: str) -> bool:
        return bool(self._point(number, "optout", "opted_out", table=self.optouts))

    def set_opt_out(
        self, number: str, opted_out: bool, *, keyword: str, via: str | None, now: datetime, message_sid: str = ""
    ) -> None:
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": number,
            "RowKey": "optout",
            "opted_out": opted_out,
            "keyword": keyword,
            "via": via or "",
            "message_sid": message_sid,
            "updated_at": iso(now),
        }
        self.optouts.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)

    def _point(self, partition: str, row: str, name: str, table: TableClient | None = None) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = (table or self.records).get_entity(partition, row, select=[name], **self.options)
        except ResourceNotFoundError:
            return None
        return entity.get(name)


def event_entity(
    record_id: str,
    kind: str,
    *,
    status: str | None = None,
    sid: str | None = None,
    detail: str | None = None,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An event row in the record's partition (so it can share a transaction with the record)."""
    moment = now or utcnow()
    entity: dict[str, Any] = {
        "PartitionKey": record_partition(record_id),
        "RowKey": event_row(moment),
        "at": iso(moment),
        "kind": kind,
    }
    optional = {"status": status, "sid": sid, "detail": storable(detail, 4_000) if detail else None}
    entity |= {key: value for key, value in optional.items() if value is not None}
    if params:
        text = json.dumps(dict(params), separators=(",", ":"))
        entity["params"] = text if len(text) <= MAX_PARAMS_CHARS else json.dumps({"truncated": True})
    return entity


def marker_entity(record_id: str, key: str) -> dict[str, Any]:
    """The row that says the delivery named `key` was applied to the record (see `mark_once`)."""
    return {"PartitionKey": record_partition(record_id), "RowKey": _dedupe_row(key)}


def _code(error: Exception) -> str:
    code = getattr(error, "error_code", None)
    return str(getattr(code, "value", code) or "")


def _dedupe_row(key: str) -> str:
    return DEDUPE_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _etag(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("etag")
    return str(value) if value else None


# -- one store per process ---------------------------------------------------------------------------

_lock = threading.Lock()
_stores: dict[tuple[str, str, str], RecordStore] = {}


def get_store(records_table: str, optouts_table: str, **request_options: Any) -> RecordStore:
    """One store (two TableClients) per process, and the tables created once.

    `request_options` apply to creating the tables, the only call made here.
    """
    key = (records_table, optouts_table, os.environ.get(DEFAULT_CONNECTION, ""))
    with _lock:
        store = _stores.get(key)
        if store is None:
            from switchboard.adapters.storage import table_client

            records, optouts = table_client(records_table), table_client(optouts_table)
            for table in (records, optouts):
                _create(table, **request_options)
            store = _stores[key] = RecordStore(records, optouts)
        return store


def reset_stores() -> None:
    """Forget cached clients (tests point the process at a new storage account)."""
    with _lock:
        _stores.clear()


def _create(table: TableClient, **request_options: Any) -> None:
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        table.create_table(**request_options)
