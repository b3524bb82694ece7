"""1. Cold start: a fresh interpreter importing and indexing the app, against importing azure.functions alone.

The headline figure runs the app as Azure does: from the deployment artifact `make package` builds,
unpacked into a temporary folder, with `PYTHONDONTWRITEBYTECODE=1` (Azure mounts the package
read-only), the libraries as pip left them in this environment. The checkout figure (bytecode
Python wrote into the developer's tree) is kept as context.
Runs are interleaved (A B B A ...) so that drift on a shared machine hits both sides alike.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import stats
from tools.localmachine import PROJECT_ROOT

APP = "import function_app; function_app.app.get_functions()"
FLOOR = "import azure.functions"
# Packages the app must not import at module level (they cost 100-300 ms each).
HEAVY = ("twilio.rest", "azure.data.tables", "azure.storage.queue", "azure.storage.blob", "azure.identity")


def with_bytecode() -> dict[str, str]:
    """Python's default: modules are compiled once and their .pyc reused (pip does this for packages)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}


def without_bytecode(empty_cache: str) -> dict[str, str]:
    """Every module compiled from source, on both sides: what a read-only package without .pyc files pays."""
    return with_bytecode() | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty_cache}


def read_only() -> dict[str, str]:
    """Azure's package mount: nothing may write bytecode; what the package ships is all there is."""
    return with_bytecode() | {"PYTHONDONTWRITEBYTECODE": "1"}


def closed_port() -> int:
    """A loopback port nothing listens on: an exporter pointed there sends nowhere (connection refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_telemetry(env: dict[str, str]) -> dict[str, str]:
    """As Azure sets it (infra/: APPLICATIONINSIGHTS_CONNECTION_STRING), but ingesting into a closed loopback port."""
    return env | {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint=http://127.0.0.1:{closed_port()}/",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # statsbeat would call Microsoft's own endpoint
    }


CONFIGURE = "from switchboard.shared import telemetry; assert telemetry.configure()"


def unpacked_artifact(into: Path) -> dict[str, Any]:
    """`make package`'s artifact, built and unpacked into `into` (the zip itself, not the staging folder)."""
    from tools.package import build

    built = build(into / "dist")
    app = into / "app"
    with zipfile.ZipFile(built.archive) as zf:
        zf.extractall(app)
    return {"dir": app, "files": built.files, "cache_tags": built.cache_tags, "zip_bytes": built.archive.stat().st_size}


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60.0, cwd: Path | None = None) -> int:
    """Wall time of `python -c code` in a new process, in nanoseconds.

    No `timeout=` on the wait itself: with one, Popen.wait polls with sleeps of up to 50 ms, which
    would round every sample up to the next poll. A watchdog timer bounds the run instead.
    """
    start = time.perf_counter_ns()
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=cwd or PROJECT_ROOT, env=env or with_bytecode(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        returncode = process.wait()
    finally:
        watchdog.cancel()
    elapsed = time.perf_counter_ns() - start
    if returncode != 0:
        raise RuntimeError(f"`python -c {code!r}` exited with {returncode}")
    return elapsed


def interleaved(runs: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[list[int], list[int]]:
    for code in (APP, FLOOR):  # warm the OS page cache (and write .pyc files where allowed); not counted
        run_python(code, env, cwd=cwd)
    app: list[int] = []
    floor: list[int] = []
    for index in range(runs):
        order = ((APP, app), (FLOOR, floor)) if index % 2 == 0 else ((FLOOR, floor), (APP, app))
        for code, samples in order:
            samples.append(run_python(code, env, cwd=cwd))
    return app, floor


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def import_profile(code: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """`python -X importtime`: each module's self and cumulative import time in microseconds."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=cwd or PROJECT_ROOT, env=env or with_bytecode(),
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    modules: dict[str, dict[str, int]] = {}
    for line in result.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            modules[match[4]] = {"self_us": int(match[1]), "cumulative_us": int(match[2]), "depth": len(match[3]) // 2}
    return modules


def extra_imports(top: int = 12, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What the app imports beyond azure.functions: the top-level imports that cost the most."""
    app = import_profile(APP, cwd, env)
    floor = import_profile(FLOOR, cwd, env)
    extra = {name: data for name, data in app.items() if name not in floor}
    # Cumulative time of the app's own top-level modules (function_app itself also pays azure.functions).
    outermost = sorted(
        ((name, data["cumulative_us"]) for name, data in extra.items() if data["depth"] == 1),
        key=lambda item: item[1],
        reverse=True,
    )
    own = sorted(((name, data["self_us"]) for name, data in extra.items()), key=lambda item: item[1], reverse=True)
    return {
        "extra_modules": len(extra),
        "extra_self_ms": round(sum(d["self_us"] for d in extra.values()) / 1000, 1),
        "top": [{"module": name, "cumulative_ms": round(us / 1000, 1)} for name, us in outermost[:top]],
        "top_self": [{"module": name, "self_ms": round(us / 1000, 1)} for name, us in own[:top]],
        "heavy_imported_at_startup": sorted(name for name in HEAVY if name in app),
    }


def first_calls(env: dict[str, str], repeats: int, which: str = "webhooks") -> dict[str, Any]:
    """Median over fresh processes of the first calls of a path, each step timed inside the process."""
    samples: list[dict[str, float]] = []
    for _ in range(repeats):
        output = subprocess.run(
            [sys.executable, "-m", "bench.first_call", which], cwd=PROJECT_ROOT, env=env,
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        samples.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return {key: stats.summary([s[key] * 1e6 for s in samples])["median"] for key in samples[0]} | {
        "runs": len(samples)
    }


def measure(runs: int, env: dict[str, str], first_call_repeats: int, source_runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="switchboard-package-") as work:
        artifact = unpacked_artifact(Path(work))
        pkg_app, pkg_floor = interleaved(runs, read_only(), cwd=artifact["dir"])
        pkg_imports = extra_imports(cwd=artifact["dir"], env=read_only())
        telemetry_env = with_telemetry(read_only())
        tel_app, tel_floor = interleaved(runs, telemetry_env, cwd=artifact["dir"])
        # What the first span then pays, once per instance: importing and configuring the exporter.
        configure_ms = [run_python(CONFIGURE, telemetry_env, cwd=artifact["dir"]) for _ in range(max(1, runs // 4))]
    packaged = stats.figure(
        "cold_start_packaged",
        "Cold start as Azure runs it: the `make package` artifact unpacked, read-only",
        measured=stats.summary(pkg_app)["median"],
        baseline=stats.summary(pkg_floor)["median"],
        baseline_name="import azure.functions, same environment",
        unit="ms",
        op="<=",
        target=1.15,
        note=f"{runs} interleaved runs each from the unpacked zip with PYTHONDONTWRITEBYTECODE=1; the app's bytecode "
        f"is what the package ships ({', '.join(artifact['cache_tags'])}), the libraries' what pip wrote",
    )
    with_exporter = stats.figure(
        "cold_start_packaged_telemetry",
        "Cold start as Azure runs it, with an Application Insights connection string set",
        measured=stats.summary(tel_app)["median"],
        baseline=stats.summary(tel_floor)["median"],
        baseline_name="import azure.functions, same environment",
        unit="ms",
        op="<=",
        target=1.3,
        note=f"{runs} interleaved runs each from the unpacked zip; the exporter ingests into a closed loopback port "
        "and statsbeat is off, so nothing is sent; telemetry configures itself on the first span, not at import",
    )
    app, floor = interleaved(runs)
    app_summary, floor_summary = stats.summary(app), stats.summary(floor)
    with tempfile.TemporaryDirectory() as empty:
        app_source, floor_source = interleaved(source_runs, without_bytecode(empty))
    source = {"app_ms": stats.summary(app_source), "floor_ms": stats.summary(floor_source), "runs": source_runs}
    row = stats.figure(
        "cold_start",
        "Cold start from the checkout (context): import function_app + get_functions()",
        measured=app_summary["median"],
        baseline=floor_summary["median"],
        baseline_name="import azure.functions",
        unit="ms",
        op="<=",
        target=1.3,
        note=f"{runs} interleaved runs each, a new interpreter per run (its start-up counted on both sides), "
        "bytecode cached as Python does by default",
    )
    uncached = stats.figure(
        "cold_start_no_bytecode",
        "Cold start with no cached bytecode anywhere (every module compiled from source)",
        measured=source["app_ms"]["median"],
        baseline=source["floor_ms"]["median"],
        baseline_name="import azure.functions, also from source",
        unit="ms",
        op="<=",
        target=None,
        note=f"{source_runs} interleaved runs each; what a read-only deployment without .pyc files pays",
    )
    return {
        "figures": [packaged, with_exporter, row, uncached],
        "detail": {
            "packaged": {
                "runs": runs,
                "app_ms": stats.summary(pkg_app),
                "floor_ms": stats.summary(pkg_floor),
                "app_samples_ms": [round(s / 1e6, 2) for s in pkg_app],
                "floor_samples_ms": [round(s / 1e6, 2) for s in pkg_floor],
                "artifact_files": artifact["files"],
                "artifact_zip_bytes": artifact["zip_bytes"],
                "cache_tags": artifact["cache_tags"],
                "imports": pkg_imports,
                "telemetry": {
                    "app_ms": stats.summary(tel_app),
                    "floor_ms": stats.summary(tel_floor),
                    "first_span_configure_process_ms": stats.summary(configure_ms),
                },
            },
            "runs": runs,
            "app_ms": app_summary,
            "floor_ms": floor_summary,
            "app_samples_ms": [round(s / 1e6, 2) for s in app],
            "floor_samples_ms": [round(s / 1e6, 2) for s in floor],
            "no_bytecode": source,
            "imports": extra_imports(),
            "first_webhook_call": first_calls(env, first_call_repeats),
        },
    }
