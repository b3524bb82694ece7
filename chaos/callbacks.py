"""Status callbacks as Twilio would send them, but duplicated and out of order, posted to the app over HTTP.

Each created call or message gets its lifecycle of callbacks (signed like Twilio's, with an
`I-Twilio-Idempotency-Token` per callback). Some are posted twice; each resource's callbacks are
shuffled. A post that fails (the host is being killed) is retried a few times, as Twilio does.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
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
    _random: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(12, thread_name_prefix="callbacks"))

    def __post_init__(self) -> None:
        self._random.seed(self.seed)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=16)
        self._session.mount("http://", adapter)

    def on_create(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        """The emulator's listener: called after a create was answered."""
        url = next(iter(form.get("StatusCallback") or []), None)
        if not url:
            return
        steps = CALL_STEPS if kind == "calls" else SMS_STEPS
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
        with self._lock:
            self.pending += len(plan)
        for status, token in plan:
            self._pool.submit(self._post, kind, resource, url, status, token)

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
        time.sleep(self._random.random() * 0.1)  # callbacks of one resource overtake each other
        for attempt in range(POST_TRIES):
            try:
                answer = self._session.post(url, data=params, headers=headers, timeout=10)
                if answer.status_code < 500:
                    with self._lock:
                        self.posted += 1
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
        self._pool.shutdown(wait=True, cancel_futures=True)
