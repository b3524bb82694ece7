"""Records seeded into Azurite in the records table's layout (record, SID index, number index rows)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

INVERTED_BASE = 10**16 - 1


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record(
    status: str,
    *,
    created: datetime,
    kind: str = "sms",
    direction: str = "outbound",
    to: str = "+15558675310",
    sender: str = "+15005550006",
    sid: str | None = None,
    error_code: int | None = None,
    error_message: str | None = None,
    seconds: float = 2.5,
    record_id: str | None = None,
) -> dict[str, Any]:
    values = {
        "id": record_id or f"seed-{uuid.uuid4().hex[:12]}", "type": kind, "direction": direction, "status": status,
        "to": to, "from": sender, "sid": sid, "error_code": error_code, "error_message": error_message,
        "created_at": iso(created), "updated_at": iso(created + timedelta(seconds=seconds)), "attempts": 1,
    }  # fmt: skip
    return {key: value for key, value in values.items() if value is not None}


def store(table: Any, records: list[dict[str, Any]]) -> None:
    """Write records as the records module does: the record row, the SID index, the number index."""
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    for item in records:
        entity = {"PartitionKey": f"r:{item['id']}", "RowKey": "record"}
        entity |= {{"to": "to_number", "from": "from_number"}.get(k, k): v for k, v in item.items()}
        table.upsert_entity(entity)
        if item.get("sid"):
            table.upsert_entity({"PartitionKey": f"sid:{item['sid']}", "RowKey": "sid", "record_id": item["id"]})
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        inverted = INVERTED_BASE - int(created.timestamp() * 1_000_000)
        for number in {item.get("to"), item.get("from")} - {None}:
            table.upsert_entity(
                {"PartitionKey": f"n:{number}", "RowKey": f"{inverted:016d}:{item['id']}", "record_id": item["id"]}
            )
