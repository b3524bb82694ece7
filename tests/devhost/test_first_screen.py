"""A newcomer's first screen, in a fresh copy of the checkout: `make run`, the commands it prints, a second
`make run` while the first holds the ports, SIGTERM to the first's PID, and `make run` again.

The copy holds the tracked files only (what a clone has). To stay quick it shares this checkout's `.venv`
and `node_modules` by symlink, and dates every copied file to 1970, so make finds the install stamps newer
than whatever the Makefile names as their inputs and installs nothing (an install through the symlink,
`npm ci` above all, would replace this checkout's own). `-o` cannot do it: make does not pass it on
to `make setup`'s inner make.
`make setup` itself runs on every fresh clone in CI. Ports: free ones, never Azurite's defaults, written
into the copy's `local.settings.json` (the stack's Azurite listens where AzureWebJobsStorage points).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tools.localmachine import LOOPBACK, PROJECT_ROOT, free_port, port_open

READY = "Ctrl-C stops everything."
STAMPS = (".venv/.installed", "node_modules/.installed")


def fresh_copy(target: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in tracked)):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / name)  # the mode, not the times
            os.utime(target / name, (0, 0))  # older than any stamp: nothing to install
    for stamp in STAMPS:
        assert (PROJECT_ROOT / stamp).exists(), f"{stamp} is missing: run `make setup` in this checkout first"
    for shared in (".venv", "node_modules"):
        (target / shared).symlink_to(PROJECT_ROOT / shared)
    return target


def local_settings(copy: Path, ports: dict[str, int]) -> None:
    """The example, as `make run` would copy it, on this test's ports."""
    settings = json.loads((copy / "local.settings.json.example").read_text(encoding="utf-8"))
    base = f"http://{LOOPBACK}"
    account = "devstoreaccount1"
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    settings["Values"] |= {
        "AzureWebJobsStorage": (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
            f"BlobEndpoint={base}:{ports['blob']}/{account};QueueEndpoint={base}:{ports['queue']}/{account};"
            f"TableEndpoint={base}:{ports['table']}/{account};"
        ),
        "TWILIO_API_BASE_URL": f"{base}:{ports['emulator']}",
        "PUBLIC_BASE_URL": f"{base}:{ports['app']}",
        "LOCAL_FUNCTION_KEY": "first-screen-" + os.urandom(6).hex(),
    }
    (copy / "local.settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")


class MakeRun:
    """`make run` as a user starts it, its output read as it comes."""

    def __init__(self, copy: Path, port: int) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "AzureWebJobs", "PUBLIC_BASE", "LOCAL_"))
        }
        env.pop("MAKEFLAGS", None)
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"], cwd=copy, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                self._reader.join(5)
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from make run:\n" + "\n".join(self.lines[-40:]))

    def printed_commands(self) -> list[str]:
        start = self.lines.index(next(line for line in self.lines if line.startswith("Try it")))
        commands = []
        for line in self.lines[start + 1 :]:
            if not line.startswith("  "):
                break
            commands.append(line.strip().split("   # ")[0])
        return commands

    def stop(self, timeout: float = 40) -> int:
        self.process.send_signal(signal.SIGTERM)  # to make's own PID, as a script or supervisor does
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.mark.slow
def test_the_first_screen_works_as_printed_in_a_fresh_copy(tmp_path: Path, own_azurite: object) -> None:
    copy = fresh_copy(tmp_path / "switchboard")
    ports = {name: free_port() for name in ("blob", "queue", "table", "emulator", "app")}
    local_settings(copy, ports)
    first = MakeRun(copy, ports["app"])
    try:
        first.wait_for(READY)
        commands = first.printed_commands()
        # Every printed command, in one fresh shell, in order (the export feeds the next ones).
        shell = subprocess.run(
            ["bash", "-e", "-c", "\n".join(f"echo '>>> {i}'; {c}" for i, c in enumerate(commands))], cwd=copy,
            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        out = shell.stdout + shell.stderr
        assert shell.returncode == 0, out
        assert "Say: Hello world." in out  # the README's hello world, as the caller hears it
        assert '"status": "ok"' in out or '"status":"ok"' in out, out  # health with the exported key
        assert re.search(r"\bsent\b|\bdelivered\b", out), out  # the send waited for its final status
        # A second `make run` while the first runs: one line naming the port and what holds it.
        second = subprocess.run(
            ["make", "--no-print-directory", "run", f"PORT={ports['app']}"], cwd=copy,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        said = (second.stdout + second.stderr).strip().splitlines()
        assert second.returncode != 0
        refusal = [line for line in said if "cannot start" in line]
        assert len(refusal) == 1, said
        assert f"{ports['app']} (the app) is in use by pid" in refusal[0]
        assert "Traceback" not in second.stdout + second.stderr
    finally:
        code = first.stop()
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM, 2), first.lines[-20:]
    deadline = time.monotonic() + 20
    while any(port_open(port) for port in ports.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [name for name, port in ports.items() if port_open(port)]  # Azurite, emulator and app all stopped
    again = MakeRun(copy, ports["app"])
    try:
        again.wait_for(READY)
    finally:
        again.stop()
