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
from collections.abc import Mapping, MutableMapping, Sequence
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


def port_holder(port: int, proc: Path = Path("/proc")) -> str | None:
    """Who listens on TCP `port` (any local address), as `pid N (command)`, read from /proc; None if not found.

    Linux only, and only processes this user may inspect: elsewhere the caller says just "in use".
    """
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket's inode.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (pid_dir / "fd").iterdir()}
            if links & wanted:
                command = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {pid_dir.name} ({command[:120]})"
        except OSError:
            continue
    return None


def ports_taken(ports: Mapping[int, str]) -> str | None:
    """One line naming each of `ports` (port -> what wants it) already in use, and what holds it; None if all free."""
    taken = []
    for port, what in ports.items():
        if port_open(port):
            holder = port_holder(port)
            taken.append(f"{port} ({what}) is in use" + (f" by {holder}" if holder else ""))
    return "; ".join(taken) if taken else None


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


# See the file: Azurite loads its telemetry SDK only if it uses it (never, with --disableTelemetry).
AZURITE_PRELOAD = PROJECT_ROOT / "tools" / "azurite_lazy_telemetry.cjs"


def azurite_binary(name: str = "azurite") -> list[str]:
    """`node --require <preload> node_modules/.bin/<name>` (azurite, or azurite-blob and its siblings)."""
    node, script = node_binary(name)
    return [node, "--require", str(AZURITE_PRELOAD), script]


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

    @classmethod
    def for_connection(cls, connection: str, location: Path | None = None, log_file: Path | None = None) -> Azurite:
        """The Azurite a local connection string names (its three loopback ports); the default ports otherwise."""
        from urllib.parse import urlsplit

        parts = dict(p.split("=", 1) for p in connection.split(";") if "=" in p)
        ports = []
        for name in ("BlobEndpoint", "QueueEndpoint", "TableEndpoint"):
            url = urlsplit(parts.get(name, ""))
            if url.scheme != "http" or url.hostname not in (LOOPBACK, "localhost") or not url.port:
                return cls(location=location, log_file=log_file)
            ports.append(url.port)
        blob, queue, table = ports
        return cls(blob, queue, table, location=location, log_file=log_file)

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
            *azurite_binary("azurite"),
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
