"""The operator page's reader: records from the records table, as plain dicts (the records API's shape).

It reads the keys switchboard.records writes (see "Records and tables" in docs/operate.md):

| entity       | PartitionKey     | RowKey                 | used for                         |
|--------------|------------------|------------------------|----------------------------------|
| record       | `r:<id>`         | `record`               | lookup by request id             |
| SID index    | `sid:<SID>`      | `sid` (`record_id`)    | lookup by Twilio SID             |
| number index | `n:<E.164>`      | `<inverted µs>:<id>`   | a number's history, newest first |
| day index    | `d:<YYYY-MM-DD>` | `<inverted µs>:<id>`   | recent records, newest first     |

Every read is a point read or a query on one partition (`PartitionKey eq ...`). "Recent" reads the
day partitions from today back to the first day asked for, newest first, and stops at `limit`
records; index rows hold only ids, so each record is then point-read for its current status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.records.ids import ID_PATTERN
from switchboard.records.model import (
    INVERTED_BASE,
    RECORD_ROW,
    SID_ROW,
    day_partition,
    epoch_us,
    number_partition,
    record_partition,
    sid_partition,
)
from switchboard.shared.phones import is_e164

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_DAYS = 31  # recent(): never read more day partitions than this (the page shows at most 31 days)
POINT_READERS = 8  # recent(): point reads in flight at once
# Table property names that differ from the JSON names ("from" is a keyword in several SDKs).
STORED_AS = {"to_number": "to", "from_number": "from"}
FIELDS = [
    "id", "type", "direction", "status", "to_number", "from_number", "sid", "error_code", "error_message",
    "reason", "duration", "attempts", "created_at", "updated_at", "blobs",
]  # fmt: skip


class RecordReader(Protocol):
    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]: ...

    def search(self, query: str, limit: int) -> list[dict[str, Any]]: ...


def as_record(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {STORED_AS.get(key, key): value for key, value in entity.items() if key not in ("PartitionKey", "RowKey")}


def day_filter(day: date, since: datetime) -> tuple[str, dict[str, str]]:
    """One day partition's rows created at or after `since`: its newest rows, as they sort first."""
    newest_allowed = f"{INVERTED_BASE - epoch_us(since):016d};"  # ';' sorts right after the ':' separator
    moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return "PartitionKey eq @pk and RowKey lt @bound", {"pk": day_partition(moment), "bound": newest_allowed}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TableRecordReader:
    def __init__(self, table: TableClient, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.table = table
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
            query, parameters = day_filter(today - timedelta(days=back), since)
            rows = self.table.query_entities(
                query, parameters=parameters, select=["record_id"], results_per_page=min(wanted, 1000)
            )
            ids = [str(row["record_id"]) for _, row in zip(range(wanted), rows, strict=False)]
            found.extend(self._records(ids))
        return found[:limit]

    def _records(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        """Point reads, in order; a record gone since it was indexed is left out."""
        with ThreadPoolExecutor(max_workers=POINT_READERS) as pool:
            entities = list(pool.map(lambda key: self._point(record_partition(key), RECORD_ROW, FIELDS), ids))
        return [as_record(entity) for entity in entities if entity is not None]

    def get(self, record_id: str) -> dict[str, Any] | None:
        """By request id, else by Twilio SID."""
        entity = self._point(record_partition(record_id), RECORD_ROW)
        if entity is None:
            index = self._point(sid_partition(record_id), SID_ROW)
            if index is not None and index.get("record_id"):
                entity = self._point(record_partition(str(index["record_id"])), RECORD_ROW)
        return as_record(entity) if entity is not None else None

    def by_number(self, number: str, limit: int) -> list[dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        rows = self.table.query_entities(
            "PartitionKey eq @pk",
            parameters={"pk": number_partition(number)},
            select=["record_id"],
            results_per_page=limit,
        )
        found: list[dict[str, Any]] = []
        try:
            index = [str(row["record_id"]) for _, row in zip(range(limit * 2), rows, strict=False)]
        except ResourceNotFoundError:
            return []
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

    def _point(self, partition: str, row: str, select: list[str] | None = None) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return dict(self.table.get_entity(partition, row, select=select))
        except ResourceNotFoundError:
            return None
