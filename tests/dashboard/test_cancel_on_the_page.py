"""The operator page's Scheduled list and its cancel button, through the local host over Azurite (and Chromium)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tests.dashboard.test_page_in_chromium import browser, open_page  # noqa: F401 (browser: a fixture)
from tests.support import FUNCTION_KEY
from tools.devhost.host import LocalHost
from tools.localmachine import free_port

TABLE = "scheduled" + uuid.uuid4().hex[:12]


def seed_scheduled(*ids: str) -> None:
    from azure.core.exceptions import ResourceExistsError

    from switchboard.adapters.storage import table_client
    from switchboard.records.model import Record, iso
    from switchboard.records.store import RecordStore

    table = table_client(TABLE)
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    store = RecordStore(table, table)
    now = datetime.now(timezone.utc)
    for hours, record_id in enumerate(ids, start=1):
        store.claim(Record(
            id=record_id, type="sms", direction="outbound", status="scheduled", created_at=iso(now),
            updated_at=iso(now), to="+12125550123", from_="+15005550006", body="later",
            scheduled_for=iso(now + timedelta(hours=hours)),
        ))  # fmt: skip


def status_of(record_id: str) -> str:
    from switchboard.adapters.storage import table_client
    from switchboard.records.store import RecordStore

    table = table_client(TABLE)
    stored = RecordStore(table, table).get(record_id)
    assert stored is not None
    return stored.status


@pytest.fixture
def host(app, azurite: str, configure) -> Iterator[LocalHost]:
    configure(RECORDS_TABLE=TABLE)
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as served:
        yield served


def test_the_page_lists_scheduled_requests_and_its_own_route_cancels_one_with_the_key_only(host: LocalHost) -> None:
    first, second, third = (f"s-{uuid.uuid4().hex[:8]}" for _ in range(3))
    seed_scheduled(first, second, third)
    page = requests.get(f"{host.base_url}/dashboard", params={"code": FUNCTION_KEY}, timeout=10)
    assert page.status_code == 200
    assert page.text.index(f'data-id="{first}"') < page.text.index(f'data-id="{second}"')  # the soonest first
    url = f"{host.base_url}/dashboard"
    keyed = {"code": FUNCTION_KEY}
    assert requests.post(url, json={"cancel": first}, timeout=10).status_code == 401
    foreign = requests.post(url, params=keyed, json={"cancel": first}, headers={"Origin": "https://evil.example"},
                            timeout=10)  # fmt: skip
    assert foreign.status_code == 403
    form = requests.post(url, params=keyed, data={"cancel": first}, timeout=10)  # what a cross-site form can send
    assert form.status_code == 415
    assert status_of(first) == "scheduled"
    done = requests.post(url, params=keyed, json={"cancel": first}, timeout=10)
    assert (done.status_code, done.json()) == (200, {"id": first, "status": "canceled"})
    assert status_of(first) == "canceled"
    assert requests.post(url, params=keyed, json={"cancel": "nope-" + first}, timeout=10).status_code == 404
    assert requests.post(url, params=keyed, json={"stop": first}, timeout=10).status_code == 400
    # The API route answers alike.
    api = requests.delete(f"{host.base_url}/outbound/{second}", params=keyed, timeout=10)
    assert (api.status_code, api.json()) == (200, {"id": second, "status": "canceled"})
    page = requests.get(url, params=keyed, timeout=10)
    assert f'data-id="{first}"' not in page.text
    assert f'data-id="{third}"' in page.text


@pytest.mark.slow
def test_the_cancel_button_asks_first_and_then_cancels(browser: Any, host: LocalHost) -> None:  # noqa: F811
    kept, canceled = f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    seed_scheduled(kept, canceled)
    page, problems = open_page(browser, f"{host.base_url}/dashboard?code={FUNCTION_KEY}")
    try:
        asked: list[str] = []

        def dismiss(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        page.click(f'button.cancel[data-id="{kept}"]')
        assert asked == [f"Cancel request {kept}? It will not be sent."]
        assert status_of(kept) == "scheduled"
        page.once("dialog", lambda dialog: dialog.accept())
        page.click(f'button.cancel[data-id="{canceled}"]')
        page.wait_for_selector(f'#scheduled tr[data-id="{canceled}"] .outcome:text-is("canceled")', timeout=10_000)
        assert status_of(canceled) == "canceled"
        assert status_of(kept) == "scheduled"
    finally:
        page.close()
    assert problems == []  # no CSP violations, no script errors


def test_the_function_itself_takes_only_json_whatever_the_host_lets_through(app, azurite: str, configure) -> None:
    """Azure's host, unlike the local one, hands any body over: a form's text/plain "JSON" is refused here."""
    from tests.support import PUBLIC_BASE_URL, function, http_request

    configure(RECORDS_TABLE=TABLE)
    record_id = f"s-{uuid.uuid4().hex[:8]}"
    seed_scheduled(record_id)
    body = ('{"cancel": "' + record_id + '"}').encode()
    for kind in ("text/plain", "application/x-www-form-urlencoded", ""):
        request = http_request("POST", f"{PUBLIC_BASE_URL}/api/dashboard", headers={"Content-Type": kind}, body=body)
        assert function(app, "dashboard")(request).status_code == 415
    assert status_of(record_id) == "scheduled"
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/dashboard", body=body,
                           headers={"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert function(app, "dashboard")(request).status_code == 200
    assert status_of(record_id) == "canceled"
