"""One contract, two tables: the in-memory twin (tests/tabletwin.py) and a real TableClient on Azurite.

Every test here runs on both, so the twin the pure-rule tests rely on cannot drift from the service.
The rules Azure enforces and Azurite does not (property count, entity size, lone surrogates) are
tested on the twin alone, at the end.
"""

from __future__ import annotations

import http.client
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from tests.tabletwin import TwinAccount, TwinTable

STALE = "W/\"datetime'2020-01-01T00%3A00%3A00.0000000Z'\""
IF_MATCH = MatchConditions.IfNotModified


@pytest.fixture
def table(new_table: Callable[[], Any]) -> Any:
    client = new_table()
    client.create_table()
    return client


def keys(client: Any, partition: str = "p") -> list[str]:
    return [str(e["RowKey"]) for e in client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})]


def code_of(error: TableTransactionError) -> str:
    return str(getattr(error, "error_code", ""))


def test_the_twin_is_a_table_client_in_shape() -> None:
    """Every method the twin offers exists on TableClient, under the same name."""
    offered = {name for name in vars(TwinTable) if not name.startswith("_")}
    assert offered <= set(dir(TableClient)), offered - set(dir(TableClient))


class TableContract:
    """The contract; each subclass gives `new_table`: a function that makes a client for a fresh, absent table."""

    def test_entities_round_trip_with_etags(self, table: Any) -> None:
        written = {"PartitionKey": "p", "RowKey": "r", "s": "text", "n": 7, "f": 1.5, "b": True, "none": None}
        created = table.create_entity(written)
        assert created["etag"]
        entity = table.get_entity("p", "r")
        assert dict(entity) == {"PartitionKey": "p", "RowKey": "r", "s": "text", "n": 7, "f": 1.5, "b": True}
        assert entity.metadata["etag"] == created["etag"]
        assert entity.metadata["timestamp"] is not None
        picked = table.get_entity("p", "r", select=["n", "missing"])
        assert dict(picked) == {"n": 7}
        assert picked.metadata["etag"] == created["etag"]

    def test_create_conflicts_and_missing_entities(self, table: Any) -> None:
        table.create_entity({"PartitionKey": "p", "RowKey": "r"})
        with pytest.raises(ResourceExistsError):
            table.create_entity({"PartitionKey": "p", "RowKey": "r", "other": 1})
        assert "other" not in table.get_entity("p", "r")
        with pytest.raises(ResourceNotFoundError):
            table.get_entity("p", "absent")
        table.delete_entity("p", "absent")  # the SDK treats a missing entity as deleted
        table.delete_entity("p", "r")
        with pytest.raises(ResourceNotFoundError):
            table.get_entity("p", "r")

    def test_a_missing_table(self, new_table: Any) -> None:
        absent = new_table()
        with pytest.raises(ResourceNotFoundError):
            absent.get_entity("p", "r")
        with pytest.raises(ResourceNotFoundError):
            absent.create_entity({"PartitionKey": "p", "RowKey": "r"})
        rows = absent.query_entities("PartitionKey eq @pk", parameters={"pk": "p"})  # lazy, like the SDK's pager
        with pytest.raises(ResourceNotFoundError):
            list(rows)
        absent.delete_entity("p", "r")
        absent.create_table()
        with pytest.raises(ResourceExistsError):
            absent.create_table()

    def test_if_match_guards_updates_and_deletes(self, table: Any) -> None:
        first = table.create_entity({"PartitionKey": "p", "RowKey": "r", "a": 1})["etag"]
        second = table.update_entity({"PartitionKey": "p", "RowKey": "r", "b": 2}, mode=UpdateMode.MERGE, etag=first,
                                     match_condition=IF_MATCH)["etag"]  # fmt: skip
        assert second
        assert second != first
        assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "a": 1, "b": 2}
        with pytest.raises(ResourceModifiedError):
            table.update_entity({"PartitionKey": "p", "RowKey": "r"}, mode=UpdateMode.REPLACE, etag=first,
                                match_condition=IF_MATCH)  # fmt: skip
        with pytest.raises(ResourceModifiedError):
            table.delete_entity("p", "r", etag=STALE, match_condition=IF_MATCH)
        table.update_entity({"PartitionKey": "p", "RowKey": "r", "c": 3}, mode=UpdateMode.REPLACE, etag=second,
                            match_condition=IF_MATCH)  # fmt: skip
        assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "c": 3}
        with pytest.raises(ResourceNotFoundError):
            table.update_entity({"PartitionKey": "p", "RowKey": "absent"}, mode=UpdateMode.REPLACE)

    def test_upserts_replace_or_merge(self, table: Any) -> None:
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "a": 1}, mode=UpdateMode.REPLACE)
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "b": 2}, mode=UpdateMode.MERGE)
        assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "a": 1, "b": 2}
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "c": 3}, mode=UpdateMode.REPLACE)
        assert dict(table.get_entity("p", "r")) == {"PartitionKey": "p", "RowKey": "r", "c": 3}

    def test_a_transaction_is_all_or_nothing(self, table: Any) -> None:
        results = table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "1"}),
                                            ("create", {"PartitionKey": "p", "RowKey": "2"})])  # fmt: skip
        assert len(results) == 2
        assert all(result["etag"] for result in results)
        with pytest.raises(TableTransactionError) as conflict:
            table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "3"}),
                                      ("create", {"PartitionKey": "p", "RowKey": "1"})])  # fmt: skip
        assert (code_of(conflict.value), conflict.value.index) == ("EntityAlreadyExists", 1)
        assert keys(table) == ["1", "2"]
        etag = table.get_entity("p", "1").metadata["etag"]
        with pytest.raises(TableTransactionError) as stale:
            table.submit_transaction([("delete", {"PartitionKey": "p", "RowKey": "2"}),
                                      ("update", {"PartitionKey": "p", "RowKey": "1", "x": 1},
                                       {"mode": "replace", "etag": STALE, "match_condition": IF_MATCH})])  # fmt: skip
        assert (code_of(stale.value), stale.value.index) == ("UpdateConditionNotSatisfied", 1)
        assert keys(table) == ["1", "2"]
        table.submit_transaction([("update", {"PartitionKey": "p", "RowKey": "1", "x": 1},
                                   {"mode": "replace", "etag": etag, "match_condition": IF_MATCH}),
                                  ("delete", {"PartitionKey": "p", "RowKey": "2"}),
                                  ("upsert", {"PartitionKey": "p", "RowKey": "4"})])  # fmt: skip
        assert keys(table) == ["1", "4"]
        assert table.get_entity("p", "1")["x"] == 1

    @pytest.mark.parametrize(
        ("operations", "code"),
        [
            ([("delete", {"PartitionKey": "p", "RowKey": "absent"})], "ResourceNotFound"),
            ([("update", {"PartitionKey": "p", "RowKey": "absent"})], "ResourceNotFound"),
            ([("create", {"PartitionKey": "p", "RowKey": "d"}), ("upsert", {"PartitionKey": "p", "RowKey": "d"})],
             "InvalidDuplicateRow"),
            ([("create", {"PartitionKey": "p", "RowKey": "ok"}), ("create", {"PartitionKey": "p", "RowKey": "a/b"})],
             "InvalidInput"),
        ],
        ids=["delete-missing", "update-missing", "duplicate-row", "bad-key"],
    )  # fmt: skip
    def test_a_failed_transaction_names_its_operation_and_writes_nothing(
        self, table: Any, operations: list[Any], code: str
    ) -> None:
        with pytest.raises(TableTransactionError) as failed:
            table.submit_transaction(operations)
        assert (code_of(failed.value), failed.value.index) == (code, len(operations) - 1)
        assert keys(table) == []

    def test_a_transaction_holds_one_partition_and_at_most_100_operations(self, table: Any) -> None:
        with pytest.raises(ValueError, match="Partition Keys"):
            table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "1"}),
                                      ("create", {"PartitionKey": "q", "RowKey": "1"})])  # fmt: skip
        assert keys(table) == []
        assert keys(table, "q") == []
        assert len(
            table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": f"{i:03}"}) for i in range(100)])
        )
        # Azure answers 101 with a 400; Azurite breaks the answer off. Neither writes anything.
        with pytest.raises((HttpResponseError, ServiceResponseError, http.client.HTTPException)):
            table.submit_transaction([("create", {"PartitionKey": "q", "RowKey": f"{i:03}"}) for i in range(101)])
        assert keys(table, "q") == []

    @pytest.mark.parametrize("key", ["a/b", "a\\b", "a#b", "a?b", "a\x00b", "a\x1fb", "a\x7fb", "a\x85b", "x" * 513,
                                     "😀" * 257])  # fmt: skip
    def test_keys_table_storage_refuses(self, table: Any, key: str) -> None:
        for entity in ({"PartitionKey": key, "RowKey": "r"}, {"PartitionKey": "p", "RowKey": key}):
            with pytest.raises(HttpResponseError) as refused:
                table.create_entity(entity)
            assert refused.value.status_code == 400
        with pytest.raises(HttpResponseError):  # Azure: 400; Azurite: 400, 404 or 500
            table.get_entity(key, "r", retry_total=0)  # Azurite answers "/" with a 500, which the SDK retries

    @pytest.mark.parametrize("key", ["", "x" * 512, "😀" * 256, "\u202eevil", "' or 1 eq 1 or '", "%2F"])
    def test_keys_table_storage_takes(self, table: Any, key: str) -> None:
        table.create_entity({"PartitionKey": key, "RowKey": key})
        assert table.get_entity(key, key)["RowKey"] == key
        assert keys(table, key) == [key]

    def test_values_the_sdk_or_the_service_refuse(self, table: Any) -> None:
        table.create_entity({"PartitionKey": "p", "RowKey": "max", "s": "x" * 32 * 1024, "i": -(2**31)})
        with pytest.raises(HttpResponseError) as too_long:
            table.create_entity({"PartitionKey": "p", "RowKey": "long", "s": "x" * (32 * 1024 + 1)})
        assert too_long.value.status_code == 400
        with pytest.raises(TypeError):
            table.create_entity({"PartitionKey": "p", "RowKey": "int", "i": 2**31})
        assert keys(table) == ["max"]

    def test_queries_read_one_partition_or_a_range_in_key_order(self, table: Any) -> None:
        for partition in ("d:2026-03-08", "d:2026-03-09", "d:2026-03-10", "n:+15550001111"):
            for row in ("2", "10", "1"):
                table.create_entity({"PartitionKey": partition, "RowKey": row, "record_id": f"{partition}/{row}"})
        assert keys(table, "d:2026-03-09") == ["1", "10", "2"]
        day = {"pk": "d:2026-03-09", "bound": "2"}
        bounded = table.query_entities("PartitionKey eq @pk and RowKey lt @bound", parameters=day, select=["record_id"])
        assert [dict(e) for e in bounded] == [{"record_id": "d:2026-03-09/1"}, {"record_id": "d:2026-03-09/10"}]
        ranged = table.query_entities("PartitionKey ge @low and PartitionKey lt @high",
                                      parameters={"low": "d:", "high": "d:2026-03-10"},
                                      select=["PartitionKey", "RowKey"], results_per_page=2)  # fmt: skip
        assert [(e["PartitionKey"], e["RowKey"]) for e in ranged] == [
            ("d:2026-03-08", "1"), ("d:2026-03-08", "10"), ("d:2026-03-08", "2"),
            ("d:2026-03-09", "1"), ("d:2026-03-09", "10"), ("d:2026-03-09", "2"),
        ]  # fmt: skip
        quoted = table.query_entities("PartitionKey eq @pk", parameters={"pk": "' or PartitionKey ne '"})
        assert list(quoted) == []


class TestTheTwin(TableContract):
    @pytest.fixture
    def new_table(self) -> Callable[[], Any]:
        account = TwinAccount()
        return lambda: account.table("contract" + uuid.uuid4().hex[:10])


class TestAzurite(TableContract):
    @pytest.fixture
    def new_table(self, azurite: str) -> Iterator[Callable[[], Any]]:
        made: list[TableClient] = []

        def make() -> TableClient:
            made.append(TableClient.from_connection_string(azurite, "contract" + uuid.uuid4().hex[:10]))
            return made[-1]

        yield make
        for client in made:
            client.delete_table()


# -- rules Azure enforces and Azurite does not: the twin follows Azure ---------------------------------


def test_the_twin_refuses_what_azure_refuses() -> None:
    table = TwinAccount().table("t")
    table.create_table()
    with pytest.raises(HttpResponseError):
        table.create_entity({"PartitionKey": "p", "RowKey": "r", **{f"p{i}": i for i in range(253)}})
    table.create_entity({"PartitionKey": "p", "RowKey": "r", **{f"p{i}": i for i in range(252)}})
    with pytest.raises(HttpResponseError):
        table.create_entity({"PartitionKey": "p", "RowKey": "big", **{f"p{i}": "y" * 30_000 for i in range(20)}})
    with pytest.raises(HttpResponseError):
        table.create_entity({"PartitionKey": "p", "RowKey": "lone", "s": "\ud800"})
    with pytest.raises(ValueError, match="does not understand"):
        table.query_entities("PartitionKey eq @pk or RowKey eq @pk", parameters={"pk": "p"})


def test_the_twin_counts_round_trips() -> None:
    account = TwinAccount()
    table = account.table("t")
    table.create_table()
    table.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "1"}),
                              ("create", {"PartitionKey": "p", "RowKey": "2"})])  # fmt: skip
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": "p"})
    assert account.requests == ["create_table t", "submit_transaction t"]
    assert len(list(rows)) == 2
    assert account.requests[-1] == "query_entities t"
