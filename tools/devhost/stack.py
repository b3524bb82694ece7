"""`python -m tools.devhost.stack`: Azurite, the Twilio emulator and the app, each its own process.

The emulator stands in for Twilio unless real credentials and TWILIO_API_BASE_URL=https://api.twilio.com are set.
Each helper is started by its direct binary (`node .../azurite`, `python -m ...`) and stopped by PID.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from switchboard.settings import DEFAULT_API_BASE_URL
from tools.localmachine import LOOPBACK, PROJECT_ROOT, Azurite, ports_taken, stop_process, wait_for_ports

DEFAULT_EMULATOR_PORT = 4011
# The example settings' placeholders: with these, only the emulator can answer.
PLACEHOLDER_SIDS = frozenset({"AC" + "0" * 32})
PLACEHOLDER_TOKENS = frozenset({"local-dev-auth-token-not-a-secret"})
_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def uses_real_twilio(env: Mapping[str, str]) -> bool:
    """Real Twilio only when asked for explicitly, with credentials that are not the example's placeholders."""
    base = env.get("TWILIO_API_BASE_URL", "").strip().rstrip("/")
    sid, token = env.get("TWILIO_ACCOUNT_SID", "").strip(), env.get("TWILIO_AUTH_TOKEN", "").strip()
    real_credentials = bool(_SID.match(sid)) and sid not in PLACEHOLDER_SIDS and token not in PLACEHOLDER_TOKENS
    return base == DEFAULT_API_BASE_URL and real_credentials and bool(token)


def emulator_port(env: Mapping[str, str]) -> int:
    """The port TWILIO_API_BASE_URL names when it points at this machine, else the emulator's default."""
    parts = urlsplit(env.get("TWILIO_API_BASE_URL", ""))
    if parts.hostname in (LOOPBACK, "localhost") and parts.port:
        return parts.port
    return DEFAULT_EMULATOR_PORT


class PortsTaken(RuntimeError):
    """A port the stack needs is held by another process (often an earlier `make run`)."""


@dataclass
class Stack:
    """The processes of a local run. `output` is where their logs go (None: this terminal)."""

    app_port: int = 7071
    emulator_port: int | None = DEFAULT_EMULATOR_PORT  # None: real Twilio
    azurite: Azurite = field(default_factory=Azurite)
    settings_path: Path = PROJECT_ROOT / "local.settings.json"
    with_app: bool = True
    app_args: tuple[str, ...] = ()
    output: IO[bytes] | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def app_origin(self) -> str:
        return f"http://{LOOPBACK}:{self.app_port}"

    @property
    def emulator_url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.emulator_port}" if self.emulator_port else None

    def child_env(self) -> dict[str, str]:
        env = dict(self.env) | {"AzureWebJobsStorage": self.azurite.connection_string, "PYTHONUNBUFFERED": "1"}
        if self.emulator_url:
            # Local through and through: Twilio is the emulator, and its callbacks come back to this app.
            env |= {"TWILIO_API_BASE_URL": self.emulator_url, "PUBLIC_BASE_URL": self.app_origin}
        return env

    def start(self) -> Stack:
        wanted = {self.app_port: "the app"} if self.with_app else {}
        if self.emulator_port:
            wanted[self.emulator_port] = "the Twilio emulator"
        taken = ports_taken(wanted)
        if taken:
            raise PortsTaken(
                f"cannot start: port {taken}. Stop that first (`make run` stops on Ctrl-C, or SIGTERM to its PID)."
            )
        try:
            self._start_azurite()
            env = self.child_env()
            python = [sys.executable, "-m"]
            if self.emulator_port:
                command = [*python, "tools.emulator", "--port", str(self.emulator_port),
                           "--settings", str(self.settings_path)]  # fmt: skip
                self._spawn("Twilio emulator", command, env, [self.emulator_port])
                self.lines.append(f"Twilio emulator: {self.emulator_url} (TWILIO_API_BASE_URL; not real Twilio)")
                self._wire_number(env)
            else:
                self.lines.append(f"Twilio: the real API ({DEFAULT_API_BASE_URL}), with your credentials")
            if not self.with_app:
                self._provision(env)
            if self.with_app:
                command = [*python, "tools.devhost", "--port", str(self.app_port),
                           "--settings", str(self.settings_path), *self.app_args]  # fmt: skip
                self._spawn("app", command, env, [self.app_port])
                self.lines.append(f"App (local host): {self.app_origin}/api/...")
        except Exception:
            self.stop()
            raise
        return self

    def _wire_number(self, env: dict[str, str]) -> None:
        """Point the emulator's number at this app, as azd's postprovision hook does in Azure."""
        import contextlib
        import io

        from switchboard.__main__ import main as cli
        from switchboard.shared.phones import mask_in_text

        if not env.get("TWILIO_PHONE_NUMBER"):
            return
        said = io.StringIO()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            code = cli(["twilio", "configure", "--settings", str(self.settings_path)], env=env)
        outcome = "wired to this app" if code == 0 else f"not wired: {said.getvalue().strip()}"
        number = mask_in_text(env["TWILIO_PHONE_NUMBER"])
        self.lines.append(f"Twilio number {number}: {outcome} (`python -m switchboard twilio configure`)")

    def _start_azurite(self) -> None:
        a = self.azurite
        ports = f"{LOOPBACK} blob {a.blob_port}, queue {a.queue_port}, table {a.table_port}"
        if self.azurite.already_running():
            self.lines.append(f"Azurite: already running ({ports})")
            return
        self.azurite.start()
        pid = self.azurite.process.pid if self.azurite.process else "?"
        where = f"data in {self.azurite.location}" if self.azurite.location else "in memory"
        self.lines.append(f"Azurite: {ports} (pid {pid}), {where}")

    def _provision(self, env: dict[str, str]) -> None:
        """Beside Core Tools, create every queue, table and container up front, as the local host (and infra/) do."""
        from tools.devhost.host import provision_storage

        saved = dict(os.environ)
        os.environ.update(env)  # this launcher runs nothing else meanwhile
        try:
            created = provision_storage()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        if created:
            self.lines.append(f"Storage: created {', '.join(created)}")

    def _spawn(self, name: str, command: list[str], env: dict[str, str], ports: list[int]) -> None:
        out: Any = self.output if self.output is not None else None
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
        )  # fmt: skip
        self.processes.append((name, process))
        wait_for_ports(ports, process, 60, name)

    def stop(self) -> None:
        while self.processes:
            _, process = self.processes.pop()
            stop_process(process)
        self.azurite.stop()

    def __enter__(self) -> Stack:
        return self if self.processes else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def try_it(stack: Stack) -> list[str]:
    """Commands that work as printed in a fresh shell: none relies on a variable the shell does not have."""
    python = ".venv/bin/python"
    default = PROJECT_ROOT / "local.settings.json"
    path = stack.settings_path
    shown = path.name if path == default else str(path)
    settings = "" if path == default else f" --settings {shown}"
    api = "" if stack.app_port == 7071 else f" --api-url {stack.app_origin}"
    lines = []
    if stack.with_app and stack.emulator_port:
        hello = f"{stack.app_origin}/api/twiml/message?Message=Hello%20world."
        lines.append(f"{python} -m tools.emulator call{settings} --url '{hello}'   # signed, as Twilio would")
    lines.append(f'export LOCAL_FUNCTION_KEY="$({python} -m tools.localkey --print {shown})"')
    if stack.with_app:
        lines.append(f'curl -sS "{stack.app_origin}/api/health?code=$LOCAL_FUNCTION_KEY"')
        lines.append(f"{python} -m switchboard send sms{settings}{api} --to +15558675310 --body Hello --wait")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.devhost.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071, help="the app's port")
    parser.add_argument("--settings", type=Path, default=PROJECT_ROOT / "local.settings.json")
    parser.add_argument("--no-app", action="store_true", help="Azurite and the emulator only (beside `func start`)")
    args, app_args = parser.parse_known_args(argv)

    from tools.localmachine import load_local_settings

    env = dict(os.environ)
    load_local_settings(args.settings, env)
    real = uses_real_twilio(env)
    stack = Stack(
        app_port=args.port, emulator_port=None if real else emulator_port(env),
        azurite=Azurite.for_connection(
            env.get("AzureWebJobsStorage", ""), PROJECT_ROOT / ".azurite", PROJECT_ROOT / ".azurite" / "azurite.log"
        ),
        settings_path=args.settings, with_app=not args.no_app, app_args=tuple(app_args), env=env,
    )  # fmt: skip
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stack.start()
    except PortsTaken as error:
        print(error, file=sys.stderr, flush=True)
        return 1
    with stack:
        print("Switchboard, running locally:", *(f"  {line}" for line in stack.lines), sep="\n", flush=True)
        print("Try it, from this folder in another shell:", *(f"  {line}" for line in try_it(stack)), sep="\n")
        print("Ctrl-C stops everything.", flush=True)
        while not stopped.wait(0.5):
            for name, process in stack.processes:
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping the rest", flush=True)
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
