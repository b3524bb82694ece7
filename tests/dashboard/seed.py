"""Records seeded in the records table's layout (record, SID index, number index rows), on Azurite or the twin."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any


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
    """Write records through the records module's own store: record rows, number index, SID index."""
    from azure.core.exceptions import ResourceExistsError

    from switchboard.records.model import Record
    from switchboard.records.store import RecordStore

    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    writer = RecordStore(table, table)
    for item in records:
        values = {("from_" if key == "from" else key): value for key, value in item.items()}
        writer.claim(Record(**values))
        if item.get("sid"):
            writer.link_sid(item["sid"], item["id"])


def hostile_records(now: datetime) -> list[dict[str, Any]]:
    """Records whose fields hold what an attacker could put in them (they come from webhooks): markup, quotes,
    channel addresses, control characters, very long text; a few per day over the page's longest window."""
    nasty = ["<script>alert(1)</script>", "' or 1 eq 1 or '", '"/><img src=x onerror=alert(1)>', "\x00\x1f\u202e",
             "x" * 5000, "😀", "whatsapp:+15558670001", "client:<b>alice</b>", "sip:a@b;x=<y>"]  # fmt: skip
    statuses = ("failed", "delivered", "queued", "weird-status<i>")
    return [
        record(
            statuses[index % 4], created=now - timedelta(days=index, hours=1), kind=("sms", "call")[index % 2],
            direction=("inbound", "outbound")[index % 2], to=text, sender=text, sid=f"SM{index:032x}",
            error_code=30000 + index, error_message=text, record_id=f"seed:hostile.{index}",
        )
        for index, text in enumerate(nasty * 3)
    ]  # fmt: skip


def twin_store(records: list[dict[str, Any]]) -> Any:
    """A records store over the in-memory table twin, holding `records` as the app's own writes would."""
    from switchboard.records.store import RecordStore
    from tests.tabletwin import TwinAccount

    account = TwinAccount()
    table = account.table("records")
    store(table, records)
    return RecordStore(table, account.table("optouts"))
