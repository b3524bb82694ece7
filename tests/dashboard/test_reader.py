"""The records-table reader against Azurite: point reads, one partition per number, a bounded recent query."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from switchboard.dashboard.reader import TableRecordReader
from switchboard.storage import table_client
from tests.dashboard.seed import record, store

NOW = datetime.now(timezone.utc)


@pytest.mark.azurite
def test_reads_by_id_sid_number_and_time(azurite: str) -> None:
    table = table_client("dash" + uuid.uuid4().hex[:10])
    records = [
        record("delivered", created=NOW - timedelta(hours=1), record_id="r-new", sid="SM1", to="+15550002222"),
        record("failed", created=NOW - timedelta(days=3), record_id="r-old", to="+15550002222"),
        record("queued", created=NOW - timedelta(minutes=1), record_id="r-other", to="+15550003333"),
    ]
    store(table, records)
    reader = TableRecordReader(table)
    try:
        assert [r["id"] for r in reader.recent(NOW - timedelta(days=1), 10)] == ["r-other", "r-new"]
        assert [r["id"] for r in reader.recent(NOW - timedelta(days=7), 2)] == ["r-other", "r-new"]
        assert reader.search("r-old", 10)[0]["status"] == "failed"
        assert reader.search("SM1", 10)[0]["id"] == "r-new"
        assert [r["id"] for r in reader.search("+1 555 000 2222", 10)] == ["r-new", "r-old"]
        assert reader.search("+15550002222", 1)[0]["id"] == "r-new"
        found = reader.search("r-new", 10)[0]
        assert (found["to"], found["from"]) == ("+15550002222", "+15005550006")
        assert reader.search("nothing-here", 10) == []
    finally:
        table.delete_table()


@pytest.mark.azurite
def test_a_missing_table_reads_as_empty(azurite: str) -> None:
    reader = TableRecordReader(table_client("absent" + uuid.uuid4().hex[:10]))
    assert reader.recent(NOW - timedelta(days=7), 10) == []
    assert reader.search("+15550002222", 10) == []
    assert reader.search("some-id", 10) == []
