"""The operator page's reader: records from the records table, as plain dicts (the records API's shape).

It reads the keys switchboard.records writes (see "Records and tables" in the README):

| entity       | PartitionKey | RowKey                 | used for                         |
|--------------|--------------|------------------------|----------------------------------|
| record       | `r:<id>`     | `record`               | lookup by request id; recent     |
| SID index    | `sid:<SID>`  | `sid` (`record_id`)    | lookup by Twilio SID             |
| number index | `n:<E.164>`  | `<inverted µs>:<id>`   | a number's history, newest first |

Search is point reads or one partition. "Recent" has no time index to read, so it is one filtered
query over record rows (`RowKey eq 'record' and created_at ge <since>`), bounded in rows scanned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.phones import is_e164
from switchboard.records.model import RECORD_ROW, SID_ROW, number_partition, record_partition, sid_partition

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_SCANNED = 5000  # recent(): stop reading after this many record rows
# Table property names that differ from the JSON names ("from" is a keyword in several SDKs).
STORED_AS = {"to_number": "to", "from_number": "from"}
FIELDS = [
    "id", "type", "direction", "status", "to_number", "from_number", "sid", "error_code", "error_message",
    "reason", "duration", "attempts", "created_at", "updated_at",
]  # fmt: skip


class RecordReader(Protocol):
    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]: ...

    def search(self, query: str, limit: int) -> list[dict[str, Any]]: ...


def as_record(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {STORED_AS.get(key, key): value for key, value in entity.items() if key not in ("PartitionKey", "RowKey")}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class TableRecordReader:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._recent(since, limit)
        except ResourceNotFoundError:  # no record written yet, so no table yet
            return []

    def _recent(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        entities = self.table.query_entities(
            "RowKey eq @row and created_at ge @since",
            parameters={"row": RECORD_ROW, "since": iso(since)},
            select=FIELDS,
            results_per_page=min(1000, MAX_SCANNED),
        )
        found: list[dict[str, Any]] = []
        for scanned, entity in enumerate(entities, start=1):
            found.append(as_record(entity))
            if scanned >= MAX_SCANNED:
                break
        found.sort(key=lambda record: str(record.get("created_at") or ""), reverse=True)
        return found[:limit]

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
        record = self.get(text) if text and "'" not in text else None
        return [record] if record else []

    def _point(self, partition: str, row: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return dict(self.table.get_entity(partition, row))
        except ResourceNotFoundError:
            return None
