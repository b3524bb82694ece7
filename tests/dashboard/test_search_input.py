"""Issue 11 point 9: the operator page's search answers 200 (or 400), never 5xx, whatever is typed.

The page reads through the reader port: over the in-memory table twin for every input (the twin refuses
the keys Table Storage refuses, with the same 400), and once over Azurite with the real reader.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from switchboard.dashboard.reader import StoreRecordReader
from tests.dashboard.seed import hostile_records, record, store, twin_store
from tests.support import PUBLIC_BASE_URL, function, http_request

HOSTILE = [
    "/",
    "a/b",
    "+1555/8675310",
    "%",
    "%2F",
    "100%",
    "'",
    '"',
    "' or 1 eq 1 or '",
    "\\",
    "#",
    "?",
    "x" * 5000,
    "\x00",
    "\x1f\x7f",
    "ab\ncd",
    "\u202eevil",
    "😀",
    "SM' or PartitionKey ne '",
]
NOW = datetime.now(timezone.utc)


def search(app, query: str):
    url = f"{PUBLIC_BASE_URL}/api/dashboard?q={quote(query, safe='')}"
    return function(app, "dashboard")(http_request("GET", url))


@pytest.fixture
def on_the_twin(monkeypatch: pytest.MonkeyPatch) -> StoreRecordReader:
    reader = StoreRecordReader(twin_store(hostile_records(NOW)))
    monkeypatch.setattr("switchboard.functions.dashboard.reader_for", lambda settings: reader)
    return reader


@pytest.mark.parametrize("query", HOSTILE)
def test_any_search_input_answers_200_or_400(app, on_the_twin: StoreRecordReader, query: str) -> None:
    response = search(app, query)
    assert response.status_code in (200, 400), (query, response.status_code, response.get_body()[:200])


def test_the_twin_refuses_a_key_as_table_storage_does(on_the_twin: StoreRecordReader) -> None:
    """What makes the test above worth running on the twin: a point read with a hostile key fails there too."""
    from azure.core.exceptions import HttpResponseError

    assert on_the_twin.get("seed:hostile.1") is not None
    with pytest.raises(HttpResponseError):
        on_the_twin.get("a/b")


def test_any_search_input_on_the_real_reader(app, azurite: str, configure) -> None:
    from switchboard.adapters.storage import table_client

    name = "dash" + uuid.uuid4().hex[:10]
    configure(RECORDS_TABLE=name)
    table = table_client(name)
    store(table, [record("delivered", created=NOW, record_id="seed-visible", to="+15558670701")])
    try:
        for query in HOSTILE:
            response = search(app, query)
            assert response.status_code in (200, 400), (query, response.status_code, response.get_body()[:200])
        assert b"seed-visible" in search(app, "+15558670701").get_body()
    finally:
        table.delete_table()
