"""The pace meter in Table Storage: one row per key, claimed with ETag-guarded writes (see policies/pacing.py).

Table `pacing`, PartitionKey the meter key (`message:<sender>`, `call:<account SID>`), RowKey `meter`,
`NextFree` the first unclaimed moment (epoch seconds). A claim reads the row, computes the slot with
the pure rule and writes `NextFree` back if the row's ETag still matches; a 412 (another host claimed
meanwhile) reads again, a bounded number of times. No claim is ever lost or doubled: a write that lands
is the only thing that gives out a slot.

One process keeps the row it last wrote (with its ETag) and takes its own claims one at a time per
key: its threads do not race each other, and while no other host claims, a claim is one round trip.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Any

from switchboard.policies.pacing import next_slot

if TYPE_CHECKING:
    from azure.data.tables import TableClient

TABLE = "pacing"
ROW = "meter"
# Claims tried before giving up for now (the caller then waits a moment on the queue and asks again).
ATTEMPTS = 10
# After a lost race, a random pause of up to this many seconds (doubling each time, at most BACKOFF_CAP_SECONDS),
# so that the host that just won (one round trip, from its cached row) does not win every time.
BACKOFF_SECONDS = 0.005
BACKOFF_CAP_SECONDS = 0.08


class TableMeter:
    def __init__(self, table: TableClient, *, attempts: int = ATTEMPTS, **request_options: Any) -> None:
        self.table = table
        self.attempts = attempts
        self.options = request_options
        self.conflicts = 0  # 412s met (for tests and the benchmark)
        self._known: dict[str, tuple[str, float]] = {}  # key -> (ETag, NextFree) as this process last saw it
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def claim(self, key: str, interval: float, now: float) -> float | None:
        """Lease the next free slot for `key` (epoch seconds); None when other hosts kept winning."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with self._lock(key):
            for attempt in range(self.attempts):
                if attempt:
                    time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2**attempt)))  # noqa: S311 (jitter)
                known = self._known.pop(key, None) or self._read(key)
                entity = {"PartitionKey": key, "RowKey": ROW}
                if known is None:
                    claim = next_slot(None, now, interval)
                    try:
                        metadata = self.table.create_entity(entity | {"NextFree": claim.next_free}, **self.options)
                    except ResourceExistsError:
                        self.conflicts += 1
                        continue
                else:
                    etag, next_free = known
                    claim = next_slot(next_free, now, interval)
                    try:
                        metadata = self.table.update_entity(
                            entity | {"NextFree": claim.next_free}, mode=UpdateMode.REPLACE, etag=etag,
                            match_condition=MatchConditions.IfNotModified, **self.options,
                        )  # fmt: skip
                    except (ResourceModifiedError, ResourceNotFoundError):
                        self.conflicts += 1
                        continue
                self._known[key] = (str(metadata["etag"]), claim.next_free)
                return claim.slot
        return None

    def _read(self, key: str) -> tuple[str, float] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self.table.get_entity(key, ROW, **self.options)
        except ResourceNotFoundError:
            return None
        return str(entity.metadata["etag"]), float(entity.get("NextFree") or 0.0)

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


_meters: dict[str, TableMeter] = {}
_meters_lock = threading.Lock()


def get_meter(*, connection: str = "AzureWebJobsStorage") -> TableMeter:
    """This process's meter on the `pacing` table (created on first use where nothing made it yet)."""
    from switchboard.adapters.storage import connection_key, create_once, table_client

    key = connection_key(connection)  # one meter per storage connection
    with _meters_lock:
        meter = _meters.get(key)
        if meter is None:
            table = table_client(TABLE, connection=connection)
            create_once(f"table:{TABLE}:{key}", table.create_table)
            meter = _meters[key] = TableMeter(table)
        return meter
