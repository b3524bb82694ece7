"""The operator page's reader over the real records store on Azurite: point reads, and queries on one partition."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.data.tables import TableClient

from switchboard.adapters.storage import table_client
from switchboard.dashboard.reader import FIELDS, StoreRecordReader
from switchboard.records.store import RecordStore
from tests.dashboard.seed import iso, record, store

NOW = datetime.now(timezone.utc)


def test_reads_by_id_sid_number_and_time(azurite: str) -> None:
    table = table_client("dash" + uuid.uuid4().hex[:10])
    records = [
        record("delivered", created=NOW - timedelta(hours=1), record_id="r-new", sid="SM1", to="+15550002222"),
        record("failed", created=NOW - timedelta(days=3), record_id="r-old", to="+15550002222"),
        record("queued", created=NOW - timedelta(minutes=1), record_id="r-other", to="+15550003333"),
    ]
    store(table, records)
    reader = StoreRecordReader(RecordStore(table, table))
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


def test_a_missing_table_reads_as_empty(azurite: str) -> None:
    absent = table_client("absent" + uuid.uuid4().hex[:10])
    reader = StoreRecordReader(RecordStore(absent, absent))
    assert reader.recent(NOW - timedelta(days=7), 10) == []
    assert reader.search("+15550002222", 10) == []
    assert reader.search("some-id", 10) == []


class RecordingTable(TableClient):
    """A real TableClient that keeps every query filter it is asked for, and refuses unfiltered listings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters: list[str] = []

    def query_entities(self, query_filter: str, **kwargs: Any) -> Any:
        self.filters.append(query_filter)
        return super().query_entities(query_filter, **kwargs)

    def list_entities(self, **kwargs: Any) -> Any:
        raise AssertionError("the reader listed the whole table")


def recording_table(connection: str) -> RecordingTable:
    table = RecordingTable.from_connection_string(connection, "day" + uuid.uuid4().hex[:10])
    assert isinstance(table, RecordingTable)
    return table


def test_recent_reads_day_partitions_newest_first_with_current_status(azurite: str) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    table = recording_table(azurite)
    records = [
        record("queued", created=now - timedelta(days=2, hours=1), record_id="d-2"),  # 2026-03-08 11:00
        record("queued", created=now - timedelta(hours=11, minutes=59), record_id="d-0-early"),  # 00:01 today
        record("queued", created=now - timedelta(days=1), record_id="d-1"),
        record("queued", created=now - timedelta(minutes=5), record_id="d-0-late"),
        record("queued", created=now - timedelta(days=9), record_id="d-9"),  # before the window
    ]
    store(table, records)
    RecordStore(table, table).update("d-1", lambda current: current.with_changes(now, status="delivered"))
    reader = StoreRecordReader(RecordStore(table, table), clock=lambda: now)
    try:
        since = (now - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
        found = reader.recent(since, 10)
        assert [r["id"] for r in found] == ["d-0-late", "d-0-early", "d-1", "d-2"]
        assert {r["id"]: r["status"] for r in found}["d-1"] == "delivered"
        assert set(found[0]) <= set(FIELDS) | {"to", "from"}
        assert [r["id"] for r in reader.recent(since, 3)] == ["d-0-late", "d-0-early", "d-1"]
        assert [r["id"] for r in reader.recent(now - timedelta(hours=1), 10)] == ["d-0-late"]
        assert [r["id"] for r in reader.recent(now - timedelta(days=30), 10)][-1] == "d-9"
        assert table.filters, "recent() made no query"
        assert all(f.startswith("PartitionKey eq @pk") for f in table.filters), table.filters
    finally:
        table.delete_table()


def test_stale_records_are_listed_until_they_end(azurite: str) -> None:
    from switchboard.records import reconcile

    table = table_client("dash" + uuid.uuid4().hex[:10])
    records = RecordStore(table, table)
    old = NOW - timedelta(days=7, hours=1)
    store(table, [record("queued", created=old, record_id="r-stuck", sid="SM" + "1" * 32),
                  record("delivered", created=old, record_id="r-done", sid="SM" + "2" * 32)])  # fmt: skip
    reader = StoreRecordReader(records)
    try:
        summary = reconcile.run(records, lambda kind, sid: None, NOW, after=timedelta(minutes=30), limit=10,
                                per_second=100)  # fmt: skip
        assert summary.stale_ids == ["r-stuck"]
        [listed] = reader.stale(10)
        assert (listed["id"], listed["status"], listed["stale"]) == ("r-stuck", "queued", True)
        records.update("r-stuck", lambda r: r.with_changes(NOW, status="delivered"))  # a late callback
        assert reader.stale(10) == []
    finally:
        table.delete_table()


def test_scheduled_lists_the_requests_still_waiting_the_soonest_first(azurite: str) -> None:
    from switchboard.records.model import Record

    table = table_client("dash" + uuid.uuid4().hex[:10])
    store(table, [])
    writer = RecordStore(table, table)
    created = NOW - timedelta(minutes=5)

    def scheduled(record_id: str, status: str, hours: int) -> Record:
        return Record(
            id=record_id, type="sms", direction="outbound", status=status, created_at=iso(created),
            updated_at=iso(created), to="+15550004444", scheduled_for=iso(NOW + timedelta(hours=hours)),
        )  # fmt: skip

    for item in (scheduled("later", "scheduled", 9), scheduled("sooner", "scheduled", 2),
                 scheduled("sent", "queued", 1), scheduled("stopped", "canceled", 1)):  # fmt: skip
        writer.claim(item)
    try:
        found = StoreRecordReader(writer).scheduled(10)
        assert [r["id"] for r in found] == ["sooner", "later"]
        assert found[0]["scheduled_for"] == iso(NOW + timedelta(hours=2))
    finally:
        table.delete_table()
