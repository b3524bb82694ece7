"""The whole run: helper processes up, each section measured, results written, helpers stopped by PID."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import coldstart, machine, outbound, report, webhooks
from bench.payloads import APP_ENV
from bench.twilio_server import TwilioProcess
from switchboard.devhost.processes import PROJECT_ROOT, Azurite

# Chosen so that `make bench` on a 2-core machine finishes well inside 10 minutes, setup included.
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "coldstart": {"runs": 20, "first_call_repeats": 5},
        "webhooks": {"calls": 20_000, "shipped_every": 10},
        "outbound": {"sizes": [300, 1_000, 3_000]},
    },
    "quick": {
        "coldstart": {"runs": 2, "first_call_repeats": 1},
        "webhooks": {"calls": 50, "shipped_every": 1},
        "outbound": {"sizes": [10, 20]},
    },
}


def log(message: str) -> None:
    print(f"{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} {message}", flush=True)


@contextlib.contextmanager
def azurite() -> Iterator[Azurite]:
    server = Azurite.on_free_ports().start()
    log(f"Azurite pid {server.process.pid if server.process else '?'} on ports {server.ports}")
    try:
        yield server
    finally:
        server.stop()


def _port(url: str) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or 0


def run(*, quick: bool, out: Path, only: list[str] | None = None) -> tuple[Path, Path]:
    started = time.monotonic()
    sizes = SIZES["quick" if quick else "full"]
    wanted = set(only or sizes)
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.update(APP_ENV)
    results: dict[str, Any] = {"quick": quick, **machine.describe(), "sizes": sizes, "figures": [], "details": {}}
    sections_md: list[str] = []
    with azurite() as storage:
        os.environ["AzureWebJobsStorage"] = storage.connection_string
        if "coldstart" in wanted:
            log("1. cold start")
            section = coldstart.measure(
                sizes["coldstart"]["runs"], dict(os.environ), sizes["coldstart"]["first_call_repeats"]
            )
            results["figures"] += section["figures"]
            results["details"]["coldstart"] = section["detail"]
        if "webhooks" in wanted:
            log("2. webhook cost")
            import function_app

            section = webhooks.measure(function_app.app, sizes["webhooks"]["calls"], sizes["webhooks"]["shipped_every"])
            results["figures"] += section["figures"]
            results["details"]["webhooks"] = section["detail"]
        if "outbound" in wanted:
            log("3. outbound worker cost per message")
            import function_app

            twilio = TwilioProcess().start()
            os.environ["TWILIO_API_BASE_URL"] = twilio.base_url
            services = {storage.table_port: "table", storage.queue_port: "queue", _port(twilio.base_url): "twilio"}
            try:
                section = outbound.measure(
                    function_app.app, twilio.base_url, storage.connection_string, services,
                    sizes["outbound"]["sizes"],
                )  # fmt: skip
            finally:
                created = twilio.stop()
            section["detail"]["twilio_creates_seen"] = created
            results["figures"] += section["figures"]
            results["details"]["outbound"] = section["detail"]
    results["finished_at"] = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    results["wall_seconds"] = time.monotonic() - started
    results["sections_md"] = sections_md
    return report.write(results, out)
