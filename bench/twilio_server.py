"""The Twilio REST emulator in its own process, so that it does not share the benchmark's interpreter lock.

`python -m bench.twilio_server` prints one JSON line with its base URL, serves until its
stdin closes or it gets SIGTERM, then prints how many calls and messages it created.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from tools.localmachine import PROJECT_ROOT, stop_process

# Overridable so the harness can run against another implementation with the same interface.
IMPLEMENTATION = os.environ.get("BENCH_TWILIO_EMULATOR", "tools.emulator.rest:TwilioEmulator")


def emulator_class() -> Any:
    module, _, name = IMPLEMENTATION.partition(":")
    return getattr(importlib.import_module(module), name)


def available() -> bool:
    try:
        emulator_class()
    except ImportError:
        return False
    return True


def serve() -> int:
    from bench.payloads import ACCOUNT_SID, AUTH_TOKEN

    tls = None
    if os.environ.get("BENCH_TLS_CERT"):
        import ssl

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(os.environ["BENCH_TLS_CERT"], os.environ["BENCH_TLS_KEY"])
    extra = {"tls": tls} if tls else {}
    emulator = emulator_class()(ACCOUNT_SID, AUTH_TOKEN, port=0, **extra).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def wait_for_eof() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(json.dumps({"base_url": emulator.base_url}), flush=True)
    done.wait()
    counts = {kind: len(emulator.created(kind)) for kind in ("calls", "messages")}
    emulator.stop()
    print(json.dumps(counts), flush=True)
    return 0


@dataclass
class TwilioProcess:
    env: dict[str, str] | None = None
    base_url: str = ""
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start(self) -> TwilioProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.twilio_server"], cwd=PROJECT_ROOT, env=self.env or dict(os.environ),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the Twilio emulator exited before it listened")
        self.base_url = json.loads(line)["base_url"]
        return self

    def stop(self) -> dict[str, int]:
        """Stop it by PID; returns the number of calls and messages it created."""
        counts: dict[str, int] = {}
        if self.process is None:
            return counts
        try:
            assert self.process.stdin is not None
            assert self.process.stdout is not None
            self.process.stdin.close()
            self.process.wait(timeout=15)
            for line in self.process.stdout.read().splitlines():
                if line.startswith("{"):
                    counts = json.loads(line)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass
        finally:
            stop_process(self.process)
            self.process = None
        return counts


if __name__ == "__main__":
    sys.exit(serve())
