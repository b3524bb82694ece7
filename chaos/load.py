"""`python -m chaos.load`: hold the webhook routes at a steady rate through the local host, on 127.0.0.1.

Open loop: request i is due at start + i / rate whatever happened before, and its latency is
measured from that moment, so a stall shows up in the figures instead of slowing the load down.
Bounded: rate x seconds requests, a fixed pool of senders, a timeout on each request.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from chaos.stack import AUTH_TOKEN, app_environment, free_port, start_azurite
from switchboard.webhooks.signature import sign
from tools.localmachine import LocalHostProcess

ROUTES = ("voice/incoming", "sms/incoming", "twiml/message", "voice/status", "sms/status")
MAX_RATE = 500
MAX_SECONDS = 600


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, route: str, latency: float) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.by_route[route] = self.by_route.get(route, 0) + 1

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def webhook(base: str, index: int) -> tuple[str, str, dict[str, str]]:
    route = ROUTES[index % len(ROUTES)]
    n = f"{index:07d}"
    caller = f"+1555{n}"
    params = {
        "voice/incoming": {"CallSid": f"CA{uuid.uuid4().hex}", "From": caller, "To": "+15005550006",
                           "CallStatus": "ringing", "Direction": "inbound"},
        "sms/incoming": {"MessageSid": f"SM{uuid.uuid4().hex}", "From": caller, "To": "+15005550006",
                         "Body": f"load {n}"},
        "twiml/message": {"CallSid": f"CA{uuid.uuid4().hex}", "From": caller},
        "voice/status": {"CallSid": f"CA{uuid.uuid4().hex}", "CallStatus": "completed", "To": caller},
        "sms/status": {"MessageSid": f"SM{uuid.uuid4().hex}", "MessageStatus": "delivered", "To": caller},
    }[route]  # fmt: skip
    query = "?Message=Hello%20from%20load" if route == "twiml/message" else ""
    return route, f"{base}/api/{route}{query}", params


def drive(base: str, rate: float, seconds: float, workers: int = 32) -> dict[str, Any]:
    rate, seconds = min(rate, MAX_RATE), min(seconds, MAX_SECONDS)
    total = int(rate * seconds)
    results = Results()
    local = threading.local()

    def send(index: int, due: float) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        route, url, params = webhook(base, index)
        headers = {"X-Twilio-Signature": sign(AUTH_TOKEN, url, params)}
        try:
            answer = session.post(url, data=params, headers=headers, timeout=10)
        except requests.RequestException as error:
            results.error(type(error).__name__)
            return
        if answer.status_code != 200 or b"<Response" not in answer.content:
            results.error(f"HTTP {answer.status_code}")
            return
        results.ok(route, time.monotonic() - due)

    started = time.monotonic()
    with ThreadPoolExecutor(workers, thread_name_prefix="load") as pool:
        for index in range(total):
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, index, due)
    elapsed = time.monotonic() - started
    done = len(results.latencies)
    return {
        "target_rate": rate,
        "seconds": seconds,
        "requests": total,
        "ok": done,
        "errors": sum(results.errors.values()),
        "error_kinds": results.errors,
        "held_rate": round(done / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(results.latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(results.latencies, 0.99) * 1000, 1),
        "max_ms": round(max(results.latencies, default=math.nan) * 1000, 1),
        "by_route": results.by_route,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.load", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help=f"requests per second (at most {MAX_RATE})")
    parser.add_argument("--seconds", type=float, default=60.0, help=f"duration (at most {MAX_SECONDS})")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="switchboard-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    azurite = start_azurite(workdir / "azurite")
    port = free_port()
    env = app_environment(port, "http://127.0.0.1:9", azurite.connection_string, 1)
    host = LocalHostProcess(port, env, workdir / "host.log", {"max_polling_interval": 2})
    try:
        host.start()
        base = f"http://127.0.0.1:{port}"
        drive(base, min(args.rate, 20), 1.0)  # warm-up: imports and table creation
        figures = drive(base, args.rate, args.seconds)
    finally:
        host.stop()
        azurite.stop()
    print(json.dumps(figures, indent=2))
    print(
        f"\nHeld {figures['held_rate']}/s of {figures['target_rate']}/s for {figures['seconds']:.0f}s: "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms, "
        f"errors {figures['errors']} of {figures['requests']}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
