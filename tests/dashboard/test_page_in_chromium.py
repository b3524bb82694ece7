"""GET /api/dashboard through the local host, over seeded Azurite records, in a real headless Chromium.

Chromium is Debian's package (`make test` installs it when it can); Playwright drives it through
`executable_path`, so no browser is downloaded. A screenshot lands in test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.dashboard.seed import record, store
from tests.support import FUNCTION_KEY
from tools.devhost.host import LocalHost
from tools.localmachine import PROJECT_ROOT, free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# A table of its own (RECORDS_TABLE), so that records other tests write do not crowd the page.
TABLE = "dashboard" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make test does, when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        pytest.skip(f"playwright is not installed ({missing}); it comes with requirements-dev.txt")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def seeded(azurite: str) -> dict[str, Any]:
    """A week of calls and messages for one unusual number, plus a hostile record."""
    from switchboard.adapters.storage import table_client

    # Fixed times of day, so that which day a record counts on never depends on when the test runs.
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    noon = today + timedelta(hours=12)
    number = "+1555" + str(uuid.uuid4().int)[:7]
    mark = uuid.uuid4().hex[:6]
    records = [
        record("delivered", created=today + timedelta(minutes=3), to=number, sid=f"SM{mark}0", record_id=f"{mark}-1"),
        record("completed", created=today + timedelta(minutes=2), kind="call", to=number, sid=f"CA{mark}1", seconds=42),
        record("failed", created=noon - timedelta(days=1), to=number, error_code=21211,
               error_message="Invalid 'To' Phone Number"),
        record("no-answer", created=noon - timedelta(days=2), kind="call", to=number),
        record("undelivered", created=noon - timedelta(days=3), to=number, error_code=30003),
        record("unknown", created=noon - timedelta(days=4), kind="call", to=number, error_message="no answer"),
        record("rejected", created=noon - timedelta(days=5), to=number, error_message="opted_out"),
        record("dead_lettered", created=noon - timedelta(days=6), kind="call", to=number),
        record("received", created=today + timedelta(minutes=1), direction="inbound", to="+15005550006", sender=number),
        record("failed", created=today + timedelta(minutes=4), to=number, record_id=f"{mark}-hostile",
               error_message='<img src=x onerror="window.__pwned=1">'),
    ]  # fmt: skip
    store(table_client(TABLE), records)
    return {"number": number, "mark": mark, "records": records}


@pytest.fixture(scope="module")
def host(app, seeded: dict[str, Any]) -> Iterator[LocalHost]:
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as served:
        yield served


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    response = page.goto(url, wait_until="load", timeout=30_000)
    assert response is not None
    assert response.status == 200
    return page, problems


def test_the_dashboard_needs_a_function_key(host: LocalHost, configure) -> None:
    configure(RECORDS_TABLE=TABLE)
    assert requests.get(f"{host.base_url}/dashboard", timeout=10).status_code == 401
    answer = requests.get(f"{host.base_url}/dashboard", headers={"x-functions-key": FUNCTION_KEY}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "nonce-" in answer.headers["Content-Security-Policy"]


@pytest.mark.slow
def test_the_dashboard_in_chromium(browser: Any, host: LocalHost, seeded: dict[str, Any], configure) -> None:
    configure(RECORDS_TABLE=TABLE)
    number, mark = seeded["number"], seeded["mark"]
    page, problems = open_page(browser, f"{host.base_url}/dashboard?code={FUNCTION_KEY}")
    try:
        assert page.title() == "Switchboard · operator"
        # Every seeded record is listed, with its status badge and error.
        for item in seeded["records"]:
            row = page.locator(f'#records tbody tr:has(code:text-is("{item["id"]}"))')
            assert row.count() == 1, item["id"]
            assert row.locator(".badge").inner_text() == item["status"]
        failed = page.locator("#records tbody tr:has-text(\"Invalid 'To' Phone Number\")")
        assert "21211" in failed.locator("td.error").inner_text()
        # The hostile record is shown as text, and nothing ran.
        assert page.evaluate("window.__pwned") is None
        assert '<img src=x onerror="window.__pwned=1">' in page.locator("td.error").all_inner_texts()
        # The chart has a bar segment per status per day, and the legend counts them.
        assert page.locator("#per-day rect").count() == 10  # one segment per status per day
        assert page.locator('#per-day rect[data-status="failed"]').count() == 2  # on two days
        assert page.locator("#per-day rect title").all_text_contents()[-1].endswith("failed: 1")
        legend = dict(item.split() for item in page.locator(".legend li").all_inner_texts())
        assert legend == {
            "received": "1",
            "delivered": "1",
            "completed": "1",
            "no-answer": "1",
            "undelivered": "1",
            "failed": "2",
            "rejected": "1",
            "dead_lettered": "1",
            "unknown": "1",
        }

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # Filtering as you type hides the other rows, in the page, without a request.
        page.fill("#filter", mark)
        visible = page.locator("#records tbody tr:visible")
        assert visible.count() == 3  # two ids and one SID carry the mark
        assert page.inner_text("#shown") == "3"
        page.fill("#filter", "")
        assert page.locator("#records tbody tr:visible").count() == len(seeded["records"])

        # Searching by number asks the server: the number's history, newest first, key kept.
        page.fill('input[name="q"]', number)
        page.click('button[type="submit"]')
        page.wait_for_load_state("load")
        assert "Results for" in page.inner_text("section.records h2")
        assert f"code={FUNCTION_KEY}" in page.url
        rows = page.locator("#records tbody tr")
        assert rows.count() == len(seeded["records"])
        assert rows.first.locator("code").inner_text() == f"{mark}-hostile"

        # Searching by SID finds the one record.
        page.fill('input[name="q"]', f"CA{mark}1")
        page.click('button[type="submit"]')
        page.wait_for_load_state("load")
        assert page.locator("#records tbody tr").count() == 1
        assert page.locator("#records tbody tr .badge").inner_text() == "completed"
        page.screenshot(path=str(ARTIFACTS / "dashboard-search.png"), full_page=True)
    finally:
        page.close()
    assert problems == []  # no CSP violations, no script errors
