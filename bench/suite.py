"""The whole run: helper processes up, each section measured, results written, helpers stopped by PID."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import coldstart, e2e, latency, machine, outbound, pacing, plot, report, tls, webhooks
from bench.payloads import APP_ENV
from bench.twilio_server import TwilioProcess
from tools.localmachine import PROJECT_ROOT, Azurite

# Chosen so that `make bench` on a 2-core machine takes minutes, not hours (399 s and 738 s seen on two such machines).
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "coldstart": {"runs": 20, "first_call_repeats": 5, "source_runs": 5},
        "webhooks": {"calls": 20_000, "shipped_every": 40},
        "outbound": {"sizes": [100, 250, 600], "tls_sizes": [300]},
        "latency": {"sizes": [50], "ms": 20},
        "e2e": {"sizes": [500, 2_000]},
        "pacing": {"rate": 2, "messages": 90, "hosts": 3},
    },
    "quick": {  # every section once, as small as still gives two sizes to compare: `make test`'s smoke run
        "coldstart": {"runs": 1, "first_call_repeats": 1, "source_runs": 1},
        "webhooks": {"calls": 50, "shipped_every": 1},
        "outbound": {"sizes": [5, 10], "tls_sizes": [5]},
        "latency": {"sizes": [3], "ms": 20},
        "e2e": {"sizes": [5, 10]},
        "pacing": {"rate": 10, "messages": 20, "hosts": 3},
    },
}


APP_PREFIXES = (
    "TWILIO_",
    "VOICE_",
    "SMS_",
    "TWIML_",
    "HOLDMUSIC_",
    "FORWARD_",
    "RECORDS_",
    "OPTOUTS_",
    "APPLICATIONINSIGHTS_",
)
APP_SETTINGS = frozenset({"PUBLIC_BASE_URL", "WEBHOOK_VALIDATION", "MAX_BODY_BYTES", "AzureWebJobsStorage"})


def log(message: str) -> None:
    print(f"{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} {message}", flush=True)


@contextlib.contextmanager
def azurite(certificates: tls.Certificates | None = None) -> Iterator[Azurite]:
    files = {"cert": certificates.cert, "key": certificates.key} if certificates else {}
    server = Azurite.on_free_ports(**files).start()
    log(f"Azurite pid {server.process.pid if server.process else '?'} on ports {server.ports}")
    try:
        yield server
    finally:
        server.stop()


def _port(url: str) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or 0


def scaling_figures(details: dict[str, Any]) -> list[dict[str, Any]]:
    """5. Scaling: cost per message at the largest size against the smallest (flat is 1.0)."""
    from bench import stats

    rows = []
    outbound_sizes = details.get("outbound", {}).get("by_size", {})
    if "worker" in next(iter(outbound_sizes.values()), {}):
        small, large = min(outbound_sizes, key=int), max(outbound_sizes, key=int)
        rows.append(
            stats.figure(
                "scaling_outbound", f"Worker cost per message at {large} vs {small} messages",
                measured=outbound_sizes[large]["worker"]["median"], baseline=outbound_sizes[small]["worker"]["median"],
                baseline_name=f"the same at {small}", unit="ms", op="<=", target=1.25,
                note="flat is 1.0; the target is this benchmark's own tolerance for noise",
            )
        )  # fmt: skip
        # The floor runs interleaved with the worker: if it moved as much, the machine or Azurite moved, not the worker.
        worker_ratio = [outbound_sizes[size]["worker"]["median"] / outbound_sizes[size]["floor"]["median"]
                        for size in (small, large)]  # fmt: skip
        rows.append(
            stats.figure(
                "scaling_outbound_vs_floor", f"Worker/floor ratio at {large} vs {small} messages",
                measured=worker_ratio[1], baseline=worker_ratio[0], baseline_name=f"the same at {small}",
                unit="x", op="<=", target=None,
                note=f"floor per message: {outbound_sizes[small]['floor']['median']:.1f} ms at {small}, "
                f"{outbound_sizes[large]['floor']['median']:.1f} ms at {large}",
            )
        )  # fmt: skip
    e2e_sizes = details.get("e2e", {}).get("by_size", {})
    if len(e2e_sizes) >= 2:
        small, large = min(e2e_sizes, key=int), max(e2e_sizes, key=int)
        rows.append(
            stats.figure(
                "scaling_e2e", f"End-to-end time per request at {large} vs {small} requests",
                measured=1000 / e2e_sizes[large]["host"]["requests_per_second"],
                baseline=1000 / e2e_sizes[small]["host"]["requests_per_second"],
                baseline_name=f"the same at {small}", unit="ms", op="<=", target=1.25,
                note="wall time per request (1 / throughput); flat is 1.0",
            )
        )  # fmt: skip
    return rows


def _add(results: dict[str, Any], name: str, section: dict[str, Any]) -> None:
    results["figures"] += section["figures"]
    results["details"][name] = section["detail"]
    loads = results.setdefault("load_by_section", {})
    loads[name] = [results.pop("_load_at_section_start", None), round(os.getloadavg()[0], 2)]


def _starting(results: dict[str, Any], title: str) -> None:
    """Log the section's title with the machine's load now (its end is taken when the section is added)."""
    load = round(os.getloadavg()[0], 2)
    results["_load_at_section_start"] = load
    log(f"{title} (load average {load})")


def run_outbound(results: dict[str, Any], sizes: dict[str, Any]) -> dict[str, Any]:
    """Plain HTTP first (context, and the figures the scaling rows read), then the same over TLS."""
    with azurite() as storage:
        os.environ["AzureWebJobsStorage"] = storage.connection_string
        plain = _run_outbound(results, storage, sizes, sizes["outbound"]["sizes"])
    log("   the same over TLS (a test CA made here; Azurite with --cert/--key, the emulator on HTTPS)")
    with tempfile.TemporaryDirectory(prefix="switchboard-tls-") as work:
        certificates = tls.make(Path(work))
        with azurite(certificates) as storage, tls.trusted(certificates):
            os.environ["AzureWebJobsStorage"] = storage.connection_string
            secure = _run_outbound(results, storage, sizes, sizes["outbound"]["tls_sizes"], certificates)
    plain["figures"] = outbound.round_trip_figures(secure["plan"]) + secure["figures"] + plain["figures"]
    plain["detail"]["tls"] = secure["detail"]
    plain["plan"] = secure["plan"]
    return plain


def _add_logged(results: dict[str, Any], name: str, section: dict[str, Any]) -> None:
    """Add a section and print its figures, each next to its target."""
    _add(results, name, section)
    for row in section["figures"]:
        log(f"   {report.one_line(row)}")


def run_latency(results: dict[str, Any], sizes: dict[str, Any], plan: outbound.StoragePlan | None) -> dict[str, Any]:
    """The TLS case again, with every round trip through a latency proxy (bench/latency.py).

    `plan`: the worker's requests as section 3 counted them, if it ran (not counted again through the proxy)."""
    delay = sizes["latency"]["ms"] / 1000
    with tempfile.TemporaryDirectory(prefix="switchboard-tls-") as work:
        certificates = tls.make(Path(work))
        with azurite(certificates) as storage, tls.trusted(certificates):
            os.environ["AzureWebJobsStorage"] = storage.connection_string
            try:
                section = _run_outbound(
                    results, storage, sizes, sizes["latency"]["sizes"], certificates, latency_seconds=delay, known=plan
                )
            finally:
                os.environ["AzureWebJobsStorage"] = storage.connection_string
    section["detail"] = {"latency_ms": sizes["latency"]["ms"], **section["detail"]}
    return section


def _run_outbound(
    results: dict[str, Any], storage: Azurite, sizes: dict[str, Any], run_sizes: list[int],
    certificates: tls.Certificates | None = None, *, latency_seconds: float | None = None,
    known: outbound.StoragePlan | None = None,
) -> dict[str, Any]:  # fmt: skip
    import function_app
    from switchboard.records import store

    store.reset_stores()  # the app caches its Table clients per connection: start clean
    from switchboard.settings import get_settings

    server_env = dict(os.environ) | (certificates.server_env() if certificates else {})
    twilio = TwilioProcess(env=server_env).start()
    stack = contextlib.ExitStack()
    connection, twilio_url = storage.connection_string, twilio.base_url
    ports = [storage.table_port, storage.queue_port, _port(twilio.base_url)]
    if latency_seconds:
        # Clients reach Azurite and the emulator through the proxies; TLS still ends at the servers.
        started = stack.enter_context(latency.proxies(ports, latency_seconds))
        mapping = {port: proxy.port for port, proxy in started.items()}
        connection = latency.proxied_connection_string(connection, mapping)
        twilio_url = latency.proxied_connection_string(twilio_url, mapping)
        ports = [mapping[port] for port in ports]
        os.environ["AzureWebJobsStorage"] = connection
        store.reset_stores()
    os.environ["TWILIO_API_BASE_URL"] = twilio_url
    get_settings.cache_clear()  # the app reads its settings once; they changed
    services = dict(zip(ports, ("table", "queue", "twilio"), strict=True))
    try:
        section = outbound.measure(
            function_app.app, twilio_url, connection, services, run_sizes, tls=certificates is not None,
            latency=latency_seconds, known=known,
        )  # fmt: skip
        if section["detail"]["worker_available"] and "coldstart" in results["details"] and certificates is None:
            log("   first outbound sends in fresh processes")
            repeats = sizes["coldstart"]["first_call_repeats"]
            first = coldstart.first_calls(coldstart.with_bytecode(), repeats, "outbound")
            results["details"]["coldstart"]["first_outbound_send"] = first
            section["detail"]["twilio_creates_expected"] += 2 * repeats
    finally:
        stack.close()
        section_counts = twilio.stop()
    section["detail"]["twilio_creates_seen"] = section_counts
    expected = section["detail"]["twilio_creates_expected"]
    if section_counts.get("messages") != expected:
        # Sends that never reached the emulator would make every figure here meaningless.
        raise RuntimeError(f"the Twilio emulator saw {section_counts} creates, expected {expected} messages")
    return section


def run_e2e(sizes: list[int], plan: Any, worker_available: bool) -> dict[str, Any]:
    # A fresh Azurite: what earlier sections stored must not slow this one down.
    with azurite() as storage:
        os.environ["AzureWebJobsStorage"] = storage.connection_string
        return _run_e2e(storage, sizes, plan, worker_available)


def _run_e2e(storage: Azurite, sizes: list[int], plan: Any, worker_available: bool) -> dict[str, Any]:
    twilio = TwilioProcess().start()
    env = dict(os.environ) | {"TWILIO_API_BASE_URL": twilio.base_url}
    try:
        section = e2e.measure(
            sizes, env=env, plan=plan, connection_string=storage.connection_string,
            worker_available=worker_available, log=log,
        )  # fmt: skip
    finally:
        counts = twilio.stop()
    section["detail"]["twilio_creates_seen"] = counts
    return section


def run(*, quick: bool, out: Path, only: list[str] | None = None) -> tuple[Path, Path]:
    started = time.monotonic()
    sizes = SIZES["quick" if quick else "full"]
    wanted = set(only or sizes)
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    # The app's behaviour comes from the environment: start from the benchmark's settings only.
    for key in list(os.environ):
        if key.startswith(APP_PREFIXES) or key in APP_SETTINGS:
            del os.environ[key]
    os.environ.update(APP_ENV)
    results: dict[str, Any] = {"quick": quick, **machine.describe(), "sizes": sizes, "figures": [], "details": {}}
    results["load_start"] = round(os.getloadavg()[0], 2)
    plan = outbound.StoragePlan()
    worker_available = outbound.worker_available()
    with azurite() as storage:
        os.environ["AzureWebJobsStorage"] = storage.connection_string
        if "coldstart" in wanted:
            _starting(results, "1. cold start")
            runs, repeats = sizes["coldstart"]["runs"], sizes["coldstart"]["first_call_repeats"]
            source_runs = sizes["coldstart"]["source_runs"]
            _add(results, "coldstart", coldstart.measure(runs, coldstart.with_bytecode(), repeats, source_runs))
        if "webhooks" in wanted:
            _starting(results, "2. webhook cost")
            import function_app
            from tools.devhost.host import provision_storage

            # As infra/ does in Azure: without the events queue, every recorded call's publish failed and logged
            # "Could not publish", and the figures as shipped timed that failure instead of the publish.
            provision_storage()

            calls, every = sizes["webhooks"]["calls"], sizes["webhooks"]["shipped_every"]
            _add(results, "webhooks", webhooks.measure(function_app.app, calls, every))
    if "outbound" in wanted:
        _starting(results, "3. outbound worker cost per message")
        section = run_outbound(results, sizes)
        _add(results, "outbound", section)
        plan, worker_available = section["plan"], section["detail"]["worker_available"]
    if "latency" in wanted:
        _starting(results, "3b. outbound worker against the naive peer over TLS, 20 ms added each way")
        _add_logged(results, "latency", run_latency(results, sizes, plan if "outbound" in wanted else None))
    if "e2e" in wanted:
        _starting(results, "4. end-to-end throughput")
        _add(results, "e2e", run_e2e(sizes["e2e"]["sizes"], plan, worker_available))
    if "pacing" in wanted:
        _starting(results, "6. pacing across hosts")
        with azurite() as storage:  # a fresh Azurite: its own meter rows and queue
            os.environ["AzureWebJobsStorage"] = storage.connection_string
            _add_logged(results, "pacing", pacing.measure(storage.connection_string, **sizes["pacing"], log=log))
    out.mkdir(parents=True, exist_ok=True)
    results["figures"] += scaling_figures(results["details"])
    results["sections_md"] = plot.sections(results, out)
    results["load_end"] = round(os.getloadavg()[0], 2)
    results["finished_at"] = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    results["wall_seconds"] = time.monotonic() - started
    return report.write(results, out)
