"""Twilio's send queues: each sender's messages and the account's calls leave at a metered rate.

What Twilio documents and the emulator copies:
- messages are sent at each sender's rate (a long code: 1 segment per second; a Messaging Service is
  metered as one sender here); faster creates are accepted and wait `queued` until their turn;
- a sender's queue holds a limited amount (Twilio: about 4 hours of sending); past it the create is
  refused with 400 and code 21611 ("This 'From' number has exceeded the maximum number of queued messages");
- calls leave at the account's calls per second (CPS, default 1), waiting `queued` meanwhile; past 24 hours
  of queued calls the create is refused with 400 and code 22005. A call's `queue_time` is the milliseconds
  it waited.

The queue is kept in real time (`time.time()`), since it is what a client's pace is measured against.
Off (no rate) unless configured: `--message-rate`, `--call-rate`, `--message-queue-limit`, or
`TwilioEmulator(pacing=SendPacing(...))`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tools.emulator.resources import TwilioError

QUEUE_HOURS = 4.0  # a sender's queue holds this much sending by default (Twilio: "up to 4 hours")
CALL_QUEUE_HOURS = 24.0  # Twilio refuses a call create (22005) past 24 hours of queued calls


@dataclass(frozen=True)
class SendPacing:
    message_rate: float | None = None  # segments per second per sender; None: no queue, sent at once
    call_rate: float | None = None  # calls per second per account
    message_queue_limit: int | None = None  # queued segments per sender; None: QUEUE_HOURS at message_rate

    def __post_init__(self) -> None:
        for name in ("message_rate", "call_rate"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be above 0")
        if self.message_queue_limit is not None and self.message_queue_limit < 1:
            raise ValueError("message_queue_limit must be at least 1")


class SendQueues:
    """The slot each create leaves in, per sender (messages) or for the account (calls)."""

    def __init__(self, pacing: SendPacing | None = None, clock: Callable[[], float] = time.time) -> None:
        self.pacing = pacing or SendPacing()
        self.clock = clock
        self.refused = {"21611": 0, "22005": 0}
        self._lock = threading.Lock()
        self._next_free: dict[str, float] = {}
        self._waiting: dict[str, deque[tuple[float, int]]] = {}  # key -> (slot, cost) still queued
        self._queued: dict[str, int] = {}  # key -> the sum of the costs in _waiting

    def admit(self, kind: str, sender: str, segments: int = 1) -> float:
        """The moment this create leaves the queue (now when unmetered); raises TwilioError when the queue is full."""
        now = self.clock()
        rate = self.pacing.call_rate if kind == "calls" else self.pacing.message_rate
        if rate is None:
            return now
        key = "calls" if kind == "calls" else f"messages:{sender}"
        cost = 1 if kind == "calls" else max(1, segments)
        with self._lock:
            waiting = self._waiting.setdefault(key, deque())
            queued = self._queued.get(key, 0)
            while waiting and waiting[0][0] <= now:
                queued -= waiting.popleft()[1]
            if kind == "calls":
                if queued / rate > CALL_QUEUE_HOURS * 3600:
                    self.refused["22005"] += 1
                    raise TwilioError(400, 22005, "Too many queued calls: more than 24 hours of calls are queued")
            else:
                limit = self.pacing.message_queue_limit or max(1, int(QUEUE_HOURS * 3600 * rate))
                if queued + cost > limit:
                    self.refused["21611"] += 1
                    raise TwilioError(
                        400, 21611, "This 'From' number has exceeded the maximum number of queued messages"
                    )
            slot = max(now, self._next_free.get(key, now))
            self._next_free[key] = slot + cost / rate
            if slot > now:
                waiting.append((slot, cost))
                queued += cost
            self._queued[key] = queued
            return slot


class Later:
    """One thread that runs work at a moment (epoch seconds): what leaves a send queue, in order."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def at(self, moment: float, work: Callable[[], None]) -> None:
        with self._wake:
            if self._stopped:
                return
            heapq.heappush(self._heap, (moment, self._count, work))
            self._count += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="emulator-send-queue", daemon=True)
                self._thread.start()
            self._wake.notify()

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._heap)

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._heap.clear()
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > self.clock()):
                    timeout = self._heap[0][0] - self.clock() if self._heap else None
                    self._wake.wait(timeout=None if timeout is None else max(0.001, min(timeout, 1.0)))
                if self._stopped:
                    return
                _, _, work = heapq.heappop(self._heap)
            work()
