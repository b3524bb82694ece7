"""The operator page from a reader: read, shape, render. No Azure here; the reader does the I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from switchboard.dashboard.model import Row, daily_counts, rows_of
from switchboard.dashboard.reader import RecordReader
from switchboard.dashboard.render import csp, render_page

DEFAULT_DAYS, MAX_DAYS = 7, 31
LIMIT = 200
STALE_LIMIT = 50
SCHEDULED_LIMIT = 50


@dataclass(frozen=True)
class Page:
    html: str
    headers: dict[str, str]


def parse_days(value: str | None) -> int:
    try:
        days = int(value or DEFAULT_DAYS)
    except ValueError:
        return DEFAULT_DAYS
    return min(max(days, 1), MAX_DAYS)


def build_page(
    reader: RecordReader, *, now: datetime, nonce: str, query: str = "", code: str = "", days: int = 7
) -> Page:
    query = query.strip()[:100]
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    recent = rows_of(reader.recent(since, LIMIT))
    shown = rows_of(reader.search(query, LIMIT)) if query else recent
    chart = daily_counts(recent, today=now.date(), days=days)
    stale = rows_of(reader.stale(STALE_LIMIT))
    scheduled = [Row.of(record) for record in reader.scheduled(SCHEDULED_LIMIT)]  # the soonest first
    body = render_page(
        shown, chart, now=now, nonce=nonce, query=query, code=code, limit=LIMIT, stale=stale, scheduled=scheduled
    )
    headers = {
        "Content-Security-Policy": csp(nonce),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return Page(body, headers)
