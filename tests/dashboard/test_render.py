"""The operator page's pure parts: rows, daily counts, and HTML that escapes everything."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from switchboard.dashboard.model import Row, daily_counts, format_elapsed, outcome, rows_of
from switchboard.dashboard.page import build_page, parse_days
from switchboard.dashboard.render import render_page
from tests.dashboard.seed import record

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
HOSTILE = '<img src=x onerror="alert(1)">&"\''


class ListReader:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.asked: list[tuple[str, object]] = []

    def recent(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        self.asked.append(("recent", since))
        return [r for r in self.records if r["created_at"] >= since.isoformat().replace("+00:00", "Z")][:limit]

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        self.asked.append(("search", query))
        return [r for r in self.records if query in (r["id"], r.get("sid"), r.get("to"), r.get("from"))][:limit]

    def stale(self, limit: int) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("stale")][:limit]

    def scheduled(self, limit: int) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "scheduled"][:limit]


def test_rows_are_newest_first_with_errors_and_timing() -> None:
    rows = rows_of(
        [
            record("queued", created=NOW - timedelta(hours=2), record_id="old"),
            record(
                "failed", created=NOW, record_id="new", error_code=21211, error_message="Invalid 'To'", seconds=0.25
            ),
        ]
    )
    assert [row.id for row in rows] == ["new", "old"]
    assert rows[0].error == "21211 Invalid 'To'"
    assert format_elapsed(rows[0].elapsed) == "250 ms"
    assert (outcome("delivered"), outcome("no-answer"), outcome("unknown"), outcome("ringing")) == (
        "ok", "failed", "unknown", "pending",
    )  # fmt: skip


def test_daily_counts_cover_every_day_oldest_first() -> None:
    rows = rows_of(
        [
            record("delivered", created=NOW),
            record("delivered", created=NOW - timedelta(minutes=5)),
            record("failed", created=NOW - timedelta(days=2)),
            record("completed", created=NOW - timedelta(days=30)),  # outside the window
        ]
    )
    days = daily_counts(rows, today=NOW.date(), days=3)
    assert [(d.day, dict(d.counts)) for d in days] == [
        (date(2026, 11, 25), {"failed": 1}),
        (date(2026, 11, 26), {}),
        (date(2026, 11, 27), {"delivered": 2}),
    ]


def test_every_record_value_is_escaped() -> None:
    hostile = record(HOSTILE, created=NOW, record_id="x", to=HOSTILE, sender=HOSTILE, sid=HOSTILE,
                     error_message=HOSTILE)  # fmt: skip
    hostile["type"] = hostile["direction"] = HOSTILE
    rows = rows_of([hostile])
    page = render_page(rows, daily_counts(rows, today=NOW.date(), days=2), now=NOW, nonce="n0nce", query=HOSTILE,
                       code=HOSTILE)  # fmt: skip
    assert "<img" not in page
    assert 'onerror="' not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&quot;&#x27;" in page
    # Only our own two elements carry the nonce; nothing else can run or style.
    assert page.count('nonce="n0nce"') == 2
    assert len(re.findall(r"<script", page)) == 1


def test_the_page_searches_and_charts_through_the_reader() -> None:
    reader = ListReader(
        [
            record("delivered", created=NOW - timedelta(hours=1), record_id="a", to="+15550001111"),
            record("failed", created=NOW - timedelta(days=1), record_id="b", sid="SM" + "1" * 32),
            record("completed", created=NOW - timedelta(days=20), record_id="too-old", kind="call"),
        ]
    )
    page = build_page(reader, now=NOW, nonce="abc", days=7)
    assert reader.asked == [("recent", datetime(2026, 11, 21, tzinfo=timezone.utc))]
    assert 'data-status="delivered"' in page.html
    assert 'data-status="failed"' in page.html
    assert "too-old" not in page.html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'nonce-abc'")
    assert page.headers["Cache-Control"] == "no-store"

    found = build_page(reader, now=NOW, nonce="abc", query=" SM" + "1" * 32 + " ", code="k1")
    assert ("search", "SM" + "1" * 32) in reader.asked
    assert "Results for “SM111" in found.html
    assert '<input type="hidden" name="code" value="k1">' in found.html
    assert found.html.count("<tr data-outcome") == 1


def test_days_are_bounded() -> None:
    assert [parse_days(v) for v in (None, "", "3", "0", "400", "x")] == [7, 7, 3, 1, 31, 7]


def test_an_empty_table_renders() -> None:
    page = render_page([], daily_counts([], today=NOW.date(), days=7), now=NOW, nonce="n")
    assert "No records." in page
    assert "nothing in this period" in page
    assert isinstance(Row.of({}).status, str)


def test_stale_records_have_their_own_escaped_section() -> None:
    stale = record("queued", created=NOW - timedelta(days=8), record_id=HOSTILE, sid="SM" + "9" * 32)
    page = build_page(ListReader([{**stale, "stale": True}]), now=NOW, nonce="n", days=1)
    assert '<section class="stale"><h2>Stale: 1 record not final 7 days after it was created</h2>' in page.html
    assert HOSTILE not in page.html
    assert "&lt;img src=x" in page.html
    assert '<section class="stale">' not in build_page(ListReader([]), now=NOW, nonce="n").html


def test_scheduled_requests_are_listed_soonest_first_with_an_escaped_cancel_button() -> None:
    waiting = {**record("scheduled", created=NOW, record_id=HOSTILE), "scheduled_for": "2026-11-28T13:00:00.000000Z"}
    page = build_page(ListReader([waiting]), now=NOW, nonce="n", days=1, code="k")
    assert '<section class="scheduled"><h2>Scheduled: 1 request waiting</h2>' in page.html
    assert '<time datetime="2026-11-28T13:00:00Z">2026-11-28 13:00:00</time>' in page.html
    assert HOSTILE not in page.html
    escaped = html.escape(HOSTILE, quote=True)
    assert f'<button type="button" class="cancel" data-id="{escaped}">Cancel</button>' in page.html
    # The button posts JSON to the page's own route and nowhere else; a confirmation comes first.
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    assert "confirm('Cancel request '+id+'? It will not be sent.')" in page.html
    assert "method:'POST'" in page.html
    assert "body:JSON.stringify({cancel:id})" in page.html
    assert '<section class="scheduled">' not in build_page(ListReader([]), now=NOW, nonce="n").html


def test_an_error_code_shows_its_reason_and_remedy_next_to_it() -> None:
    landline = record("undelivered", created=NOW, record_id="l", error_code=30006, error_message="Landline")
    unexplained = record("failed", created=NOW - timedelta(minutes=1), record_id="u", error_code=12345)
    html = render_page(rows_of([landline, unexplained]), [], now=NOW, nonce="n")
    cells = re.findall(r'<td class="error">.*?</td>', html)
    assert cells == [
        '<td class="error">30006 Landline<br><small class="remedy"><b>landline or unreachable carrier</b>: '
        "SMS cannot reach this number; call it instead</small></td>",
        '<td class="error">12345</td>',
    ]
    search = "l  +15558675310 +15005550006 undelivered sms outbound 30006 landline landline or unreachable carrier"
    assert f'data-search="{search}"' in html  # the page's filter finds it by its reason too
