"""Records stores for the rule tests: over the in-memory table twin, and (parametrized) over Azurite too."""

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


@pytest.fixture(params=["twin", pytest.param("azurite", marks=pytest.mark.azurite)])
def any_store(request: pytest.FixtureRequest, twin_store: RecordStore) -> Iterator[RecordStore]:
    """An empty records store over the twin, then over fresh tables on Azurite: the same test runs on both."""
    if request.param == "twin":
        yield twin_store
        return
    from switchboard.adapters.storage import table_client

    request.getfixturevalue("azurite")
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
