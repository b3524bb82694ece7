"""Records stores for the rule tests: over the in-memory table twin, or over fresh tables on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.records.store import RecordStore
from tests.tabletwin import TwinAccount


@pytest.fixture
def twin() -> TwinAccount:
    return TwinAccount()


@pytest.fixture
def twin_store(twin: TwinAccount) -> RecordStore:
    """A records store over empty in-memory tables."""
    records, optouts = twin.table("records"), twin.table("optouts")
    records.create_table()
    optouts.create_table()
    return RecordStore(records, optouts)


@pytest.fixture
def azurite_store(azurite: str) -> Iterator[RecordStore]:
    """A records store over fresh, empty tables on Azurite (deleted afterwards)."""
    from switchboard.adapters.storage import table_client

    mark = uuid.uuid4().hex[:10]
    tables: list[Any] = [table_client(f"rec{mark}"), table_client(f"opt{mark}")]
    for table in tables:
        table.create_table()
    try:
        yield RecordStore(*tables)
    finally:
        for table in tables:
            table.delete_table()


def all_rows(store: RecordStore) -> list[tuple[str, str]]:
    """Every row of the records table, by key."""
    return [(str(e["PartitionKey"]), str(e["RowKey"])) for e in store.records.list_entities()]
