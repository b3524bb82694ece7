"""`python -m tools.devhost`: serve the app locally (a development tool, not the Functions host)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from tools.devhost.host import BANNER, LocalHost, load_app
from tools.localmachine import PROJECT_ROOT, Azurite, load_local_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devhost", description=BANNER)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEVHOST_PORT", "7071")))
    parser.add_argument("--settings", type=Path, default=PROJECT_ROOT / "local.settings.json")
    parser.add_argument("--host-json", type=Path, default=PROJECT_ROOT / "host.json")
    parser.add_argument("--with-azurite", action="store_true", help="start Azurite (data in .azurite/) unless it runs")
    parser.add_argument("--no-queues", action="store_true", help="serve HTTP only")
    parser.add_argument(
        "--queue-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a queue setting for this run, e.g. visibility_timeout=0 or processing_lease=5",
    )
    parser.add_argument("--azurite-only", action="store_true", help="only run Azurite (for use beside `func start`)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(BANNER, flush=True)
    load_local_settings(args.settings)
    from switchboard.shared.logs import install

    install()

    azurite = None
    if args.with_azurite or args.azurite_only:
        azurite = Azurite(location=PROJECT_ROOT / ".azurite", log_file=PROJECT_ROOT / ".azurite" / "azurite.log")
        if azurite.already_running():
            print("Azurite: already running on 127.0.0.1:10000-10002", flush=True)
            azurite = None
        else:
            azurite.start()
            pid = azurite.process.pid if azurite.process else "?"
            print(f"Azurite: started (pid {pid}) on 127.0.0.1:10000-10002, data in .azurite/", flush=True)
            os.environ.setdefault("AzureWebJobsStorage", azurite.connection_string)

    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    if args.azurite_only:
        stopped.wait()
        if azurite:
            azurite.stop()
        return 0

    keys = tuple(k for k in (os.environ.get("LOCAL_FUNCTION_KEY", ""),) if k)
    overrides = {name: float(value) for name, _, value in (item.partition("=") for item in args.queue_setting)}
    host = LocalHost(
        load_app(),
        port=args.port,
        host_json=args.host_json,
        function_keys=keys,
        queues=not args.no_queues,
        config_overrides=overrides,
        provision=True,  # every queue, table and container, as infra/ creates them in Azure
    )
    host.start()
    print(f"Functions on {host.base_url}:", *host.describe(), sep="\n", flush=True)
    if not keys:
        print("No LOCAL_FUNCTION_KEY set: routes that need a function key answer 401.", flush=True)
    try:
        stopped.wait()
    finally:
        host.stop()
        if azurite:
            azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
