"""An in-memory twin of `azure.data.tables.TableClient`: the surface the records store uses, with Table Storage's rules.

What it keeps, as the service does (tests/records/test_table_contract.py runs one suite over the twin and
Azurite, so the two cannot drift apart):
- ETags: every write gives the entity a new one; `IfNotModified` with a stale ETag is a 412
  (`ResourceModifiedError`, `UpdateConditionNotSatisfied`); an update of a missing entity is a 404.
- Create conflicts: `ResourceExistsError` (409); `delete_entity` of a missing entity is no error (the SDK
  swallows the 404).
- Transactions: all or nothing; at most 100 operations; one partition (the SDK refuses a second one
  with a ValueError before sending); an entity at most once; the failing operation's index and code in
  the `TableTransactionError`.
- Keys: no `/`, `\\`, `#`, `?` or control characters, at most 1 KiB (512 UTF-16 units), answered 400.
  Reads with such a key are refused too (Azure answers 400; Azurite 400, 404 or 500: the contract only
  asks for an HttpResponseError).
- Values: what the SDK accepts (str, bool, int32, float, datetime, bytes; None is left out); a string
  property at most 64 KiB; and, as Azure but not Azurite enforces, at most 252 properties and 1 MiB.
- A missing table is a 404 (`TableNotFound`) for every entity operation except delete; queries raise it
  when iterated, as the SDK's pager does.
- Queries: `PartitionKey`/`RowKey`/property comparisons (`eq ne lt le gt ge`) joined by `and`, with
  `@name` parameters; rows in key order. A filter it does not understand is a ValueError, never a guess.

Not modelled: paging costs, throttling, latency, OData types beyond those above. `requests` counts every
call that would be a round trip to the service (a query counts one, when iterated).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode

MAX_BATCH = 100
KEY_UNITS = 512  # 1 KiB of UTF-16
PROPERTY_UNITS = 32 * 1024  # 64 KiB of UTF-16
MAX_PROPERTIES = 252  # 255 less PartitionKey, RowKey and Timestamp
MAX_ENTITY_BYTES = 1024 * 1024
FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
INT32 = range(-(2**31), 2**31)
_COMPARISON = re.compile(r"([A-Za-z_][A-Za-z0-9_]*) (eq|ne|lt|le|gt|ge) '((?:[^']|'')*)'")
_TESTS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _error(kind: type[HttpResponseError], status: int, code: str, message: str, **extra: Any) -> HttpResponseError:
    error = kind(message=message, **extra)
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]  # the SDK sets it; HttpResponseError does not declare it
    return error


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_key(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be of type string.")  # as the SDK says
    if FORBIDDEN_IN_KEYS.search(value) or _units(value) > KEY_UNITS:
        raise _error(HttpResponseError, 400, "InvalidInput", f"{name} is not a valid key")
    return value


def _stored(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity as the service keeps it, or the error the SDK or the service gives for it."""
    if "PartitionKey" not in entity or "RowKey" not in entity:
        raise ValueError("PartitionKey and/or RowKey were not provided in entity")
    _check_key(entity["PartitionKey"], "PartitionKey")
    _check_key(entity["RowKey"], "RowKey")
    values = {name: _value(name, value) for name, value in entity.items() if value is not None}  # the SDK drops None
    size = sum(
        2 * _units(name) + (2 * _units(value) if isinstance(value, str) else 8) for name, value in values.items()
    )
    if len(values) - 2 > MAX_PROPERTIES:
        raise _error(HttpResponseError, 400, "TooManyProperties", "more than 252 properties")
    if size > MAX_ENTITY_BYTES:
        raise _error(HttpResponseError, 400, "EntityTooLarge", "the entity is larger than 1 MiB")
    return values


def _value(name: str, given: Any) -> Any:
    value = given.value if isinstance(given, Enum) else given
    if isinstance(value, bool | float | datetime | bytes):
        return copy.copy(value)
    if isinstance(value, int):
        if value not in INT32:
            raise TypeError(f"{value} is too large to be cast to type EdmType.INT32.")  # as the SDK says
        return value
    if not isinstance(value, str):
        raise TypeError(f"Unsupported type {type(value)} for property {name}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Azure refuses it (records.model.storable replaces them)
        raise _error(HttpResponseError, 400, "InvalidInput", f"{name} is not valid UTF-16") from None
    if _units(value) > PROPERTY_UNITS:
        raise _error(HttpResponseError, 400, "PropertyValueTooLarge", f"{name} is larger than 64 KiB")
    return value


def _substitute(query_filter: str, parameters: Mapping[str, Any] | None) -> str:
    """`@name` words replaced by quoted values, word by word, as the SDK does."""
    if not parameters:
        return query_filter
    words = query_filter.split(" ")
    for index, word in enumerate(words):
        if word.startswith("@"):
            value = parameters[word[1:]]
            if not isinstance(value, str):
                raise ValueError(f"the twin compares strings only, not {value!r}")
            words[index] = "'" + value.replace("'", "''") + "'"
    return " ".join(words)


def _predicate(query_filter: str) -> list[tuple[str, str, str]]:
    tests = []
    for part in query_filter.split(" and "):
        match = _COMPARISON.fullmatch(part.strip())
        if match is None:
            raise ValueError(f"the twin does not understand the filter {query_filter!r}")
        tests.append((match[1], match[2], match[3].replace("''", "'")))
    return tests


def _matches(row: Mapping[str, Any], tests: list[tuple[str, str, str]]) -> bool:
    for name, op, value in tests:
        have = row.get(name)
        if not isinstance(have, str) or not _TESTS[op](have, value):
            return False
    return True


@dataclass
class _Row:
    values: dict[str, Any]
    etag: str
    timestamp: datetime


@dataclass
class TwinAccount:
    """A storage account's tables, in memory. `requests` counts what would be round trips."""

    tables: dict[str, dict[tuple[str, str], _Row]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _version: int = 0

    def table(self, name: str) -> TwinTable:
        return TwinTable(self, name)

    def next_etag(self) -> tuple[str, datetime]:
        self._version += 1
        moment = datetime.now(timezone.utc)
        return f"W/\"datetime'{moment.strftime('%Y-%m-%dT%H%%3A%M%%3A%S')}.{self._version:07d}Z'\"", moment


class TwinTable:
    """The TableClient methods the app calls; per-call transport options (timeouts, retries) are ignored."""

    def __init__(self, account: TwinAccount, table_name: str) -> None:
        self.account = account
        self.table_name = table_name

    # -- tables --------------------------------------------------------------------------------------

    def create_table(self, **_: Any) -> None:
        with self._request("create_table"):
            if self.table_name in self.account.tables:
                raise _error(ResourceExistsError, 409, "TableAlreadyExists", "The table specified already exists.")
            self.account.tables[self.table_name] = {}

    def delete_table(self, **_: Any) -> None:
        with self._request("delete_table"):
            self.account.tables.pop(self.table_name, None)

    # -- entities ------------------------------------------------------------------------------------

    def create_entity(self, entity: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        values = _stored(entity)
        with self._request("create_entity"):
            rows = self._rows()
            return self._create(rows, values, _error(ResourceExistsError, 409, "EntityAlreadyExists", "exists"))

    def upsert_entity(self, entity: Mapping[str, Any], mode: UpdateMode = UpdateMode.MERGE, **_: Any) -> dict[str, Any]:
        values = _stored(entity)
        with self._request("upsert_entity"):
            return self._put(self._rows(), values, mode)

    def update_entity(
        self,
        entity: Mapping[str, Any],
        mode: UpdateMode = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        values = _stored(entity)
        with self._request("update_entity"):
            rows = self._rows()
            self._guard(rows, (values["PartitionKey"], values["RowKey"]), etag, match_condition)
            return self._put(rows, values, mode)

    def delete_entity(self, *args: Any, etag: str | None = None, match_condition: MatchConditions | None = None,
                      **kwargs: Any) -> None:  # fmt: skip
        if args and isinstance(args[0], Mapping):  # delete_entity(entity)
            partition, row = args[0]["PartitionKey"], args[0]["RowKey"]
        else:  # delete_entity(partition_key, row_key), positional or by name
            given = [*args, kwargs.get("partition_key"), kwargs.get("row_key")]
            partition, row = [value for value in given if value is not None][:2]
        key = (_check_key(partition, "PartitionKey"), _check_key(row, "RowKey"))
        with self._request("delete_entity"):
            rows = self.account.tables.get(self.table_name)
            if rows is None or key not in rows:
                return  # the SDK treats a 404 as done
            self._guard(rows, key, etag, match_condition)
            del rows[key]

    def get_entity(self, partition_key: str, row_key: str, *, select: str | list[str] | None = None,
                   **_: Any) -> TableEntity:  # fmt: skip
        key = (_check_key(partition_key, "PartitionKey"), _check_key(row_key, "RowKey"))
        with self._request("get_entity"):
            found = self._rows().get(key)
            if found is None:
                raise _error(ResourceNotFoundError, 404, "ResourceNotFound", "The specified resource does not exist.")
            return _entity(found, select)

    def query_entities(
        self,
        query_filter: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        select: str | list[str] | None = None,
        results_per_page: int | None = None,
        **_: Any,
    ) -> Iterator[TableEntity]:
        tests = _predicate(_substitute(query_filter, parameters))  # a filter it cannot answer fails at once
        return self._query(tests, select)

    def list_entities(self, *, select: str | list[str] | None = None, **_: Any) -> Iterator[TableEntity]:
        return self._query([], select)

    def submit_transaction(self, operations: Iterable[Any], **_: Any) -> list[dict[str, Any]]:
        staged = [_operation(item) for item in operations]  # the SDK's own checks, before anything is sent
        if len({entity["PartitionKey"] for _, entity, _ in staged}) > 1:
            raise ValueError("Partition Keys in the batch must all be the same.")
        with self._request("submit_transaction"):
            if not staged:
                raise _error(HttpResponseError, 400, "InvalidInput", "a transaction needs an operation")
            if len(staged) > MAX_BATCH:
                too_many = f"0:The batch request operation exceeds the maximum {MAX_BATCH} changes per change set."
                raise _error(TableTransactionError, 400, "InvalidInput", too_many)
            rows = self.account.tables.get(self.table_name)
            if rows is None:
                raise _error(TableTransactionError, 404, "TableNotFound", "0:The table specified does not exist.")
            trial = dict(rows)  # applied to a copy: all or nothing
            results: list[dict[str, Any]] = []
            seen: set[tuple[str, str]] = set()
            for index, (kind, entity, options) in enumerate(staged):
                try:
                    values = _stored(entity)
                    key = (values["PartitionKey"], values["RowKey"])
                    if key in seen:
                        raise _error(HttpResponseError, 400, "InvalidDuplicateRow",
                                     f"A command with RowKey '{key[1]}' is already present in the batch.")  # fmt: skip
                    seen.add(key)
                    results.append(self._apply(trial, kind, values, options))
                except HttpResponseError as error:
                    code, status = str(getattr(error, "error_code", "") or ""), error.status_code or 400
                    raise _error(TableTransactionError, status, code, f"{index}:{error.message}") from error
            rows.clear()
            rows.update(trial)
            return results

    # -- inside -------------------------------------------------------------------------------------

    def _request(self, name: str) -> _Request:
        return _Request(self.account, f"{name} {self.table_name}")

    def _rows(self) -> dict[tuple[str, str], _Row]:
        rows = self.account.tables.get(self.table_name)
        if rows is None:
            raise _error(ResourceNotFoundError, 404, "TableNotFound", "The table specified does not exist.")
        return rows

    def _query(self, tests: list[tuple[str, str, str]], select: str | list[str] | None) -> Iterator[TableEntity]:
        with self._request("query_entities"):
            rows = self._rows()
            found = [_entity(row, select) for key, row in sorted(rows.items()) if _matches(row.values, tests)]
        yield from found

    def _create(self, rows: dict[tuple[str, str], _Row], values: dict[str, Any], exists: Exception) -> dict[str, Any]:
        key = (values["PartitionKey"], values["RowKey"])
        if key in rows:
            raise exists
        return self._write(rows, key, values)

    def _put(self, rows: dict[tuple[str, str], _Row], values: dict[str, Any], mode: UpdateMode | str) -> dict[str, Any]:
        key = (values["PartitionKey"], values["RowKey"])
        current = rows.get(key)
        if current is not None and str(getattr(mode, "value", mode)).lower() == "merge":
            values = current.values | values
        return self._write(rows, key, values)

    def _write(self, rows: dict[tuple[str, str], _Row], key: tuple[str, str], values: dict[str, Any]) -> dict[str, Any]:
        etag, moment = self.account.next_etag()
        rows[key] = _Row(values, etag, moment)
        return {"etag": etag, "date": moment}

    def _guard(self, rows: dict[tuple[str, str], _Row], key: tuple[str, str], etag: str | None,
               match_condition: MatchConditions | None) -> None:  # fmt: skip
        current = rows.get(key)
        if current is None:
            raise _error(ResourceNotFoundError, 404, "ResourceNotFound", "The specified resource does not exist.")
        if match_condition == MatchConditions.IfNotModified and etag != current.etag:
            raise _error(ResourceModifiedError, 412, "UpdateConditionNotSatisfied",
                         "The update condition specified in the request was not satisfied.")  # fmt: skip

    def _apply(self, rows: dict[tuple[str, str], _Row], kind: str, values: dict[str, Any],
               options: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
        key = (values["PartitionKey"], values["RowKey"])
        mode = options.get("mode", UpdateMode.MERGE)
        if kind == "create":
            exists = _error(ResourceExistsError, 409, "EntityAlreadyExists", "The specified entity already exists.")
            return self._create(rows, values, exists)
        if kind == "upsert":
            return self._put(rows, values, mode)
        self._guard(rows, key, options.get("etag"), options.get("match_condition"))
        if kind == "update":
            return self._put(rows, values, mode)
        del rows[key]
        return {}


class _Request:
    """One round trip: counted, and run under the account's lock (the store calls from several threads)."""

    def __init__(self, account: TwinAccount, name: str) -> None:
        self.account = account
        self.name = name

    def __enter__(self) -> None:
        self.account.lock.acquire()
        self.account.requests.append(self.name)

    def __exit__(self, *_: object) -> None:
        self.account.lock.release()


def _operation(item: Any) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    try:
        kind, entity = item[0], item[1]
        options = item[2] if len(item) > 2 else {}
    except (TypeError, IndexError) as error:
        raise TypeError("The value of 'operations' must be an iterator of Tuples.") from error
    kind = str(getattr(kind, "value", kind)).lower()
    if kind not in ("create", "upsert", "update", "delete"):
        raise ValueError(f"Unrecognized operation: {kind}")
    if "PartitionKey" not in entity or "RowKey" not in entity:
        raise ValueError("PartitionKey and/or RowKey were not provided in entity")
    return kind, entity, options


def _entity(row: _Row, select: str | list[str] | None) -> TableEntity:
    entity = TableEntity()
    names = [select] if isinstance(select, str) else select
    if names is None:
        entity.update(copy.deepcopy(row.values))
        entity._metadata = {"etag": row.etag, "timestamp": row.timestamp}
    else:  # selected properties the entity has; no timestamp unless asked for, as the service answers
        entity.update({name: copy.deepcopy(row.values[name]) for name in names if name in row.values})
        entity._metadata = {"etag": row.etag, "timestamp": None}
    return entity
