"""The records-table reader against Azurite: point reads, and queries on one partition (number or day)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from azure.data.tables import TableClient

from switchboard.adapters.storage import table_client
from switchboard.dashboard.reader import FIELDS, TableRecordReader
from switchboard.records.model import Record, day_partition, number_row
from switchboard.records.store import RecordStore
from tests.dashboard.seed import record, store

NOW = datetime.now(timezone.utc)


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


def test_a_missing_table_reads_as_empty(azurite: str) -> None:
    reader = TableRecordReader(table_client("absent" + uuid.uuid4().hex[:10]))
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
    reader = TableRecordReader(table, clock=lambda: now)
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


def test_every_claimed_record_gets_one_day_row(azurite: str) -> None:
    table = recording_table(azurite)
    created = datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=timezone.utc)
    item = record("queued", created=created, record_id="d-claim", to="not-a-number")
    store(table, [item])
    writer = RecordStore(table, table)
    values = {("from_" if key == "from" else key): value for key, value in item.items()}
    writer.claim(Record(**values))  # a retried claim indexes nothing twice
    try:
        rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": "d:2026-03-10"}))
        assert [(row["RowKey"], row["record_id"]) for row in rows] == [(number_row(created, "d-claim"), "d-claim")]
        assert day_partition(created + timedelta(microseconds=1)) == "d:2026-03-11"
    finally:
        table.delete_table()


def test_a_repeated_claim_writes_index_rows_a_cut_short_claim_missed(azurite: str) -> None:
    table = recording_table(azurite)
    created = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
    item = record("queued", created=created, record_id="d-cut", to="+15550004444")
    values = {("from_" if key == "from" else key): value for key, value in item.items()}
    table.create_table()
    try:
        table.create_entity(Record(**values).to_entity())  # the record row only, as if the claim stopped there
        _, created_now = RecordStore(table, table).claim(Record(**values))
        assert not created_now
        for partition in ("d:2026-03-10", "n:+15550004444"):
            rows = list(table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}))
            assert [row["record_id"] for row in rows] == ["d-cut"]
    finally:
        table.delete_table()
