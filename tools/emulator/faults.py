"""Scripted and random faults for the emulator's create endpoints, so retries and the ambiguous gap can be tested."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("calls", "messages")


@dataclass(frozen=True)
class Fault:
    """One injected outcome for a create request.

    - `status`: answer with that HTTP status and Twilio error JSON; nothing is created.
    - `slow`: create the resource, then answer after `slow` seconds (past a client's timeout: ambiguous).
    - `drop`: close the connection without an answer; nothing is created (ambiguous to the client).
    """

    status: int | None = None
    code: int | None = None
    slow: float | None = None
    drop: bool = False

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
        self.injected: dict[str, int] = {}

    def add(
        self,
        kind: str,
        *,
        status: int | None = None,
        code: int | None = None,
        slow: float | None = None,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next `times` creates of `kind` ("calls", "messages" or "*") fail this way."""
        if kind not in (*KINDS, "*"):
            raise ValueError(f"unknown kind {kind!r}")
        if sum(x is not None and x is not False for x in (status, slow, drop or None)) != 1:
            raise ValueError("give exactly one of status, slow or drop")
        with self._lock:
            self._scripted.append((kind, Fault(status, code, slow, drop), [times]))

    def rates(
        self,
        *,
        error_500: float = 0.0,
        error_429: float = 0.0,
        drop: float = 0.0,
        slow: float = 0.0,
        slow_seconds: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """Random faults on every create, by probability (for chaos runs)."""
        if error_500 + error_429 + drop + slow > 1:
            raise ValueError("fault rates add up to more than 1")
        with self._lock:
            self._rates = {"500": error_500, "429": error_429, "drop": drop, "slow": slow}
            self._slow_seconds = slow_seconds
            self._random = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._scripted.clear()
            self._rates = {}

    def next(self, kind: str) -> Fault | None:
        with self._lock:
            fault = self._take_scripted(kind) or self._draw()
            if fault is not None:
                label = "drop" if fault.drop else "slow" if fault.slow else str(fault.status)
                self.injected[label] = self.injected.get(label, 0) + 1
            return fault

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
                return Fault(status=int(label))
            roll -= rate
        return None
