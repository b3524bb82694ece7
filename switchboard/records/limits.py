"""The caps' counters in Table Storage (table `limits`), held across every host (see policies/limits.py).

One partition per rule group and subject: `<kind|any>.<scope>.<subject>`, the subject an HMAC of the
recipient's number (`per_to`; no number is stored) or `app` (`all`). In it:

- `w<window seconds>`: one counter per window of the group (`Start` epoch seconds, `Used`);
- `t:<request id>`: the ticket of a request the group counted.

Counting a request is one entity-group transaction: create its ticket and write each counter with the
ETag it was read with. Both land or neither: a redelivered message finds its ticket (409) and is not
counted again, and of two hosts that read the same counters one wins and the other reads again (412).
A request that one group admits and a later group refuses is taken back out of the first (its ticket
deleted, its counts lowered), so a rejected request counts nowhere.

The auto-reply throttle (SMS_AUTO_REPLY_MINUTES) is one row per sender, `autoreply.<HMAC>`/`last`, whose
`At` is moved forward with an ETag-guarded write by the one host whose reply goes out.

A process keeps the counters it last wrote (with their ETags), as the pace meter does: while no other host
counts in a partition, admitting a request there is one round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchboard.adapters.storage import error_code
from switchboard.policies.limits import Rule, Window, counted, current, has_room, retry_after

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger("switchboard.limits")
TABLE = "limits"
ATTEMPTS = 10
BACKOFF_SECONDS = 0.005
BACKOFF_CAP_SECONDS = 0.08
AUTOREPLY_ROW = "last"
# Tickets (and auto-reply rows) are kept this long: longer than any request can wait on the queue (a send_at
# 35 days ahead, then the retry budget), so a deferral's copy always finds its ticket and never counts again.
KEEP_SECONDS = 45 * 86400
MIN_WINDOW_AGE = 3600  # windows opened within the last hour are not even looked at by the sweep
SWEEP_LIMIT = 5000  # deletes per run of the hourly timer


class LimitsBusy(RuntimeError):
    """Other hosts kept winning the counters: nothing was counted; ask again later."""


@dataclass(frozen=True)
class Verdict:
    """May the request go? If not, the rule it is over and the seconds until that rule has room."""

    allowed: bool
    rule: Rule | None = None
    retry_after: float = 0.0


ALLOWED = Verdict(True)
_Counters = dict[str, tuple[str | None, Window | None]]  # RowKey -> (ETag, counter); (None, None): no row


def subject(key: bytes, number: str) -> str:
    """What a per-recipient counter is keyed on: a keyed hash of the number, never the number itself."""
    return hmac.new(key, number.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def partition(rule: Rule, key: bytes, number: str) -> str:
    who = subject(key, number) if rule.scope == "per_to" else "app"
    return f"{rule.kind or 'any'}.{rule.scope}.{who}"


def _groups(rules: Iterable[Rule]) -> list[list[Rule]]:
    groups: dict[tuple[str | None, str], list[Rule]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule)
    return list(groups.values())


def _row(rule: Rule) -> str:
    return f"w{rule.window_seconds}"


class LimitCounters:
    def __init__(self, table: TableClient, *, attempts: int = ATTEMPTS, **request_options: Any) -> None:
        self.table = table
        self.attempts = attempts
        self.options = request_options
        self.conflicts = 0  # 409/412s met (for tests)
        self._known: dict[str, _Counters] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- the caps ------------------------------------------------------------------------------------

    def admit(self, rules: Iterable[Rule], request_id: str, number: str, now: float, *, key: bytes) -> Verdict:
        """Count request `request_id` to `number` in every rule that applies, or refuse it naming a full rule.

        Counting is once per request id; refusing counts nothing. Raises LimitsBusy (nothing counted)."""
        done: list[tuple[str, list[Rule]]] = []
        for group in _groups(rules):
            pk = partition(group[0], key, number)
            verdict = self._admit_group(pk, group, request_id, now)
            if not verdict.allowed:
                for earlier, earlier_rules in reversed(done):
                    self._take_back(earlier, earlier_rules, request_id, now)
                return verdict
            done.append((pk, group))
        return ALLOWED

    def peek(self, rules: Iterable[Rule], number: str, now: float, *, key: bytes) -> Verdict:
        """Is a new request to `number` over a limit now? Reads only (POST /api/outbound's early 429)."""
        for group in _groups(rules):
            counters = self._read(partition(group[0], key, number), group)
            for rule in group:
                window = counters[_row(rule)][1]
                if not has_room(window, rule, now):
                    return Verdict(False, rule, retry_after(window, rule, now))
        return ALLOWED

    def _admit_group(self, pk: str, group: list[Rule], request_id: str, now: float) -> Verdict:
        from azure.data.tables import TableTransactionError

        ticket = f"t:{request_id}"
        with self._lock(pk):
            for attempt in range(self.attempts):
                if attempt:
                    self._pause(attempt)
                counters = self._known.pop(pk, None) or self._read(pk, group)
                full = [rule for rule in group if not has_room(counters[_row(rule)][1], rule, now)]
                if full:
                    counters = self._read(pk, group)  # a cached view may be behind a take-back: look again
                    full = [rule for rule in group if not has_room(counters[_row(rule)][1], rule, now)]
                if full:
                    if self._has_ticket(pk, ticket):
                        return ALLOWED  # counted before (a redelivery): it was admitted then
                    self._known[pk] = counters
                    rule = max(full, key=lambda r: retry_after(counters[_row(r)][1], r, now))
                    return Verdict(False, rule, retry_after(counters[_row(rule)][1], rule, now))
                operations: list[Any] = [("create", {"PartitionKey": pk, "RowKey": ticket, "At": now})]
                after: _Counters = {}
                for rule in group:
                    row = _row(rule)
                    etag, window = counters[row]
                    new = counted(window, rule, now)
                    entity = {"PartitionKey": pk, "RowKey": row, "Start": new.start, "Used": new.used}
                    if etag is None:
                        operations.append(("create", entity))
                    else:
                        operations.append(("update", entity, _guarded(etag)))
                    after[row] = (None, new)
                try:
                    results = self.table.submit_transaction(operations, **self.options)
                except TableTransactionError as error:
                    self.conflicts += 1
                    # Which create failed is not always said (the SDK's index defaults to 0): look.
                    if error_code(error) == "EntityAlreadyExists" and self._has_ticket(pk, ticket):
                        self._known[pk] = counters  # nothing was written: the view is as good as before
                        return ALLOWED  # its ticket is there: counted before
                    if error_code(error) not in (
                        "EntityAlreadyExists",
                        "UpdateConditionNotSatisfied",
                        "ResourceNotFound",
                    ):
                        raise
                    continue
                self._known[pk] = {
                    row: (str(result["etag"]), window)
                    for (row, (_, window)), result in zip(after.items(), results[1:], strict=True)
                }
                return ALLOWED
        raise LimitsBusy(f"the limit counters {pk} kept changing")

    def _take_back(self, pk: str, group: list[Rule], request_id: str, now: float) -> None:
        """Undo a group's count of a request that another group refused (best effort: a failure over-counts)."""
        from azure.data.tables import TableTransactionError

        ticket = f"t:{request_id}"
        with self._lock(pk):
            for attempt in range(self.attempts):
                if attempt:
                    self._pause(attempt)
                self._known.pop(pk, None)
                if not self._has_ticket(pk, ticket):
                    return  # nothing of this request is counted here
                counters = self._read(pk, group)
                operations: list[Any] = [("delete", {"PartitionKey": pk, "RowKey": ticket})]
                for rule in group:
                    etag, window = counters[_row(rule)]
                    if etag is None or window is None or current(window, rule, now) is not window or not window.used:
                        continue  # a window that has run out since holds nothing to take back
                    entity = {"PartitionKey": pk, "RowKey": _row(rule), "Start": window.start, "Used": window.used - 1}
                    operations.append(("update", entity, _guarded(etag)))
                try:
                    self.table.submit_transaction(operations, **self.options)
                except TableTransactionError:
                    self.conflicts += 1
                    continue
                return
        log.warning("Could not take request %s back out of the limit counters %s", request_id, pk)

    def _read(self, pk: str, group: list[Rule]) -> _Counters:
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": pk, "low": "w", "high": "x"}, **self.options,
        )  # fmt: skip
        found = {str(row["RowKey"]): row for row in rows}
        counters: _Counters = {}
        for rule in group:
            row = found.get(_row(rule))
            if row is None:
                counters[_row(rule)] = (None, None)
            else:
                window = Window(float(row.get("Start") or 0.0), int(row.get("Used") or 0))
                counters[_row(rule)] = (str(row.metadata["etag"]), window)
        return counters

    def _has_ticket(self, pk: str, ticket: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.table.get_entity(pk, ticket, select=["At"], **self.options)
        except ResourceNotFoundError:
            return False
        return True

    # -- the auto-reply throttle ---------------------------------------------------------------------

    def reply_due(self, sender: str, minutes: float, now: float, *, key: bytes) -> bool:
        """May this host auto-reply to `sender` now? True for exactly one host once per `minutes`."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        pk = f"autoreply.{subject(key, sender)}"
        entity = {"PartitionKey": pk, "RowKey": AUTOREPLY_ROW, "At": now}
        try:
            row = self.table.get_entity(pk, AUTOREPLY_ROW, **self.options)
        except ResourceNotFoundError:
            try:
                self.table.create_entity(entity, **self.options)
            except ResourceExistsError:
                return False  # another host replied this moment
            return True
        last = float(row.get("At") or 0.0)
        if 0 <= now - last < minutes * 60:
            return False
        try:
            self.table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                match_condition=MatchConditions.IfNotModified, **self.options,
            )  # fmt: skip
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    # -- housekeeping ---------------------------------------------------------------------------------

    def sweep(self, now: float, *, limit: int = SWEEP_LIMIT) -> int:
        """Delete rows nothing reads any more (the hourly timer): tickets and auto-reply rows older than
        KEEP_SECONDS, and windows that have run out. At most `limit` deletes a run; returns how many."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        deleted = 0
        cutoff, keys = {"cutoff": now - KEEP_SECONDS}, ["PartitionKey", "RowKey"]
        old = self.table.query_entities("At lt @cutoff", parameters=cutoff, select=keys, **self.options)
        for row in old:
            if deleted >= limit:
                return deleted
            self.table.delete_entity(row["PartitionKey"], row["RowKey"], **self.options)
            deleted += 1
        windows = self.table.query_entities(
            "Start lt @cutoff", parameters={"cutoff": now - MIN_WINDOW_AGE}, **self.options
        )  # fmt: skip
        for row in windows:
            if deleted >= limit:
                return deleted
            seconds = str(row["RowKey"])[1:]
            if not seconds.isdigit() or float(row.get("Start") or 0.0) + int(seconds) > now:
                continue  # still open
            try:  # only as read: a host that counted meanwhile opened a new window in it
                self.table.delete_entity(
                    row["PartitionKey"], row["RowKey"], etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified, **self.options,
                )  # fmt: skip
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            deleted += 1
        return deleted

    # -- inside --------------------------------------------------------------------------------------

    def _pause(self, attempt: int) -> None:
        time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt)))  # noqa: S311 (jitter)

    def _lock(self, pk: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(pk, threading.Lock())


_LOST_RACE = ("EntityAlreadyExists", "UpdateConditionNotSatisfied", "ResourceNotFound")  # another host wrote first


def _guarded(etag: str) -> dict[str, Any]:
    """A transaction's update options: replace the row only if it still has `etag`."""
    from azure.core import MatchConditions

    return {"mode": "replace", "etag": etag, "match_condition": MatchConditions.IfNotModified}


_counters: dict[str, LimitCounters] = {}
_counters_lock = threading.Lock()


def get_counters(*, connection: str = "AzureWebJobsStorage", **request_options: Any) -> LimitCounters:
    """This process's counters on the `limits` table (created on first use where nothing made it yet)."""
    from switchboard.adapters.storage import connection_key, create_once, table_client

    key = f"{connection_key(connection)}:{sorted(request_options.items())!r}"
    with _counters_lock:
        counters = _counters.get(key)
        if counters is None:
            table = table_client(TABLE, connection=connection)
            create_once(f"table:{TABLE}:{connection_key(connection)}", table.create_table)
            counters = _counters[key] = LimitCounters(table, **request_options)
        return counters
