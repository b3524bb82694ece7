"""The local machine, shared by the local host and the emulator: the project root, local.settings.json, and helper
processes for local runs and tests (started by their direct binary, stopped by PID)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Azurite's published development account: public, documented, and only valid against Azurite.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LOOPBACK = "127.0.0.1"


def load_local_settings(path: Path, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Apply local.settings.json "Values" like `func start` does; variables already set win."""
    environ = os.environ if environ is None else environ
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    applied = {}
    for key, value in values.items():
        if key not in environ:
            environ[key] = applied[key] = str(value)
    return applied


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_ports(ports: Sequence[int], process: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening")
        if all(port_open(port) for port in ports):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not listen on {list(ports)} within {timeout:.0f}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def node_binary(name: str) -> list[str]:
    """`node node_modules/.bin/<name>`: no npx, so no wrapper process is left behind."""
    script = PROJECT_ROOT / "node_modules" / ".bin" / name
    if not script.exists():
        raise FileNotFoundError(f"{script} is missing: run `npm ci` (make does this for you)")
    node = shutil.which("node")
    if not node:
        raise FileNotFoundError("node is not on PATH: install Node.js 18 or newer")
    return [node, str(script)]


@dataclass
class Azurite:
    """Azurite on 127.0.0.1: in memory by default, on disk when `location` is given."""

    blob_port: int = 10000
    queue_port: int = 10001
    table_port: int = 10002
    location: Path | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # PEM files: with both, Azurite serves HTTPS (`--cert`/`--key`) and the connection string says https.
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def on_free_ports(
        cls, location: Path | None = None, log_file: Path | None = None, *, cert: Path | None = None,
        key: Path | None = None,
    ) -> Azurite:  # fmt: skip
        return cls(free_port(), free_port(), free_port(), location, log_file, cert=cert, key=key)

    @property
    def ports(self) -> tuple[int, int, int]:
        return (self.blob_port, self.queue_port, self.table_port)

    @property
    def connection_string(self) -> str:
        scheme = "https" if self.cert else "http"
        if self.ports == (10000, 10001, 10002) and scheme == "http":
            return "UseDevelopmentStorage=true"
        base = f"{scheme}://{LOOPBACK}"
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{DEV_ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{DEV_ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{DEV_ACCOUNT};"
        )

    def already_running(self) -> bool:
        return all(port_open(port) for port in self.ports)

    def start(self, timeout: float = 60.0) -> Azurite:
        command = [
            *node_binary("azurite"),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
            "--blobHost", LOOPBACK, "--blobPort", str(self.blob_port),
            "--queueHost", LOOPBACK, "--queuePort", str(self.queue_port),
            "--tableHost", LOOPBACK, "--tablePort", str(self.table_port),
        ]  # fmt: skip
        if self.cert and self.key:
            command += ["--cert", str(self.cert), "--key", str(self.key)]
        if self.location is None:
            command.append("--inMemoryPersistence")
        else:
            self.location.mkdir(parents=True, exist_ok=True)
            command += ["--location", str(self.location)]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT,
            env=os.environ | {"NODE_NO_WARNINGS": "1"},
        )  # fmt: skip
        try:
            wait_for_ports(self.ports, self.process, timeout, "Azurite")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class LocalHostProcess:
    """`python -m tools.devhost` as a child process, for benchmarks and fault runs.

    Started by its direct `python -m` command, stopped by PID (or killed outright, to test crashes).
    Its settings come from `env` only: it is pointed at an absent local.settings.json.
    """

    port: int
    env: dict[str, str]
    log_path: Path
    queue_settings: dict[str, float] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    def start(self, timeout: float = 60.0) -> LocalHostProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "tools.devhost", "--port", str(self.port),
                   "--settings", str(self.log_path.parent / "no-local-settings.json")]  # fmt: skip
        for name, value in self.queue_settings.items():
            command += ["--queue-setting", f"{name}={value}"]
        with open(self.log_path, "ab") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=os.environ | self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.starts += 1
        try:
            wait_for_ports([self.port], self.process, timeout, "the local host")
        except Exception:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when an instance dies mid-invocation."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)
            self.process = None
