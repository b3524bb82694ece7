"""Table Storage adapter for records, events, the SID, number and day indexes, and opt-outs.

The one adapter of the records table: the webhooks, callbacks and the worker write through it,
the records API and the operator page read through it, and retention and erasure delete through it.
Every read-modify-write is guarded by the entity's ETag (`MatchConditions.IfNotModified`)
and retried a bounded number of times when another writer got there first.
Index rows live in partitions of their own (a number's, a day's, a SID's), so no transaction can hold
two of them: they are written, and deleted, concurrently instead (`concurrently`).
The table SDK is imported at first use; one TableClient per table per process.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from switchboard.adapters.storage import DEFAULT_CONNECTION, error_code
from switchboard.records.model import (
    ALIAS_ROW,
    CLAIM_ROW,
    EVENT_PREFIX,
    FINGERPRINT_ROW,
    INVERTED_BASE,
    RECORD_ROW,
    SCHEDULED_PARTITION,
    SID_ROW,
    STALE_PARTITION,
    IndexKey,
    Record,
    alias_partition,
    day_partition,
    epoch_us,
    event_json,
    event_row,
    fingerprint_partition,
    index_keys,
    iso,
    number_partition,
    record_partition,
    sid_partition,
    storable,
    stored_names,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from azure.data.tables import TableClient

log = logging.getLogger("switchboard.records")

UPDATE_ATTEMPTS = 8
MAIL_PREFIX = "mail:"  # rows beside a record: a voicemail e-mail's content, named by its queue message
DEDUPE_PREFIX = "dedupe:"  # rows beside a record's events: webhook deliveries already applied
OUTBOX_PREFIX = "outbox:"  # events waiting to be published (switchboard/records/outbox.py)
OUTBOX_END = "outbox;"  # ';' sorts right after ':'
MAX_PARAMS_CHARS = 30_000  # one table property holds 64 KiB (32 K UTF-16 characters)
IN_FLIGHT = 8  # round trips `concurrently` runs at once, per process
Mutation = Callable[[Record], Record | None]
T = TypeVar("T")


class IndexEntry(NamedTuple):
    """One index row: where it is, and the record it points at."""

    key: IndexKey
    record_id: str


class Forgotten(NamedTuple):
    """What `RecordStore.forget` deleted."""

    events: int  # the record's other rows: events and delivery markers
    index_rows: int
    records: int


class RecordConflict(RuntimeError):
    """Another writer kept winning the ETag race."""


class StaleRecord(RuntimeError):
    """The record changed since the ETag a transaction was guarded by."""


class Finalised(RuntimeError):
    """The id was erased or passed retention: its tombstone says so, and nothing is recorded under it again."""

    def __init__(self, record_id: str) -> None:
        super().__init__(f"record {record_id} was erased or passed retention: nothing is recorded under it again")
        self.record_id = record_id


class RowExists(RuntimeError):
    """A row a transaction meant to create is already there (a marker: this change was already applied)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def fingerprint(raw: bytes, key: bytes) -> str:
    """A queue message's fingerprint: HMAC-SHA256 under the app's key, so no one can confirm a guessed message."""
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def claim_entity(record_id: str) -> dict[str, Any]:
    """The row written with every record (in its transaction): it stays, as the id's tombstone, when the record goes."""
    return {"PartitionKey": record_partition(record_id), "RowKey": CLAIM_ROW}


class RecordStore:
    def __init__(self, records: TableClient, optouts: TableClient, **request_options: Any) -> None:
        self.records = records
        self.optouts = optouts
        # Per-call transport options (e.g. short timeouts and no retries on the webhook path).
        self.options = request_options

    def with_options(self, **request_options: Any) -> RecordStore:
        return RecordStore(self.records, self.optouts, **(self.options | request_options))

    # -- records ---------------------------------------------------------------------------------

    def claim(
        self, record: Record, *rows: dict[str, Any], also: Sequence[Callable[[], object]] = ()
    ) -> tuple[Record, bool]:
        """Create the record (with `rows` of its partition, its first event say) unless its id exists; then index it.

        Two round trips when it is new: one transaction, then every index row at once, and `also`
        alongside them (a STOP's opt-out). Returns (the stored record, whether this call created it).
        When the id exists (a replay, a redelivery, or a run that stopped before its index rows),
        nothing of this call's is written but the stored record's index rows, again, and `also` is not
        run. If the process stops between the two steps, the record has no index rows until that next
        delivery; it can still be read by its id (inbound traffic: its id is its SID).
        """
        for _ in range(2):  # a record erased between the two steps below is claimed once more
            created = self.insert(record, *rows)
            if created is not None:
                self.index(created, *also)
                return created, True
            existing = self.get(record.id)
            if existing is not None:
                self.index(existing)  # a claim cut short before its index rows gets them on the retry
                return existing, False
            if self.finalised(record.id):
                raise Finalised(record.id)
        raise RecordConflict(f"record {record.id} kept appearing and vanishing")

    def insert(self, record: Record, *rows: dict[str, Any]) -> Record | None:
        """Create the record (and `rows` of its partition, events say) in one transaction; None if the id exists.

        Index rows are not written here: the caller writes them with `index`, after the work that must
        come first (a redelivered message writes them again if the first run stopped short).
        """
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import TableTransactionError

        from switchboard.records.outbox import created_event_row

        # The claim row rides along: once the id was erased its tombstone is that row, and this insert fails.
        operations = [("create", record.to_entity()), ("create", claim_entity(record.id))]
        outbox = created_event_row(record)  # issue 24: the arrival, or a record born final, tells its event
        if outbox is not None and not any(str(row.get("RowKey", "")) == outbox["RowKey"] for row in rows):
            operations.append(("create", outbox))
        try:
            results = self.records.submit_transaction([*operations, *(("create", row) for row in rows)], **self.options)
            metadata = results[0]
        except ResourceExistsError:
            return None
        except TableTransactionError as error:
            if error_code(error) == "EntityAlreadyExists":
                return None
            raise
        _wrote([entity for _, entity in operations[2:]] + list(rows))
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
            code = error_code(error)
            if code == "UpdateConditionNotSatisfied":
                raise StaleRecord(f"record {record.id} changed") from error
            if code == "EntityAlreadyExists":
                raise RowExists(f"a row beside record {record.id} already exists") from error
            raise
        _wrote(rows)
        return Record.from_entity(record.to_entity(), etag=_etag(results[0]))

    def append(self, *rows: dict[str, Any]) -> bool:
        """Create rows of one record's partition (a marker and an event) in one transaction; False if one exists."""
        from azure.data.tables import TableTransactionError

        try:
            self.records.submit_transaction([("create", row) for row in rows], **self.options)
        except TableTransactionError as error:
            if error_code(error) == "EntityAlreadyExists":
                return False
            raise
        _wrote(rows)
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

        from switchboard.records.outbox import status_event_row

        for _ in range(UPDATE_ATTEMPTS):
            current = self.get(record_id)
            if current is None:
                return None, False
            changed = mutate(current)
            if changed is None:
                return current, False
            outbox = status_event_row(current, changed)
            if outbox is not None:  # issue 24: a change to a final status and its event in one transaction
                try:
                    return self.commit(replace(changed, etag=current.etag), outbox), True
                except StaleRecord:
                    continue
                except RowExists:
                    pass  # that status's event was written before: write the change alone
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

    def event_count(self, record_id: str, kind: str, at_most: int) -> int:
        """How many of the record's events are of `kind`, counting up to `at_most` (one query, its first page)."""
        query = self.records.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high and kind eq @kind",
            parameters={"pk": record_partition(record_id), "low": EVENT_PREFIX, "high": _after(EVENT_PREFIX),
                        "kind": kind},
            select=["RowKey"], results_per_page=at_most, **self.options,
        )  # fmt: skip
        return sum(1 for _ in islice(query, at_most))

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
        return self._record_id_at(sid_partition(sid), SID_ROW)

    def link_alias(self, alias: str, record_id: str) -> None:
        """Let `alias` find `record_id` on reads. Not a claim: a record later stored under `alias` itself wins."""
        self._point_at(alias_partition(alias), ALIAS_ROW, record_id)

    def record_id_for_alias(self, alias: str) -> str | None:
        return self._record_id_at(alias_partition(alias), ALIAS_ROW)

    def remember_fingerprint(self, digest: str, record_id: str) -> None:
        """`digest`: `fingerprint(raw, key)`. The record names it (`Record.fingerprint`): the row goes with it."""
        self._point_at(fingerprint_partition(digest), FINGERPRINT_ROW, record_id)

    def record_id_for_fingerprint(self, digest: str) -> str | None:
        return self._record_id_at(fingerprint_partition(digest), FINGERPRINT_ROW)

    def _point_at(self, partition: str, row: str, record_id: str) -> None:
        """A pointer row (alias, fingerprint) naming `record_id`, written whatever it said before."""
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": partition, "RowKey": row, "record_id": record_id}
        self.records.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)

    def _record_id_at(self, partition: str, row: str) -> str | None:
        value = self._point(partition, row, "record_id")
        return str(value) if value else None

    # -- rows the internal queues name (a voicemail e-mail): the queue carries ids, the content lives here --------

    def keep_mail(self, record_id: str, mail_id: str, fields: Mapping[str, str]) -> None:
        """The e-mail `mail_id` beside its record: erased with it, and all a queue message can make the app send."""
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": record_partition(record_id), "RowKey": MAIL_PREFIX + mail_id, **fields}
        self.records.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)

    def mail_of(self, record_id: str, mail_id: str) -> dict[str, str] | None:
        """What `keep_mail` kept, or None (never written, or erased with its record)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self.records.get_entity(record_partition(record_id), MAIL_PREFIX + mail_id, **self.options)
        except ResourceNotFoundError:
            return None
        return {str(key): str(value) for key, value in entity.items() if key not in ("PartitionKey", "RowKey")}

    # -- tombstones ----------------------------------------------------------------------------------

    def finalised(self, record_id: str) -> bool:
        """Whether the id was erased or passed retention (its claim row is a tombstone)."""
        return self._point(record_partition(record_id), CLAIM_ROW, "finalised_at") is not None

    def seal(self, record_id: str, *, how: str, now: datetime, content_mac: str | None = None) -> None:
        """Make the id's claim row its tombstone, before anything of the record is deleted.

        It holds no personal data: when, how (`erasure` | `retention`), and a keyed hash of what was asked.
        """
        from azure.data.tables import UpdateMode

        entity = claim_entity(record_id) | {"finalised_at": iso(now), "how": how}
        if content_mac:
            entity["content_mac"] = content_mac
        self.records.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)

    def history(self, number: str, limit: int) -> list[Record]:
        """A number's records, newest first: the top rows of one partition, then point reads."""
        found: list[Record] = []
        for record_id in self.number_ids(number, page=limit):
            record = self.get(record_id)
            if record is not None:
                found.append(record)
            if len(found) >= limit:
                break
        return found

    def index(self, record: Record, *also: Callable[[], object]) -> None:
        """Write the record's index rows (`index_keys`), all at once; `also` runs alongside them.

        Index rows hold only the record id: status and the rest change after creation, so readers
        point-read the record itself (bounded by how many they show) instead of trusting a stale copy.
        A row already there stays as it is: a retried claim indexes again, and a SID row that points
        at another record is not taken over.
        """
        concurrently([*self.index_writes(record), *also])

    def index_writes(self, record: Record) -> list[Callable[[], None]]:
        """The writes of `index`, one per row, not yet sent: a caller can send them alongside its own round trip."""
        from azure.core.exceptions import ResourceExistsError

        def create(key: IndexKey) -> Callable[[], None]:
            def write() -> None:
                entity = {"PartitionKey": key.partition, "RowKey": key.row, "record_id": record.id}
                with contextlib.suppress(ResourceExistsError):
                    self.records.create_entity(entity, **self.options)

            return write

        return [create(key) for key in index_keys(record)]

    # -- reads for the operator page ------------------------------------------------------------------

    def get_many(self, record_ids: Iterable[str], fields: list[str] | None = None) -> list[Record]:
        """Point reads of several records at once, in order; a record gone since it was indexed is left out.

        With `fields`, only those Record fields are read (the others are None): a page of records
        need not carry every body and request.
        """
        from azure.core.exceptions import ResourceNotFoundError

        select = stored_names(fields) if fields else None

        def read(record_id: str) -> Callable[[], Record | None]:
            def point() -> Record | None:
                try:
                    entity = self.records.get_entity(record_partition(record_id), RECORD_ROW, select=select,
                                                     **self.options)  # fmt: skip
                except ResourceNotFoundError:
                    return None
                return Record.from_entity(entity, etag=_etag(entity.metadata))

            return point

        return [record for record in concurrently([read(key) for key in record_ids]) if record is not None]

    def day_ids(self, day: date, since: datetime, limit: int) -> list[str]:
        """Ids from one day's index rows created at or after `since`, newest first, at most `limit`."""
        newest_allowed = f"{INVERTED_BASE - epoch_us(since):016d};"  # ';' sorts right after the ':' separator
        moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        parameters = {"pk": day_partition(moment), "bound": newest_allowed}
        rows = self.records.query_entities(
            "PartitionKey eq @pk and RowKey lt @bound", parameters=parameters, select=["record_id"],
            results_per_page=min(limit, 1000), **self.options,
        )  # fmt: skip
        return [str(row["record_id"]) for _, row in zip(range(limit), rows, strict=False)]

    def stale_ids(self, limit: int) -> list[str]:
        """Ids from the stale index (records still not final 7 days after they were created), newest first."""
        return self._partition_ids(STALE_PARTITION, limit)

    def scheduled_ids(self, limit: int) -> list[str]:
        """Ids from the scheduled index (requests that were ever `scheduled`), newest first."""
        return self._partition_ids(SCHEDULED_PARTITION, limit)

    def _partition_ids(self, partition: str, limit: int) -> list[str]:
        rows = self.records.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition}, select=["record_id"],
            results_per_page=min(limit, 1000), **self.options,
        )  # fmt: skip
        return [str(row["record_id"]) for _, row in zip(range(limit), rows, strict=False)]

    def number_ids(self, number: str, page: int) -> Iterator[str]:
        """Ids from a number's index rows, newest first, read `page` rows at a time as the caller goes."""
        rows = self.records.query_entities(
            "PartitionKey eq @pk", parameters={"pk": number_partition(number)}, results_per_page=page,
            select=["record_id"], **self.options,
        )  # fmt: skip
        return (str(row["record_id"]) for row in rows)

    # -- deleting: retention and erasure -------------------------------------------------------------

    def index_entries(self, partition: str, limit: int) -> list[IndexEntry]:
        """The first `limit` rows of one index partition (a number's); none when there is no table yet."""
        return self._entries("PartitionKey eq @pk", {"pk": partition}, limit)

    def day_entries_before(self, first_kept: date, limit: int) -> list[IndexEntry]:
        """Day index rows of the days before `first_kept`, oldest day first, at most `limit`."""
        moment = datetime(first_kept.year, first_kept.month, first_kept.day, tzinfo=timezone.utc)
        return self._entries("PartitionKey ge @low and PartitionKey lt @high",
                             {"low": "d:", "high": day_partition(moment)}, limit)  # fmt: skip

    def forget(self, record_id: str, *, keep: IndexKey | None = None) -> Forgotten:
        """Delete a record and every row hanging off it, except `keep` (the index row a sweep walks from)
        and its claim row (the tombstone `seal` made of it).

        Its events and delivery markers, its index rows (`index_keys`, the rule that wrote them; the
        SID row only if it points at this record), and last the record row itself, so that a run cut
        short finds the record again next time (every delete is idempotent).
        """
        from azure.core.exceptions import ResourceNotFoundError

        record = self.get(record_id)
        partition = record_partition(record_id)
        rows: list[str] = []
        with contextlib.suppress(ResourceNotFoundError):
            query = self.records.query_entities("PartitionKey eq @pk", parameters={"pk": partition},
                                                select=["RowKey"], **self.options)  # fmt: skip
            rows = [str(entity["RowKey"]) for entity in query]
        events = sum(self._delete(IndexKey(partition, row)) for row in rows if row not in (RECORD_ROW, CLAIM_ROW))
        if record is None:
            return Forgotten(events, 0, 0)
        keys = [key for key in index_keys(record) if key != keep]
        sid_key = IndexKey(sid_partition(record.sid), SID_ROW) if record.sid else None
        if sid_key in keys and self.record_id_for_sid(record.sid or "") != record_id:
            keys.remove(sid_key)  # another record holds the SID: its row stays
        if record.fingerprint and self.record_id_for_fingerprint(record.fingerprint) == record_id:
            keys.append(IndexKey(fingerprint_partition(record.fingerprint), FINGERPRINT_ROW))  # else another's
        deleted = concurrently([_bind(self._delete, key) for key in keys])
        return Forgotten(events, sum(deleted), int(self._delete(IndexKey(partition, RECORD_ROW))))

    def drop_index_row(self, key: IndexKey) -> bool:
        """Delete one index row (the one a sweep walked from, once its record is gone)."""
        return self._delete(key)

    def delete_opt_out(self, number: str) -> None:
        """The number's opt-out row and its unpublished opt-out events (they name the number)."""
        for row in self.outbox_rows(number, optouts=True):
            self.drop_outbox(number, str(row["RowKey"]), optouts=True)
        self.optouts.delete_entity(number, "optout", **self.options)

    def add_audit(self, entity: dict[str, Any]) -> None:
        """Write an audit row (erasure: when, how much, a salted hash; never the number)."""
        self.records.create_entity(entity, **self.options)

    def _entries(self, query: str, parameters: dict[str, str], limit: int) -> list[IndexEntry]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            page = self.records.query_entities(
                query, parameters=parameters, results_per_page=limit, select=["PartitionKey", "RowKey", "record_id"],
                **self.options,
            )  # fmt: skip
            return [
                IndexEntry(IndexKey(str(e["PartitionKey"]), str(e["RowKey"])), str(e.get("record_id") or ""))
                for _, e in zip(range(limit), page, strict=False)
            ]
        except ResourceNotFoundError:
            return []

    def _delete(self, key: IndexKey) -> bool:
        """Delete one row; the SDK treats a row already gone as deleted, so this says True for it too."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.records.delete_entity(key.partition, key.row, **self.options)
        except ResourceNotFoundError:
            return False
        return True

    # -- opt-outs ----------------------------------------------------------------------------------

    def is_opted_out(self, number: str) -> bool:
        return bool(self._point(number, "optout", "opted_out", table=self.optouts))

    def set_opt_out(
        self,
        number: str,
        opted_out: bool,
        *,
        keyword: str,
        via: str | None,
        now: datetime,
        message_sid: str = "",
        source_id: str | None = None,
    ) -> bool:
        """Opt the number out (or back in); returns whether its state changed.

        A change writes its `switchboard.optout.added|removed` event (`optout_event_row`) in the same
        transaction as the opt-out row (both in the number's partition of the opt-outs table); the same
        state again (a second STOP) only refreshes the row. `source_id` names what made the change (default
        `message_sid`): the event's id is `<source_id>:optout.added|removed`.
        """
        from azure.data.tables import UpdateMode

        from switchboard.records.outbox import optout_event_row

        entity = {
            "PartitionKey": number,
            "RowKey": "optout",
            "opted_out": opted_out,
            "keyword": keyword,
            "via": via or "",
            "message_sid": message_sid,
            "updated_at": iso(now),
        }
        was = bool(self._point(number, "optout", "opted_out", table=self.optouts))
        if was == opted_out:
            self.optouts.upsert_entity(entity, mode=UpdateMode.REPLACE, **self.options)
            return False
        source = source_id or message_sid or f"optout-{epoch_us(now)}"
        event = optout_event_row(number, opted_out, source_id=source, keyword=keyword, via=via, at=now)
        operations: list[Any] = [("upsert", entity, {"mode": UpdateMode.REPLACE}), ("create", event)]
        self.optouts.submit_transaction(operations, **self.options)
        _wrote([event], optouts=True)
        return True

    # -- the outbox (issue 24): events waiting to be published --------------------------------------------

    def outbox_rows(self, partition: str, *, optouts: bool = False) -> list[dict[str, Any]]:
        """The pending outbox rows of one partition (a record's, or a number's in the opt-outs table), oldest first."""
        table = self.optouts if optouts else self.records
        query = table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": partition, "low": OUTBOX_PREFIX, "high": OUTBOX_END}, **self.options,
        )  # fmt: skip
        return [dict(row) for row in query]

    def pending_outbox(self, *, optouts: bool = False, page: int = 100) -> Iterator[dict[str, Any]]:
        """Every pending outbox row of a table, as the server finds them (a scan: the republish timer's read)."""
        table = self.optouts if optouts else self.records
        return (dict(row) for row in table.query_entities(
            "RowKey ge @low and RowKey lt @high", parameters={"low": OUTBOX_PREFIX, "high": OUTBOX_END},
            results_per_page=page, **self.options,
        ))  # fmt: skip

    def drop_outbox(self, partition: str, row: str, *, optouts: bool = False) -> None:
        """A published event's row goes (a row already gone is fine: two publishers raced)."""
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            (self.optouts if optouts else self.records).delete_entity(partition, row, **self.options)

    def drop_outbox_rows(self, partition: str, rows: Sequence[str], *, optouts: bool = False) -> None:
        """Published events' rows of one partition, in one transaction (one by one if another publisher raced)."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        table = self.optouts if optouts else self.records
        try:
            if len(rows) > 1:
                table.submit_transaction([("delete", {"PartitionKey": partition, "RowKey": row}) for row in rows],
                                         **self.options)  # fmt: skip
                return
        except (TableTransactionError, ResourceNotFoundError):
            pass  # one is gone already: delete the others on their own
        for row in rows:
            self.drop_outbox(partition, row, optouts=optouts)

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


def _after(prefix: str) -> str:
    """The first key past every key starting with `prefix` (for a range query)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _dedupe_row(key: str) -> str:
    return DEDUPE_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _etag(metadata: Mapping[str, Any]) -> str | None:
    value = metadata.get("etag")
    return str(value) if value else None


def _bind(call: Callable[[IndexKey], T], key: IndexKey) -> Callable[[], T]:
    return lambda: call(key)


# -- the outbox journal: the event rows this context wrote, for the publish right after the write -----------------

_journal: contextvars.ContextVar[list[Written] | None] = contextvars.ContextVar("outbox_journal", default=None)


class Written(NamedTuple):
    """An outbox row a write made: its table (opt-outs or records) and the row itself."""

    optouts: bool
    row: dict[str, Any]


@contextlib.contextmanager
def outbox_journal() -> Iterator[list[Written]]:
    """Collect the outbox rows written inside the block (also by `concurrently`'s calls, which share the list)."""
    written: list[Written] = []
    token = _journal.set(written)
    try:
        yield written
    finally:
        _journal.reset(token)


def _wrote(rows: Iterable[Mapping[str, Any]], *, optouts: bool = False) -> None:
    journal = _journal.get()
    if journal is not None:
        journal.extend(
            Written(optouts, dict(row)) for row in rows if str(row.get("RowKey", "")).startswith(OUTBOX_PREFIX)
        )


# -- round trips at once ------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run independent round trips at once; their results in order. One call runs on the caller's thread.

    Waits for all of them; then raises the first error, if any (a half-written set of index rows is
    written again by the next delivery). Each call runs in a copy of the caller's context, so its
    telemetry spans stay under the caller's. Never call this from inside a call it runs.
    """
    from concurrent.futures import wait

    if len(calls) <= 1:
        return [call() for call in calls]
    pool = _executor()
    futures = [pool.submit(contextvars.copy_context().run, call) for call in calls]
    wait(futures)
    return [future.result() for future in futures]


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="records")
        return _pool


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
