"""One chaos run: enqueue N outbound requests while faults are injected, wait for quiescence, check the promises."""

from __future__ import annotations

import base64
import functools
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from chaos.callbacks import CallbackSender
from chaos.stack import (
    ACCOUNT_SID,
    API_KEY,
    API_SECRET,
    AUTH_TOKEN,
    app_environment,
    free_port,
    restart_azurite,
    start_azurite,
)
from tools.localmachine import LocalHostProcess

T = TypeVar("T")
TRANSITIONAL = ("pending", "sending", "retrying")
MALFORMED_KINDS = ("not json", "wrong shape", "bad number", "not utf-8", "not base64")


@dataclass
class Options:
    n: int = 1000
    kills: int = 5
    malformed: float = 0.05
    twice: float = 0.05
    seed: int = 1
    enqueue_seconds: float = 60.0
    settle_seconds: float = 300.0
    client_timeout: int = 1
    workdir: Path = Path(".run/chaos")
    azurite_restart: bool = True
    fault_500: float = 0.10
    fault_429: float = 0.05
    fault_drop: float = 0.02
    fault_slow: float = 0.01
    # Twilio's 20500: the create was carried out, then the answer was 500.
    fault_created_500: float = 0.05
    duplicate_callbacks: float = 0.2
    callback_spread: float = 3.0  # seconds over which a create's callbacks arrive, so an outage catches some
    # Storage unreachable for this long (Azurite stopped by PID, then started on the same data), halfway
    # through: long enough that status callbacks reaching a host meanwhile are answered 503 and lost.
    outage_seconds: float = 4.0
    # Every create answered 429 for this long, from a fifth of the way in: with the hosts' visibility timeout
    # of 1 s and maxDequeueCount 5, anything over 5 s dead-lettered every waiting message before deferrals.
    storm_seconds: float = 15.0
    # After the run settles: one reconcile run, as the timer would do it later, to find the lost callbacks.
    reconcile: bool = True
    # Local hosts consuming the same queues at once, as several instances do in Azure. A message is
    # leased for `lease` seconds: an attempt that runs longer (a slow Twilio answer, then reconciliation)
    # becomes visible to another host while the first still holds it.
    hosts: int = 3
    lease: float = 3.0


@dataclass
class Request:
    key: str
    kind: str  # call | sms | a malformed kind
    payload: bytes | str  # bytes are base64-encoded on the way in; str "not base64" goes in raw
    record_id: str | None = None  # None: the message carries no id (the app records it under a queue message id)
    twice: bool = False
    marker: str = ""
    # Sends that reached Azurite but got no answer (it was restarting): the message may be queued although the
    # send failed, so the retry may queue it twice. Only the harness knows; the report accounts for it.
    ambiguous_sends: int = 0

    @property
    def id_less(self) -> bool:
        return self.record_id is None


@dataclass
class Run:
    options: Options
    requests: list[Request] = field(default_factory=list)
    kills: int = 0
    azurite_restarts: int = 0
    storms: int = 0
    enqueued: int = 0
    send_errors: int = 0
    reconciled: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    # Request ids whose attempt a kill interrupted: the killed host's log shows it sending, and nothing after.
    interrupted: set[str] = field(default_factory=set)

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.log.append(line)
        print(line, flush=True)


def workload(options: Options, run_tag: str) -> list[Request]:
    rng = random.Random(options.seed)
    requests: list[Request] = []
    for i in range(options.n):
        key = f"chaos-{run_tag}-{i:05d}"
        to = f"+1555{rng.randrange(10**6, 10**7)}"
        if rng.random() < options.malformed:
            kind = MALFORMED_KINDS[len([r for r in requests if r.kind in MALFORMED_KINDS]) % len(MALFORMED_KINDS)]
            payloads: dict[str, bytes | str] = {
                "not json": f"{key}: please call {to}".encode(),
                "wrong shape": json.dumps([{"id": key, "type": "sms", "to": to}]).encode(),
                "bad number": json.dumps({"id": key, "type": "sms", "to": to.replace("+", "00"), "body": key}).encode(),
                "not utf-8": b"\xff\xfe" + key.encode(),
                "not base64": f'{{"id":"{key}","type":"sms","to":"{to}","body":"forgot base64"}}',
            }
            payload = payloads[kind]
            record_id = key if kind == "bad number" else None
            requests.append(Request(key, kind, payload, record_id, marker=key))
            continue
        kind = "sms" if rng.random() < 0.5 else "call"
        message: dict[str, Any] = {"id": key, "type": kind, "to": to}
        if kind == "sms":
            message["body"] = f"Chaos message {key}"
        else:
            message["say"] = f"Chaos call {key}"
        twice = rng.random() < options.twice
        requests.append(Request(key, kind, json.dumps(message).encode(), key, twice=twice, marker=key))
    return requests


def retrying(what: str, action: Callable[[], T], run: Run, tries: int = 60) -> T:
    """Storage calls from the harness ride out the Azurite restart, bounded."""
    for attempt in range(tries):
        try:
            return action()
        except Exception as error:
            if attempt == tries - 1:
                raise
            if attempt == 0:
                run.say(f"{what} failed ({type(error).__name__}); retrying")
            time.sleep(0.5)
    raise AssertionError("unreachable")


def enqueue_all(run: Run, stop: threading.Event) -> None:
    from switchboard.adapters.storage import queue_client
    from tools.devhost.queues import create_if_missing

    # No SDK retries: the SDK would resend an unanswered message itself, unseen (and its first backoff, about
    # 15 s, would hold the producer far past the restart); `retrying` resends in 0.5 s steps and counts it.
    raw = queue_client("outbound", base64=False, retry_total=0)
    retrying("create the queue", functools.partial(create_if_missing, raw), run)
    interval = run.options.enqueue_seconds / max(1, run.options.n)
    started = time.monotonic()
    for index, request in enumerate(run.requests):
        if stop.is_set():
            return
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        text = (
            request.payload if isinstance(request.payload, str) else base64.b64encode(request.payload).decode("ascii")
        )
        for _ in range(2 if request.twice else 1):
            try:
                retrying("enqueue", functools.partial(_send, raw, text, request), run)
            except Exception:
                run.send_errors += 1
                continue
            run.enqueued += 1


def _send(queue: Any, text: str, request: Request) -> Any:
    from azure.core.exceptions import ServiceRequestError

    try:
        return queue.send_message(text)
    except ServiceRequestError:
        raise  # never sent (refused): a retry cannot queue it twice
    except Exception:
        request.ambiguous_sends += 1
        raise


def chaos_schedule(run: Run, hosts: list[LocalHostProcess], azurite: Any, stop: threading.Event, emulator: Any) -> None:
    options = run.options
    rng = random.Random(options.seed + 1)
    window = options.enqueue_seconds + 4
    kill_at = sorted(rng.uniform(1.0, window) for _ in range(options.kills))
    restart_at = options.enqueue_seconds / 2 if options.azurite_restart else None
    started = time.monotonic()
    events: list[tuple[float, str]] = [(t, "kill") for t in kill_at]
    if restart_at is not None:
        events.append((restart_at, "azurite"))
    if options.storm_seconds > 0:
        events.append((options.enqueue_seconds / 5, "storm"))
    storm_over = threading.Event()
    storm_over.set()  # no storm yet: nothing to wait for
    for moment, what in sorted(events):
        delay = started + moment - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        if what == "azurite":
            # An outage stops every create: one that overlapped the storm (its start waits for the first create,
            # late on a loaded machine) left the storm meeting no create at all.
            while not storm_over.wait(0.1):
                if stop.is_set():
                    return
        if what == "kill":
            number = rng.randrange(len(hosts))
            host = hosts[number]
            host.kill()
            run.kills += 1
            caught = in_flight(
                host.log_path.read_text(encoding="utf-8", errors="replace"), datetime.now(), in_flight_window(options)
            )
            run.interrupted |= caught
            run.say(
                f"SIGKILL local host {number + 1} of {len(hosts)} (kill {run.kills} of {options.kills}); restarting it"
            )
            time.sleep(rng.uniform(0.2, 1.0))
            host.start()
        elif what == "storm":
            # A storm must meet creates: under load the hosts may not have reached Twilio yet (bounded wait).
            first = time.monotonic() + 20
            while not (emulator.attempts("calls") or emulator.attempts("messages")) and time.monotonic() < first:
                if stop.wait(0.1):
                    return
            run.say(f"429 storm: every create answered 429 for {options.storm_seconds:g}s")
            storm_over = storm(emulator, options.storm_seconds, stop)
            run.storms += 1
        else:
            run.say(f"Storage outage: Azurite stopped by PID for {options.outage_seconds:g}s, then started on the "
                    "same data folder")  # fmt: skip
            restart_azurite(azurite, options.outage_seconds)
            run.azurite_restarts += 1


def storm(emulator: Any, seconds: float, stop: threading.Event) -> threading.Event:
    """Start a 429 storm of `seconds` that meets at least one create: while none has met it, it goes on a second at
    a time (at most 20 s more), since a promise about a storm no create met says nothing. The event is set when it
    ends; kills go on meanwhile (the storm runs beside the schedule)."""
    tag = "429 storm"
    met_before = emulator.faults.injected.get(tag, 0)
    over = threading.Event()

    def met() -> bool:
        return bool(emulator.faults.injected.get(tag, 0) > met_before)

    def watch() -> None:
        latest = time.monotonic() + seconds + 20
        stop.wait(seconds)
        while not met() and not stop.is_set() and time.monotonic() < latest:
            emulator.faults.storm(1.0)
            stop.wait(1.0)
        over.set()

    emulator.faults.storm(seconds)
    threading.Thread(target=watch, name="chaos-storm", daemon=True).start()
    return over


# The worker logs "Starting attempt N of <type> <id>" before it marks the record `sending`, so a kill right
# after that write still leaves the line; "Sending ..." follows once the claim is its own.
_SENDING = re.compile(r"(?:Starting attempt \d+ of|Sending) (?:call|sms) (\S+)(?: to |$)")
_HANDLED = re.compile(r"outbound\.handled request_id=(\S+)")


def in_flight_window(options: Options) -> timedelta:
    """The worker's in-flight window under these hosts' settings (Deps.in_flight_window), and a second."""
    from switchboard.outbound.worker import in_flight_window as window

    return window(options.client_timeout) + timedelta(seconds=1)


def in_flight(host_log: str, now: datetime, window: timedelta) -> set[str]:
    """Pure: the request ids a host was sending when its log stops (since its last start): each attempt that
    logged `Sending ...` within the in-flight `window` before `now` and no `outbound.handled` after it. A kill
    at that moment leaves them `sending`. (An attempt that raised logs no id: the window bounds it.)"""
    log = host_log.rsplit("Switchboard local host:", 1)[-1]
    open_ids: set[str] = set()
    for line in log.splitlines():
        if sent := _SENDING.search(line):
            try:
                at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            except ValueError:
                continue
            if now - at <= window:
                open_ids.add(sent.group(1))
        elif handled := _HANDLED.search(line):
            open_ids.discard(handled.group(1))
    return open_ids


def execute(options: Options) -> int:
    from chaos.report import check, final_state, print_report
    from tools.emulator.rest import TwilioEmulator

    workdir = options.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_tag = f"{int(time.time()) % 100000:05d}"
    run = Run(options)
    run.requests = workload(options, run_tag)
    azurite = start_azurite(workdir / f"azurite-{run_tag}")
    emulator = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, api_keys={API_KEY: API_SECRET})
    emulator.faults.rates(
        error_500=options.fault_500, error_429=options.fault_429, drop=options.fault_drop, slow=options.fault_slow,
        slow_seconds=options.client_timeout + 1.5, created_500=options.fault_created_500, seed=options.seed,
    )  # fmt: skip
    sender = CallbackSender(
        AUTH_TOKEN, duplicate=options.duplicate_callbacks, seed=options.seed, spread=options.callback_spread
    )
    sender.finish = lambda kind, sid, fields: emulator.update_resource(kind, sid, **fields)
    emulator.listeners.append(sender.on_create)
    emulator.start()
    hosts = []
    for number in range(max(1, options.hosts)):
        port = free_port()
        env = app_environment(port, emulator.base_url, azurite.connection_string, options.client_timeout)
        hosts.append(LocalHostProcess(
            port, env, workdir / f"host-{run_tag}-{number + 1}.log",
            {"visibility_timeout": 1, "processing_lease": options.lease, "max_polling_interval": 0.5},
        ))  # fmt: skip
    os.environ.update(hosts[0].env)  # the harness reads records through the app's own store
    stop = threading.Event()
    try:
        for host in hosts:
            host.start()
        run.say(
            f"Run {run_tag}: {options.n} requests over {options.enqueue_seconds:.0f}s, {len(hosts)} hosts on the "
            f"same queues (lease {options.lease:g}s), {options.kills} kills"
        )
        producer = threading.Thread(target=enqueue_all, args=(run, stop), name="enqueue")
        chaos = threading.Thread(target=chaos_schedule, args=(run, hosts, azurite, stop, emulator), name="chaos")
        producer.start()
        chaos.start()
        producer.join()
        chaos.join()
        run.say(f"Enqueued {run.enqueued} messages; waiting for quiescence (at most {options.settle_seconds:.0f}s)")
        state = final_state(run, emulator, options.settle_seconds)
        # A slow create answers late, and its callbacks follow: let them land, then look again.
        sender.wait_idle(quiet=options.client_timeout + 2.5, timeout=240)
        state = final_state(run, emulator, 30.0, previous=state)
        if options.reconcile:
            open_before = len(open_records(state))
            run.reconciled = reconcile_once(run)
            state = final_state(run, emulator, 30.0, previous=state)
            state.open_before_reconcile = open_before
    finally:
        stop.set()
        for host in hosts:
            host.stop()
        emulator.stop()
        sender.close()
        azurite.stop()
    report = check(run, emulator, sender, state, [host.log_path for host in hosts])
    print_report(report)
    (workdir / f"report-{run_tag}.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0 if not report["violations"] else 1


def reconcile_once(run: Run) -> dict[str, Any]:
    """One run of the reconcile timer, in process, on the harness's records, as if an hour had passed."""
    from datetime import timedelta

    from switchboard.functions.status import reconcile_now
    from switchboard.records.store import utcnow
    from switchboard.settings import get_settings

    limit = 2 * max(1, run.options.n)
    summary = retrying(
        "reconcile",
        lambda: reconcile_now(get_settings(), now=utcnow() + timedelta(hours=1), limit=limit, per_second=500),
        run,
    )
    run.say(f"Reconcile run: {summary.fetched} fetched from Twilio, {summary.changed} changed")
    return dict(vars(summary))


def open_records(state: Any) -> list[str]:
    """Records with a SID whose status may still move (for the emulator, every call completes, every SMS is
    delivered): what lost callbacks leave behind."""
    from switchboard.records.reconcile import OPEN

    return sorted(
        rid for rid, rec in state.records.items()
        if rec.get("sid") and (rec.get("status") in OPEN.get(str(rec.get("type")), ()) or rec.get("status") == "sent")
    )  # fmt: skip


def request_id_of(form: dict[str, list[str]]) -> str | None:
    url = next(iter(form.get("StatusCallback") or []), "")
    return next(iter(parse_qs(urlsplit(url).query).get("request_id") or []), None)
