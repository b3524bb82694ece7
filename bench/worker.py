"""Calling the app's outbound queue function the way the host does. Imports nothing heavy at module level."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

from bench.payloads import BODY, DESTINATION

OUTBOUND_QUEUE = "outbound"


def message(request_id: str, kind: str = "sms") -> dict[str, Any]:
    """One outbound request, as other apps put it on the `outbound` queue."""
    if kind == "call":
        return {"type": "call", "id": request_id, "to": DESTINATION, "say": "Hello world."}
    return {"type": "sms", "id": request_id, "to": DESTINATION, "body": BODY}


def find_worker(app: Any) -> Any | None:
    """The app's queue function on `outbound`, or None while the app has none."""
    from tools.devhost.index import index

    return next((f for f in index(app)[1] if f.queue_name == OUTBOUND_QUEUE), None)


class Worker:
    def __init__(self, function: Any, kind: str = "sms") -> None:
        self.function = function
        self.kind = kind

    def __call__(self, request_id: str) -> None:
        from azure.functions.queue import QueueMessage

        from tools.devhost.invoke import invoke

        body = json.dumps(message(request_id, self.kind)).encode()
        now = datetime.datetime.now(datetime.timezone.utc)
        trigger = QueueMessage(
            id=str(uuid.uuid4()), body=body, dequeue_count=1, pop_receipt="bench",
            insertion_time=now, expiration_time=now + datetime.timedelta(days=7), time_next_visible=now,
        )  # fmt: skip
        invoke(self.function.user_function, self.function.arg_name, trigger, self.function.outputs, _no_outputs)


def _no_outputs(output: Any, value: Any) -> None:
    raise RuntimeError(f"the outbound worker wrote to output binding {output!r}; the benchmark does not model it")


def first_sends() -> dict[str, float]:
    """In a fresh process: the first outbound sends, deferred imports included (see bench.first_call)."""
    import function_app

    result: dict[str, float] = {}
    function = find_worker(function_app.app)
    if function is None:
        raise RuntimeError("the app has no outbound worker")
    worker = Worker(function)
    for name in ("first_send_ms", "second_send_ms"):
        start = time.perf_counter_ns()
        worker(f"first-{uuid.uuid4().hex[:16]}")
        result[name] = (time.perf_counter_ns() - start) / 1e6
    return result
