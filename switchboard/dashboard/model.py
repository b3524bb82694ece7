"""Pure: the operator page's view of records (plain dicts, as the records API returns them) and daily counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from switchboard.shared.reasons import reason_for

SUCCEEDED = frozenset({"delivered", "completed", "sent", "read", "received"})
FAILED = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled", "rejected", "dead_lettered", "expired"})
UNKNOWN = frozenset({"unknown"})
# Status order in legends and stacked bars: the lifecycle first, then outcomes.
STATUS_ORDER = (
    "scheduled", "accepted", "queued", "initiated", "ringing", "in-progress", "sending", "receiving", "received",
    "sent", "delivered", "read", "completed", "busy", "no-answer", "canceled", "undelivered", "failed", "rejected",
    "dead_lettered", "expired", "unknown",
)  # fmt: skip


def outcome(status: str) -> str:
    """The colour family of a status: ok, failed, unknown, or pending."""
    if status in SUCCEEDED:
        return "ok"
    if status in FAILED:
        return "failed"
    if status in UNKNOWN:
        return "unknown"
    return "pending"


def status_rank(status: str) -> tuple[int, str]:
    return (STATUS_ORDER.index(status), "") if status in STATUS_ORDER else (len(STATUS_ORDER), status)


def parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Row:
    """One record as the page shows it."""

    id: str
    type: str
    direction: str
    status: str
    to: str
    from_: str
    sid: str
    error: str
    created_at: datetime | None
    updated_at: datetime | None
    duration: int | None
    media: tuple[str, ...] = ()  # file names of the record's blobs in the user's storage (RE….wav, ME….png)
    scheduled_for: datetime | None = None  # when a `scheduled` request will be tried
    # What the Twilio error code means and what to do about it (switchboard/shared/reasons.py); "" without one.
    error_reason: str = ""
    error_remedy: str = ""

    @property
    def outcome(self) -> str:
        return outcome(self.status)

    @property
    def elapsed(self) -> timedelta | None:
        """Time from the request to its latest status."""
        if self.created_at and self.updated_at and self.updated_at >= self.created_at:
            return self.updated_at - self.created_at
        return None

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Row:
        code, message = record.get("error_code"), record.get("error_message") or record.get("reason")
        error = " ".join(str(part) for part in (code, message) if part not in (None, ""))
        duration = record.get("duration")
        explained = reason_for(code)
        return cls(
            id=str(record.get("id") or ""),
            type=str(record.get("type") or ""),
            direction=str(record.get("direction") or ""),
            status=str(record.get("status") or "unknown"),
            to=str(record.get("to") or ""),
            from_=str(record.get("from") or ""),
            sid=str(record.get("sid") or ""),
            error=error,
            created_at=parse_time(record.get("created_at")),
            updated_at=parse_time(record.get("updated_at")),
            duration=int(duration) if isinstance(duration, int | str) and str(duration).isdigit() else None,
            media=_media_names(record.get("blobs")),
            scheduled_for=parse_time(record.get("scheduled_for")),
            error_reason=explained.reason if explained else "",
            error_remedy=explained.remedy if explained else "",
        )


def _media_names(value: object) -> tuple[str, ...]:
    """The file names of a record's stored blobs (`<id>/<file>`), from the JSON list the record keeps."""
    import json

    names = value
    if isinstance(value, str):
        try:
            names = json.loads(value)
        except ValueError:
            return ()
    if not isinstance(names, list):
        return ()
    return tuple(str(name).rsplit("/", 1)[-1] for name in names if isinstance(name, str))


def rows_of(records: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows newest first."""
    rows = [Row.of(record) for record in records]
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(rows, key=lambda row: row.created_at or oldest, reverse=True)


@dataclass(frozen=True)
class Day:
    day: date
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def daily_counts(rows: Sequence[Row], *, today: date, days: int) -> list[Day]:
    """Counts per status for each of the last `days` days (UTC), oldest first, empty days included."""
    first = today - timedelta(days=days - 1)
    per_day: dict[date, Counter[str]] = {first + timedelta(days=i): Counter() for i in range(days)}
    for row in rows:
        if row.created_at is not None:
            day = row.created_at.astimezone(timezone.utc).date()
            if day in per_day:
                per_day[day][row.status] += 1
    return [
        Day(day, dict(sorted(counts.items(), key=lambda item: status_rank(item[0])))) for day, counts in per_day.items()
    ]


def format_elapsed(delta: timedelta | None) -> str:
    if delta is None:
        return ""
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
