"""Status callbacks as Twilio would send them, but duplicated and out of order, posted to the app over HTTP.

Each created call or message gets its lifecycle of callbacks (signed like Twilio's, with an
`I-Twilio-Idempotency-Token` per callback). Some are posted twice; each resource's callbacks are
shuffled. As at Twilio, the resource itself reaches its last status (`finish`, the emulator's), whether
or not its callbacks arrive. A post that cannot connect (the host is being killed) is retried a few
times; a post answered 5xx (storage unreachable) is lost, as Twilio does not retry it by default, and
is counted: the reconcile run has to find those.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from switchboard.webhooks.signature import sign

CALL_STEPS = ("initiated", "ringing", "in-progress", "completed")
SMS_STEPS = ("queued", "sent", "delivered")
POST_TRIES = 6


@dataclass
class CallbackSender:
    auth_token: str
    duplicate: float = 0.2
    seed: int = 0
    posted: int = 0
    duplicates: int = 0
    failed: int = 0
    pending: int = 0
    lost: int = 0  # answered 5xx: Twilio would not send it again
    # Twilio's side of it: the resource's own final state, set when its callbacks are planned.
    finish: Callable[[str, str, dict[str, Any]], object] | None = None
    # Callbacks go out over this many seconds after the create, as a call rings and ends, an SMS is delivered.
    spread: float = 0.1
    _random: random.Random = field(default_factory=random.Random)
    _order: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(12, thread_name_prefix="callbacks"))

    def __post_init__(self) -> None:
        self._random.seed(self.seed)
        self._due: list[tuple[float, int, tuple[Any, ...]]] = []  # (monotonic time, order, post arguments)
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._timer = threading.Thread(target=self._release, name="callback-timer", daemon=True)
        self._timer.start()
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=16)
        self._session.mount("http://", adapter)

    def on_create(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        """The emulator's listener: called after a create was answered."""
        url = next(iter(form.get("StatusCallback") or []), None)
        if not url:
            return
        steps = CALL_STEPS if kind == "calls" else SMS_STEPS
        if self.finish is not None:
            final = {"status": steps[-1], "duration": "5"} if kind == "calls" else {"status": steps[-1]}
            self.finish(kind, str(resource["sid"]), final)
        with self._lock:
            order = list(steps)
            self._random.shuffle(order)
            plan = []
            for status in order:
                token = uuid.uuid4().hex
                plan.append((status, token))
                if self._random.random() < self.duplicate:
                    plan.append((status, token))  # a retry of the same callback
                    self.duplicates += 1
        now = time.monotonic()
        with self._wake:
            self.pending += len(plan)
            for status, token in plan:
                heapq.heappush(self._due, (now + self._random.random() * self.spread, next(self._order),
                                           (kind, resource, url, status, token)))  # fmt: skip
            self._wake.notify()

    def _release(self) -> None:
        """Hand each callback to the pool when it is due (a bounded loop per wake-up)."""
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    _, _, args = heapq.heappop(self._due)
                    self._pool.submit(self._post, *args)
                self._wake.wait(timeout=(self._due[0][0] - now) if self._due else 0.5)

    def _post(self, kind: str, resource: dict[str, Any], url: str, status: str, token: str) -> None:
        try:
            self._deliver(kind, resource, url, status, token)
        finally:
            with self._lock:
                self.pending -= 1

    def _deliver(self, kind: str, resource: dict[str, Any], url: str, status: str, token: str) -> None:
        if kind == "calls":
            params = {"CallSid": resource["sid"], "CallStatus": status, "To": resource["to"], "From": resource["from"],
                      "Direction": "outbound-api", "AccountSid": resource["account_sid"]}  # fmt: skip
        else:
            params = {"MessageSid": resource["sid"], "MessageStatus": status, "To": resource["to"],
                      "From": resource.get("from") or "", "AccountSid": resource["account_sid"]}  # fmt: skip
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, params), "I-Twilio-Idempotency-Token": token}
        for attempt in range(POST_TRIES):
            try:
                answer = self._session.post(url, data=params, headers=headers, timeout=10)
                with self._lock:
                    if answer.status_code < 500:
                        self.posted += 1
                    else:
                        self.lost += 1
                return
            except requests.RequestException:
                pass
            time.sleep(0.5 * (attempt + 1))
        with self._lock:
            self.failed += 1

    def wait_idle(self, quiet: float, timeout: float) -> bool:
        """Wait until nothing has been pending for `quiet` seconds (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        idle_since: float | None = None
        while time.monotonic() < deadline:
            with self._lock:
                busy = self.pending > 0
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= quiet:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._timer.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
