"""The operator page's reader: records through the records store, as plain dicts (the records API's shape).

It reads the index rows switchboard.records writes (see "Records and tables" in docs/operate.md):

| entity       | PartitionKey     | RowKey                 | used for                         |
|--------------|------------------|------------------------|----------------------------------|
| record       | `r:<id>`         | `record`               | lookup by request id             |
| SID index    | `sid:<SID>`      | `sid` (`record_id`)    | lookup by Twilio SID             |
| number index | `n:<E.164>`      | `<inverted µs>:<id>`   | a number's history, newest first |
| day index    | `d:<YYYY-MM-DD>` | `<inverted µs>:<id>`   | recent records, newest first     |
| stale index  | `x:stale`        | `<inverted µs>:<id>`   | records not final after 7 days   |
| scheduled    | `x:scheduled`    | `<inverted µs>:<id>`   | requests waiting to be sent      |

Every read is a point read or a query on one partition. "Recent" reads the day partitions from
today back to the first day asked for, newest first, and stops at `limit` records; index rows hold
only ids, so each record is then point-read (a few fields of it) for its current status.
The store is reached through `RecordsPort`: `RecordStore` over Table Storage in the app, the same
store over an in-memory table in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from typing import Any, Protocol

from switchboard.records.ids import ID_PATTERN
from switchboard.records.model import Record
from switchboard.shared.phones import is_e164

# Statuses that end a record: a stale one that reached one since (a late callback) is no longer listed.
FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled", "delivered", "undelivered", "read",
                   "received", "sent", "rejected", "dead_lettered", "unknown", "expired"})  # fmt: skip
MAX_DAYS = 31  # recent(): never read more day partitions than this (the page shows at most 31 days)
# The Record fields a page row shows: a record's body and request can be 16 K and 30 K characters.
FIELDS = [
    "id", "type", "direction", "status", "to", "from_", "sid", "error_code", "error_message", "reason", "duration",
    "attempts", "created_at", "updated_at", "blobs", "stale", "scheduled_for",
]  # fmt: skip
# The scheduled index keeps a row once the request was sent: read this many rows to find the ones still waiting.
SCHEDULED_SCAN = 200


class RecordReader(Protocol):
    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]: ...

    def search(self, query: str, limit: int) -> list[dict[str, Any]]: ...

    def stale(self, limit: int) -> list[dict[str, Any]]: ...

    def scheduled(self, limit: int) -> list[dict[str, Any]]: ...


class RecordsPort(Protocol):
    """What the reader needs of the records store (switchboard.records.store.RecordStore)."""

    def get(self, record_id: str) -> Record | None: ...

    def record_id_for_sid(self, sid: str) -> str | None: ...

    def get_many(self, record_ids: Iterable[str], fields: list[str] | None = None) -> list[Record]: ...

    def day_ids(self, day: date, since: datetime, limit: int) -> list[str]: ...

    def number_ids(self, number: str, page: int) -> Iterator[str]: ...

    def stale_ids(self, limit: int) -> list[str]: ...

    def scheduled_ids(self, limit: int) -> list[str]: ...


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class StoreRecordReader:
    def __init__(self, store: RecordsPort, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._recent(since, limit)
        except ResourceNotFoundError:  # no record written yet, so no table yet
            return []

    def _recent(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        today = self.clock().astimezone(timezone.utc).date()
        days = min((today - since.astimezone(timezone.utc).date()).days + 1, MAX_DAYS)
        found: list[dict[str, Any]] = []
        for back in range(days):
            wanted = limit - len(found)
            if wanted <= 0:
                break
            ids = self.store.day_ids(today - timedelta(days=back), since, wanted)
            found.extend(record.to_json() for record in self.store.get_many(ids, FIELDS))
        return found[:limit]

    def stale(self, limit: int) -> list[dict[str, Any]]:
        """Records the reconcile timer marked stale and that are still not final, newest first."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            ids = self.store.stale_ids(limit)
        except ResourceNotFoundError:
            return []
        return [record.to_json() for record in self.store.get_many(ids, FIELDS) if record.stale and _open(record)]

    def scheduled(self, limit: int) -> list[dict[str, Any]]:
        """Requests still `scheduled` (waiting for send_at or the end of quiet hours), the soonest first."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            ids = self.store.scheduled_ids(SCHEDULED_SCAN)
        except ResourceNotFoundError:
            return []
        waiting = [
            record for record in self.store.get_many(ids, FIELDS) if record.status == "scheduled" and not record.sid
        ]
        waiting.sort(key=lambda record: record.scheduled_for or "")
        return [record.to_json() for record in waiting[:limit]]

    def get(self, record_id: str) -> dict[str, Any] | None:
        """By request id, else by Twilio SID."""
        record = self.store.get(record_id)
        if record is None:
            owner = self.store.record_id_for_sid(record_id)
            record = self.store.get(owner) if owner else None
        return record.to_json() if record is not None else None

    def by_number(self, number: str, limit: int) -> list[dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            index = list(islice(self.store.number_ids(number, page=limit), limit * 2))
        except ResourceNotFoundError:
            return []
        found: list[dict[str, Any]] = []
        for record_id in index:
            record = self.get(record_id)
            if record is not None:
                found.append(record)
            if len(found) >= limit:
                break
        return found

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        text = query.strip()
        number = "".join(text.split()).replace("-", "")
        if is_e164(number):
            return self.by_number(number, limit)
        # Only what could be a record id or SID reaches a point read: Table Storage answers 400 to keys
        # with `/`, `\\`, `#`, `?` or control characters, and that must not become the page's 503.
        record = self.get(text) if ID_PATTERN.fullmatch(text) else None
        return [record] if record else []


def _open(record: Record) -> bool:
    return record.status not in FINAL
