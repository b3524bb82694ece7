"""Sending the outbox (issue 24): pending events out to their sinks, then their rows deleted.

`publish` sends one partition's pending rows (a record's, or a number's opt-out events), oldest first,
right after the write that made them; `republish` is the timer's sweep over every pending row older than
a short grace, bounded in count and time. Delivery is at least once: an event whose row could not be
deleted after it was sent (or that reached the queue but not Event Grid) goes out again, under the same
`id`. Within one partition the rows go in `sequence` order and a failure stops the rest of that
partition, so one record's events never overtake each other. Numbers are never logged unmasked.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from switchboard.adapters.events import EventSink
from switchboard.records.model import parse_iso
from switchboard.records.outbox import publishable
from switchboard.records.store import RecordStore, Written

log = logging.getLogger("switchboard.events")

REPUBLISH_GRACE = timedelta(seconds=30)  # younger rows are still being published by the write that made them
REPUBLISH_MAX_ROWS = 500
REPUBLISH_MAX_SECONDS = 40.0


@dataclass
class Summary:
    sent: int = 0
    failed: int = 0
    scanned: int = 0
    stopped_early: bool = False


def publish(store: RecordStore, written: Sequence[Written], sinks: Sequence[EventSink], *, include_body: bool) -> int:
    """Send the events a write just made (`outbox_journal`), each partition's oldest first, then delete their rows.

    No read: the rows are the ones the write holds. Returns how many were sent; a partition that fails
    keeps its rows (the republish timer sends them); the first failure is raised once the others went.
    """
    from switchboard.records.store import concurrently  # looked up per call: a round-trip test counts its batches

    groups: dict[tuple[bool, str], list[dict[str, Any]]] = {}
    for item in written:
        groups.setdefault((item.optouts, str(item.row["PartitionKey"])), []).append(item.row)

    def one(optouts: bool, rows: list[dict[str, Any]]) -> Callable[[], int]:
        rows.sort(key=lambda row: str(row["RowKey"]))
        return lambda: _send(store, rows, sinks, include_body=include_body, optouts=optouts)

    # A STOP's arrival and its opt-out are two partitions: sent at once (`concurrently` raises the first failure).
    return sum(concurrently([one(optouts, rows) for (optouts, _), rows in groups.items()]))


def republish(
    store: RecordStore,
    sinks: Sequence[EventSink],
    now: datetime,
    *,
    include_body: bool,
    grace: timedelta = REPUBLISH_GRACE,
    max_rows: int = REPUBLISH_MAX_ROWS,
    max_seconds: float = REPUBLISH_MAX_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Send what is still pending (older than `grace`), at most `max_rows` rows and about `max_seconds` per run.

    Each table (records, then opt-outs) is scanned once; rows are grouped by partition and each
    partition sent oldest first. A partition that fails is left for the next run.
    """
    summary = Summary()
    deadline = clock() + max_seconds
    for optouts in (False, True):
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in store.pending_outbox(optouts=optouts):
            summary.scanned += 1
            if _event_time(row) > now - grace:
                continue
            groups.setdefault(str(row["PartitionKey"]), []).append(row)
            if sum(map(len, groups.values())) >= max_rows - summary.sent or clock() > deadline:
                summary.stopped_early = True
                break
        for rows in groups.values():
            if clock() > deadline or summary.sent >= max_rows:
                summary.stopped_early = True
                break
            rows.sort(key=lambda row: str(row["RowKey"]))
            try:
                summary.sent += _send(store, rows, sinks, include_body=include_body, optouts=optouts)
            except Exception as error:
                summary.failed += 1
                log.warning("Could not republish a pending event: %s", type(error).__name__)
        if summary.stopped_early:
            break
    return summary


def _send(
    store: RecordStore, rows: list[dict[str, Any]], sinks: Sequence[EventSink], *, include_body: bool, optouts: bool
) -> int:
    if not rows:
        return 0
    events = [publishable(str(row["event"]), include_body=include_body) for row in rows]
    for sink in sinks:
        sink.send(events)  # the whole partition at once: Event Grid takes it as one batch
    store.drop_outbox_rows(str(rows[0]["PartitionKey"]), [str(row["RowKey"]) for row in rows], optouts=optouts)
    return len(rows)


def _event_time(row: dict[str, Any]) -> datetime:
    try:
        return parse_iso(str(json.loads(str(row["event"]))["time"]))
    except (KeyError, ValueError, TypeError):
        return datetime.min.replace(tzinfo=timezone.utc)  # unreadable: due now
