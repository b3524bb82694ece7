"""Scripted and random faults for the emulator's create endpoints, so retries and the ambiguous gap can be tested."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

KINDS = ("calls", "messages")
HOLD_LIMIT_SECONDS = 60.0  # a held answer goes out by then even if nothing released it


@dataclass(frozen=True)
class Fault:
    """One injected outcome for a create request.

    - `status`: answer with that HTTP status and Twilio error JSON; nothing is created, unless
      `created`: then the resource is created first and the answer is still the error, as Twilio's
      error 20500 warns ("the request may have been carried out").
    - `slow`: create the resource, then answer after `slow` seconds (past a client's timeout: ambiguous).
    - `drop`: close the connection without an answer; nothing is created (ambiguous to the client).
    - `hold`: create the resource, then answer once the event is set (at most HOLD_LIMIT_SECONDS later): a test
      keeps a create in flight for exactly as long as it needs, whatever the machine's speed.
    `retry_after` adds a Retry-After header (seconds) to an error answer.
    """

    status: int | None = None
    code: int | None = None
    slow: float | None = None
    drop: bool = False
    created: bool = False
    retry_after: int | None = None
    tag: str | None = None  # how `injected` counts it, when not by kind (a storm's 429s)
    hold: threading.Event | None = None

    @property
    def label(self) -> str:
        if self.tag:
            return self.tag
        if self.drop:
            return "drop"
        if self.slow:
            return "slow"
        if self.hold is not None:
            return "hold"
        return f"{self.status} after create" if self.created else str(self.status)

    @property
    def error_code(self) -> int:
        if self.code is not None:
            return self.code
        return 20429 if self.status == 429 else 20500 if (self.status or 0) >= 500 else 20001


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: list[tuple[str, Fault, list[int]]] = []
        self._rates: dict[str, float] = {}
        self._slow_seconds = 0.0
        self._random = random.Random(0)
        self._storm: tuple[float, Fault] | None = None  # (monotonic deadline, the answer) of a storm
        self.injected: dict[str, int] = {}

    def add(
        self,
        kind: str,
        *,
        status: int | None = None,
        code: int | None = None,
        slow: float | None = None,
        drop: bool = False,
        created: bool = False,
        retry_after: int | None = None,
        times: int = 1,
        hold: threading.Event | None = None,
    ) -> None:
        """Make the next `times` creates of `kind` ("calls", "messages" or "*") fail this way.

        `created=True` with a `status`: create the resource, then answer with that error."""
        if kind not in (*KINDS, "*"):
            raise ValueError(f"unknown kind {kind!r}")
        if sum(x is not None and x is not False for x in (status, slow, drop or None, hold)) != 1:
            raise ValueError("give exactly one of status, slow, drop or hold")
        if (created or retry_after is not None) and status is None:
            raise ValueError("created and retry_after go with a status")
        with self._lock:
            fault = Fault(status, code, slow, drop, created, retry_after, hold=hold)
            self._scripted.append((kind, fault, [times]))

    def storm(self, seconds: float, *, status: int = 429, retry_after: int | None = None) -> None:
        """Every create answers `status` (nothing created) for the next `seconds`: a rate-limit storm."""
        with self._lock:
            tag = f"{status} storm"
            self._storm = (time.monotonic() + seconds, Fault(status, retry_after=retry_after, tag=tag))

    @property
    def storming(self) -> bool:
        with self._lock:
            return self._storm is not None and time.monotonic() < self._storm[0]

    def rates(
        self,
        *,
        error_500: float = 0.0,
        error_429: float = 0.0,
        drop: float = 0.0,
        slow: float = 0.0,
        slow_seconds: float = 0.0,
        created_500: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Random faults on every create, by probability (for chaos runs). `created_500`: create, then answer 500."""
        if error_500 + error_429 + drop + slow + created_500 > 1:
            raise ValueError("fault rates add up to more than 1")
        with self._lock:
            self._rates = {"500": error_500, "429": error_429, "drop": drop, "slow": slow, "created_500": created_500}
            self._slow_seconds = slow_seconds
            self._random = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._rates = {}
            self._storm = None

    def next(self, kind: str) -> Fault | None:
        with self._lock:
            fault = self._take_scripted(kind) or self._stormy() or self._draw()
            if fault is not None:
                self.injected[fault.label] = self.injected.get(fault.label, 0) + 1
            return fault

    def _stormy(self) -> Fault | None:
        if self._storm is None:
            return None
        deadline, fault = self._storm
        if time.monotonic() < deadline:
            return fault
        self._storm = None
        return None

    def _take_scripted(self, kind: str) -> Fault | None:
        for index, (wanted, fault, left) in enumerate(self._scripted):
            if wanted in (kind, "*"):
                left[0] -= 1
                if left[0] <= 0:
                    del self._scripted[index]
                return fault
        return None

    def _draw(self) -> Fault | None:
        if not self._rates:
            return None
        roll = self._random.random()
        for label, rate in self._rates.items():
            if roll < rate:
                if label == "drop":
                    return Fault(drop=True)
                if label == "slow":
                    return Fault(slow=self._slow_seconds)
                if label == "created_500":
                    return Fault(status=500, created=True)
                return Fault(status=int(label))
            roll -= rate
        return None
