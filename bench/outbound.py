"""3. Outbound worker cost per message, against the Twilio emulator and Azurite on 127.0.0.1.

Run twice: over TLS (the emulator and Azurite serve HTTPS with a certificate from the benchmark's
own CA, as Twilio and Azure Storage are reached in production), and over plain HTTP for context.
Three ways to handle the same SMS request, interleaved in small chunks:
- worker: the app's own queue function, called as the host calls it;
- floor: the same Twilio POST and the same number of Table operations, with reused clients;
- naive: the pattern of Microsoft's Twilio guide, a new twilio Client and a new TableClient per message.
The number of Table operations per message is counted from the worker itself (its HTTP requests),
so the floor and the naive peer do exactly as much storage work.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The naive peer imports everything eagerly, as the guide's script does.
from azure.data.tables import TableClient, UpdateMode
from twilio.rest import Client

from bench import stats
from bench.payloads import ACCOUNT_SID, AUTH_TOKEN, BODY, DESTINATION, OUR_NUMBER
from bench.worker import Worker, find_worker

BENCH_TABLE = "benchfloor"
CHUNK = 25
LATENCY_CHUNK = 10
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


def status_callback() -> str:
    return (os.environ.get("PUBLIC_BASE_URL") or "https://switchboard.example.net") + "/api/sms/status"


# ---------------------------------------------------------------- counting what each message costs


@dataclass
class RequestCounter:
    """Counts HTTP requests by service (the port tells Azurite's table and queue apart from Twilio).

    Messages run one at a time while counting: `new_message()` starts the next, and the Table
    requests sent before that message's Twilio POST returned are counted apart.
    """

    services: dict[int, str]
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[dict[str, int]] = field(default_factory=list)  # per message: table, before_post
    transactions: list[list[int]] = field(default_factory=list)  # per message: entities in each Table transaction

    def new_message(self) -> None:
        self.messages.append({"table": 0, "before_post": -1})
        self.transactions.append([])

    def record(self, method: str, url: str, body: bytes = b"") -> None:
        port = urlsplit(url).port or 0
        kind = "write" if method.upper() in WRITE_METHODS else "read"
        service = self.services.get(port, "other")
        with self.lock:
            self.counts[(service, kind)] += 1
            if self.messages and service == "table":
                self.messages[-1]["table"] += 1
                if urlsplit(url).path.endswith("/$batch"):
                    # One request; each entity in it is one part of the multipart body.
                    self.transactions[-1].append(body.count(b"application/http"))

    def returned(self, method: str, url: str) -> None:
        service = self.services.get(urlsplit(url).port or 0, "other")
        with self.lock:
            if self.messages and service == "twilio" and method.upper() == "POST":
                current = self.messages[-1]
                if current["before_post"] < 0:
                    current["before_post"] = current["table"]


@contextlib.contextmanager
def counting(services: dict[int, str]) -> Iterator[RequestCounter]:
    """Patch requests.Session.send (both SDKs send through it) for the duration of a calibration."""
    import requests

    counter = RequestCounter(services)
    original = requests.Session.send

    def send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        counter.record(request.method or "GET", request.url or "", body)
        try:
            return original(self, request, **kwargs)
        finally:
            counter.returned(request.method or "GET", request.url or "")

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class StoragePlan:
    """How many Table writes and reads one message costs (measured on the worker)."""

    table_writes: int = 2  # write requests, a transaction counted as one
    table_reads: int = 0
    twilio_posts: int = 1
    measured: bool = False
    # Of those writes, the Table transactions: how many entities each holds. The SDK builds and parses a
    # transaction's multipart body, which costs more than a single write, so the floor sends them as such.
    transactions: tuple[int, ...] = ()
    # Table round trips per message, all and before the Twilio POST returned (max over calibration messages).
    sms_round_trips: int | None = None
    sms_before_post: int | None = None
    call_round_trips: int | None = None
    call_before_post: int | None = None


# ---------------------------------------------------------------- the three contenders


def base_url_client(twilio_base_url: str) -> Client:
    """A twilio Client whose requests go to the emulator (the SDK has no base-URL setting)."""
    from twilio.http.http_client import TwilioHttpClient

    class Rewriting(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().request(method, url.replace("https://api.twilio.com", twilio_base_url), *args, **kwargs)

    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=Rewriting(timeout=10))


def table_operations(table: TableClient, request_id: str, sid: str, plan: StoragePlan) -> None:
    """The floor's storage work, one request after another: a claim, then updates with ETags, plus the reads the
    worker makes. Where the worker sends a transaction, so does the floor, with as many entities (the first one
    the claim, a later one an ETag-guarded update with rows beside it)."""
    from azure.core import MatchConditions

    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    entity = {"PartitionKey": request_id, "RowKey": "request", "status": "sending", "to": DESTINATION, "at": now}
    transactions = list(plan.transactions)
    singles = plan.table_writes - len(transactions)

    def rows(count: int, label: str) -> list[tuple[str, dict[str, Any]]]:
        return [("create", {"PartitionKey": request_id, "RowKey": f"{label}-{i}", "at": now}) for i in range(count)]

    if transactions:
        metadata = table.submit_transaction([("create", entity), *rows(transactions.pop(0) - 1, "claim")])[0]
    else:
        metadata, singles = table.create_entity(entity), singles - 1
    for _ in range(plan.table_reads):
        table.get_entity(request_id, "request")
    update = {"PartitionKey": request_id, "RowKey": "request", "status": "queued", "sid": sid}
    for _ in range(singles):
        metadata = table.update_entity(
            update, mode=UpdateMode.MERGE, etag=metadata["etag"], match_condition=MatchConditions.IfNotModified
        )
    for index, size in enumerate(transactions):
        guard = {"mode": UpdateMode.MERGE, "etag": metadata["etag"], "match_condition": MatchConditions.IfNotModified}
        metadata = table.submit_transaction([("update", update, guard), *rows(size - 1, f"event{index}")])[0]


class Floor:
    def __init__(self, twilio_base_url: str, connection_string: str, plan: StoragePlan) -> None:
        self.client = base_url_client(twilio_base_url)
        self.table = TableClient.from_connection_string(connection_string, BENCH_TABLE)
        self.plan = plan

    def __call__(self, request_id: str) -> None:
        sent = self.client.messages.create(
            to=DESTINATION, from_=OUR_NUMBER, body=BODY, status_callback=status_callback()
        )
        table_operations(self.table, request_id, sent.sid, self.plan)


class Naive:
    """A new Client and a new TableClient for every message: a new connection pool, and TCP connect, each time."""

    def __init__(self, twilio_base_url: str, connection_string: str, plan: StoragePlan) -> None:
        self.twilio_base_url = twilio_base_url
        self.connection_string = connection_string
        self.plan = plan

    def __call__(self, request_id: str) -> None:
        client = base_url_client(self.twilio_base_url)
        table = TableClient.from_connection_string(self.connection_string, BENCH_TABLE)
        sent = client.messages.create(to=DESTINATION, from_=OUR_NUMBER, body=BODY, status_callback=status_callback())
        table_operations(table, request_id, sent.sid, self.plan)
        table.close()


# ---------------------------------------------------------------- running them


@dataclass
class Contenders:
    functions: dict[str, Callable[[str], None]]
    plan: StoragePlan
    sent: int = 0  # Twilio creates the emulator should have seen


def build(
    app: Any, twilio_base_url: str, connection_string: str, services: dict[int, str], known: StoragePlan | None = None
) -> Contenders:
    """The three contenders, warmed; the worker's requests counted first, unless `known` already says them."""
    table = TableClient.from_connection_string(connection_string, BENCH_TABLE)
    with contextlib.suppress(Exception):
        table.create_table()
    table.close()
    functions: dict[str, Callable[[str], None]] = {}
    plan = StoragePlan()
    function = find_worker(app)
    sent = 0
    if function is not None and known is not None and known.measured:
        # The same code counted a moment ago (over TLS without the proxy): warm the clients, count nothing again.
        worker = Worker(function)
        for index in range(2):
            worker(f"warm-{uuid.uuid4().hex[:12]}-{index}")
        sent, plan = 2, known
        functions["worker"] = worker
    elif function is not None:
        worker = Worker(function)
        for index in range(3):  # warm: deferred imports, clients, connection pools
            worker(f"warm-{uuid.uuid4().hex[:12]}-{index}")
        calibration = 5
        with counting(services) as counter:
            for index in range(calibration):
                counter.new_message()
                worker(f"calib-{uuid.uuid4().hex[:12]}-{index}")
        caller = Worker(function, "call")
        caller(f"warm-call-{uuid.uuid4().hex[:12]}")
        with counting(services) as calls:
            for index in range(calibration):
                calls.new_message()
                caller(f"calib-call-{uuid.uuid4().hex[:12]}-{index}")
        sent += 8
        per = {key: value / calibration for key, value in counter.counts.items()}
        plan = StoragePlan(
            table_writes=max(1, round(per.get(("table", "write"), 0))),
            table_reads=round(per.get(("table", "read"), 0)),
            twilio_posts=round(per.get(("twilio", "write"), 0)),
            measured=True,
            transactions=max((tuple(sizes) for sizes in counter.transactions), key=sum, default=()),
            sms_round_trips=max(m["table"] for m in counter.messages),
            sms_before_post=max(m["before_post"] for m in counter.messages),
            call_round_trips=max(m["table"] for m in calls.messages),
            call_before_post=max(m["before_post"] for m in calls.messages),
        )
        functions["worker"] = worker
    functions["floor"] = Floor(twilio_base_url, connection_string, plan)
    functions["naive"] = Naive(twilio_base_url, connection_string, plan)
    for name in ("floor", "naive"):
        for index in range(3):
            functions[name](f"warm-{name}-{uuid.uuid4().hex[:12]}-{index}")
        sent += 3
    return Contenders(functions, plan, sent)


def worker_available() -> bool:
    import function_app

    return find_worker(function_app.app) is not None


def run_size(contenders: Contenders, size: int, label: str, chunk_size: int = CHUNK) -> dict[str, dict[str, Any]]:
    samples: dict[str, list[int]] = {name: [] for name in contenders.functions}
    names = list(contenders.functions)
    done = 0
    round_number = 0
    while done < size:
        chunk = min(chunk_size, size - done)
        # Rotate the order every round so that no contender always runs first.
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            handle = contenders.functions[name]
            for index in range(done, done + chunk):
                request_id = f"{label}-{name}-{index}"
                start = time.perf_counter_ns()
                handle(request_id)
                samples[name].append(time.perf_counter_ns() - start)
        contenders.sent += chunk * len(names)
        done += chunk
        round_number += 1
    # Each round's median too: the ratio round by round is the run's own measure of its noise.
    return {
        name: stats.summary(values)
        | {"round_medians": [v / stats.NS_PER_MS for v in stats.round_medians(values, chunk_size)]}
        for name, values in samples.items()
    }


def describe_plan(plan: StoragePlan) -> str:
    """The Table work per message in words: writes (and which of them are transactions) and reads."""
    text = f"{plan.table_writes} Table writes"
    if plan.transactions:
        sizes = ", ".join(str(size) for size in plan.transactions)
        text += f" ({len(plan.transactions)} of them transactions, of {sizes} entities)"
    return f"{text}, {plan.table_reads} Table reads"


MAX_ROUND_TRIPS = 8
MAX_BEFORE_POST = 5


def round_trip_figures(plan: StoragePlan) -> list[dict[str, Any]]:
    """Table round trips per message next to their budget (a ratio of 1.0 or less is within it)."""
    rows = []
    for kind in ("sms", "call"):
        for part, budget, label in (
            ("round_trips", MAX_ROUND_TRIPS, "in all"),
            ("before_post", MAX_BEFORE_POST, "before the Twilio POST returns"),
        ):
            value = getattr(plan, f"{kind}_{part}")
            rows.append(stats.figure(
                f"round_trips_{kind}_{part}", f"Table round trips per {kind.upper() if kind == 'sms' else kind}, "
                f"{label}", measured=float(value) if value is not None else None, baseline=float(budget),
                baseline_name=f"budget: {budget}", unit="", op="<=", target=1.0,
                note="counted from the SDKs' HTTP requests on the worker, the most over 5 messages (a Table "
                "transaction is one round trip)", missing="not measured: worker not available",
            ))  # fmt: skip
    return rows


def measure(
    app: Any, twilio_base_url: str, connection_string: str, services: dict[int, str], sizes: list[int],
    *, tls: bool = True, latency: float | None = None, known: StoragePlan | None = None,
) -> dict[str, Any]:  # fmt: skip
    contenders = build(app, twilio_base_url, connection_string, services, known)
    by_size: dict[int, dict[str, dict[str, Any]]] = {}
    run_label = uuid.uuid4().hex[:8]
    # Through the latency proxy a message costs ~0.3-0.5 s: smaller rounds, so that its few messages still
    # make enough rounds to show their spread.
    chunk = LATENCY_CHUNK if latency else CHUNK
    for size in sizes:
        by_size[size] = run_size(contenders, size, f"{run_label}-{size}", chunk)
    largest = by_size[sizes[-1]]
    worker = largest.get("worker", {}).get("median")

    def rounds(peer: str, *, inverse: bool = False) -> list[float] | None:
        if "worker" not in largest:
            return None
        return stats.round_ratios(largest["worker"]["round_medians"], largest[peer]["round_medians"], inverse=inverse)

    missing = "not measured: worker not available"
    plan = contenders.plan
    note = (
        f"{sizes[-1]} SMS requests each, interleaved in chunks of {chunk}; per message: {plan.twilio_posts} Twilio "
        f"POST, {describe_plan(plan)} ({'counted on the worker' if plan.measured else 'assumed'}; the floor and "
        "the naive peer send them one after another)"
    )
    suffix, over = ("", "over TLS") if tls else ("_plain", "over plain HTTP (context)")
    if latency:
        suffix, over = "_latency", f"over TLS with {latency * 1000:g} ms added each way (bench/latency.py)"
        note += "; every round trip to Azurite and the emulator through a latency proxy, handshakes included"
    figures = [
        stats.figure(
            f"outbound_vs_floor{suffix}", f"Outbound worker cost per message, {over}", measured=worker,
            baseline=largest["floor"]["median"], baseline_name="same Twilio POST + Table operations, reused clients",
            unit="ms", op="<=", target=1.25 if tls else None, note=note, missing=missing, rounds=rounds("floor"),
        ),
        stats.figure(
            f"outbound_vs_naive{suffix}", f"Outbound worker speed-up over the naive peer, {over}", measured=worker,
            baseline=largest["naive"]["median"], baseline_name="new twilio Client + new TableClient per message",
            unit="ms", op=">=", target=2.0 if tls else None, inverse=True, note=note, missing=missing,
            rounds=rounds("naive", inverse=True),
        ),
    ]  # fmt: skip
    return {
        "figures": figures,
        "plan": contenders.plan,
        "detail": {
            "plan": contenders.plan.__dict__,
            "worker_available": "worker" in contenders.functions,
            "by_size": {str(size): result for size, result in by_size.items()},
            "twilio_creates_expected": contenders.sent,
        },
    }
