"""4. End-to-end throughput: N requests through the queue, the local host, the Twilio emulator and Azurite.

The local host runs as its own process with host.json's queue settings. Every request id must
end with a final record (zero loss); latency runs from just before the enqueue to the record's
last update. The ceiling is Azurite alone doing the same storage operations per request, with
the same queue concurrency, in the same run.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import stats
from bench.worker import OUTBOUND_QUEUE, message
from tools.devhost.hostconfig import HostConfig
from tools.localmachine import LOOPBACK, PROJECT_ROOT, LocalHostProcess, free_port

ENQUEUE_THREADS = 4
FINAL = frozenset({"rejected", "failed", "dead_lettered", "unknown"})
WORK_DIR = PROJECT_ROOT / "bench" / ".work"


def now() -> float:
    return time.time()  # wall clock: it is compared with the records' own timestamps


def enqueue_all(client: Any, ids: list[str], encode: Callable[[str], str] = lambda text: text) -> dict[str, float]:
    """Send one message per id from a few threads; returns each id's enqueue time (wall clock)."""
    enqueued: dict[str, float] = {}

    def send(request_id: str) -> None:
        body = encode(json.dumps(message(request_id)))
        enqueued[request_id] = now()
        client.send_message(body)

    with ThreadPoolExecutor(ENQUEUE_THREADS) as pool:
        list(pool.map(send, ids))
    return enqueued


def wait_until_drained(queues: list[Any], timeout: float) -> bool:
    """True once every queue reports no messages (visible or in flight), within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(q.get_queue_properties().approximate_message_count == 0 for q in queues):
            return True
        time.sleep(0.25)
    return False


def _parse(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_records(ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Each id's record, read back from Table Storage (polling, bounded, until every id is final)."""
    from switchboard.records.store import get_store
    from switchboard.settings import get_settings

    settings = get_settings()
    store = get_store(settings.records_table, settings.optouts_table)
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout

    def read(request_id: str) -> None:
        record = store.get(request_id)
        if record is not None and (record.sid or record.status in FINAL):
            found[request_id] = {"status": record.status, "finished": _parse(record.updated_at)}

    while time.monotonic() < deadline:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(read, [i for i in ids if i not in found]))
        if len(found) == len(ids):
            break
        time.sleep(0.5)
    return found


def run_through_host(count: int, env: dict[str, str], label: str) -> dict[str, Any]:
    from switchboard.adapters.storage import queue_client
    from tools.devhost.queues import create_if_missing

    queue = queue_client(OUTBOUND_QUEUE)  # base64, as the host expects
    poison = queue_client(OUTBOUND_QUEUE + "-poison")
    for client in (queue, poison):
        create_if_missing(client)
    ids = [f"e2e-{label}-{index}" for index in range(count)]
    port = free_port()
    host_env = env | {"PUBLIC_BASE_URL": f"http://{LOOPBACK}:{port}"}
    host = LocalHostProcess(port, host_env, WORK_DIR / "devhost.log").start()
    try:
        started = now()
        enqueued = enqueue_all(queue, ids)
        drained = wait_until_drained([queue], timeout=max(60.0, count / 5))
        records = read_records(ids, timeout=30.0 if drained else 5.0)
    finally:
        host.stop()
    poisoned = poison.get_queue_properties().approximate_message_count
    latencies = [(records[i]["finished"] - enqueued[i]) * 1e9 for i in ids if i in records]
    finished = max((r["finished"] for r in records.values()), default=now())
    elapsed = max(finished - started, 1e-6)
    return {
        "requests": count,
        "final_records": len(records),
        "lost": count - len(records),
        "statuses": dict(Counter(r["status"] for r in records.values())),
        "poison_messages": poisoned,
        "seconds": elapsed,
        "requests_per_second": len(records) / elapsed,
        "latency_ms": stats.summary(latencies) if latencies else None,
    }


class Ceiling:
    """Azurite alone: the same queue and Table operations per request, with the host's queue concurrency.

    It has the local host's shape: one poller fetching up to batchSize, a pool of batchSize workers.
    """

    def __init__(self, plan: Any, connection_string: str, batch_size: int) -> None:
        from azure.data.tables import TableClient
        from azure.storage.queue import QueueClient

        name = "ceiling" + uuid.uuid4().hex[:8]
        self.queue = QueueClient.from_connection_string(connection_string, name)
        self.table = TableClient.from_connection_string(connection_string, name)
        self.plan = plan
        self.batch_size = batch_size
        self.lock = threading.Lock()
        self.running = self.processed = 0
        self.stop = threading.Event()

    def handle(self, received: Any) -> None:

        from bench.outbound import table_operations

        try:
            request_id = json.loads(base64.b64decode(received.content))["id"]
            table_operations(self.table, request_id, "SM" + "0" * 32, self.plan)  # the floor's, transactions too
            self.queue.delete_message(received)
            with self.lock:
                self.processed += 1
        finally:
            with self.lock:
                self.running -= 1

    def poll(self, pool: ThreadPoolExecutor) -> None:
        while not self.stop.is_set():
            with self.lock:
                free = self.batch_size - self.running
            if free <= 0:
                time.sleep(0.001)
                continue
            messages = list(self.queue.receive_messages(messages_per_page=free, max_messages=free))
            with self.lock:
                self.running += len(messages)
            for received in messages:
                pool.submit(self.handle, received)
            if not messages:
                time.sleep(0.01)

    def run(self, count: int) -> dict[str, Any]:
        self.queue.create_queue()
        self.table.create_table()
        ids = [f"ceiling-{index}" for index in range(count)]
        with ThreadPoolExecutor(self.batch_size) as pool:
            started = now()
            poller = threading.Thread(target=self.poll, args=(pool,), daemon=True)
            poller.start()
            enqueue_all(self.queue, ids, encode=lambda text: base64.b64encode(text.encode()).decode())
            deadline = time.monotonic() + max(60.0, count / 5)
            while self.processed < count and time.monotonic() < deadline:
                time.sleep(0.005)
            elapsed = now() - started
            self.stop.set()
            poller.join(timeout=10)
        with contextlib.suppress(Exception):
            self.queue.delete_queue()
            self.table.delete_table()
        return {
            "requests": count,
            "processed": self.processed,
            "seconds": elapsed,
            "requests_per_second": self.processed / elapsed,
        }


def measure(
    sizes: list[int],
    *,
    env: dict[str, str],
    plan: Any,
    connection_string: str,
    worker_available: bool,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    missing = "not measured: worker not available"
    if not worker_available:
        row = stats.figure(
            "e2e_throughput", "End-to-end throughput", measured=None, baseline=None,
            baseline_name="Azurite alone, same storage operations per request", unit="req/s", op=">=",
            target=0.6, ratio_label="%", missing=missing,
        )  # fmt: skip
        return {"figures": [row], "detail": {"worker_available": False}}
    batch_size = HostConfig.load(PROJECT_ROOT / "host.json").queues.batch_size
    by_size: dict[str, Any] = {}
    label = uuid.uuid4().hex[:8]
    for size in sizes:
        # At the largest size the ceiling runs right before the host, so both see the same machine;
        # smaller sizes only show how the host's own rate scales.
        ceiling = Ceiling(plan, connection_string, batch_size).run(size) if size == sizes[-1] else None
        if ceiling:
            log(f"   ceiling at {size}: {ceiling['requests_per_second']:.0f} req/s")
        host = run_through_host(size, env, f"{label}-{size}")
        log(f"   local host at {size}: {host['requests_per_second']:.0f} req/s, lost {host['lost']}")
        by_size[str(size)] = {"host": host, "ceiling": ceiling}
    largest = by_size[str(sizes[-1])]
    host, ceiling = largest["host"], largest["ceiling"]
    latency = host["latency_ms"] or {}
    from bench.outbound import describe_plan

    ops = f"{describe_plan(plan)} + queue send/receive/delete per request"
    figures = [
        stats.figure(
            "e2e_throughput", "End-to-end throughput (local host + emulator + Azurite)",
            measured=host["requests_per_second"], baseline=ceiling["requests_per_second"],
            baseline_name=f"Azurite alone: {ops}", unit="req/s", op=">=", target=0.6, ratio_label="%",
            note=f"N={host['requests']}, host.json batchSize {batch_size}; enqueue->final record p50 "
            f"{latency.get('p50', float('nan')):.0f} ms, p99 {latency.get('p99', float('nan')):.0f} ms; "
            f"lost {host['lost']}",
        ),
        stats.figure(
            "e2e_zero_loss", "Requests with a final record", measured=float(host["final_records"]),
            baseline=float(host["requests"]), baseline_name="requests enqueued", unit="", op=">=", target=1.0,
            ratio_label="%", note=f"statuses: {host['statuses']}; poison queue: {host['poison_messages']}",
        ),
    ]  # fmt: skip
    return {"figures": figures, "detail": {"worker_available": True, "by_size": by_size, "batch_size": batch_size}}
