"""`python -m switchboard send ...` when the stack is down or a key is wrong: one line saying what to start or
set, a non-zero exit, within 10 s. Real processes, real closed ports, a real Azurite refusing a wrong key."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tools.localmachine import PROJECT_ROOT

LIMIT_SECONDS = 10


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(*args: str, cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWITCHBOARD_", "AzureWebJobsStorage", "LOCAL_FUNCTION_KEY"))
    }
    environment |= {"PYTHONPATH": str(PROJECT_ROOT), **env}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "switchboard", "send", "sms", "--to", "+15558675310", "--body", "hi", *args],
        check=False, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done, time.monotonic() - started


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def with_key(connection_string: str, key: str) -> str:
    return re.sub(r"AccountKey=[^;]+", f"AccountKey={key}", connection_string)


def test_storage_down_is_one_line_and_quick(tmp_path: Path) -> None:
    port = closed_port()
    storage = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={'A' * 86}==;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    done, seconds = run_cli(cwd=tmp_path, AzureWebJobsStorage=storage)
    assert done.returncode == 2
    assert seconds < LIMIT_SECONDS
    line = one_line(done)
    assert f"cannot reach the queue service at 127.0.0.1:{port}" in line
    assert "make run" in line
    assert done.stdout == ""


def test_no_storage_setting_says_what_to_set(tmp_path: Path) -> None:
    done, seconds = run_cli(cwd=tmp_path)  # no env, no local.settings.json here
    assert done.returncode != 0
    assert seconds < LIMIT_SECONDS
    assert "set AzureWebJobsStorage" in one_line(done)


def test_a_wrong_storage_key_is_one_line(azurite: str, queue_name: str, tmp_path: Path) -> None:
    wrong = with_key(azurite, "d3Jvbmcta2V5" * 7 + "AAAA")
    done, seconds = run_cli("--queue", queue_name, cwd=tmp_path, AzureWebJobsStorage=wrong)
    assert done.returncode == 2
    assert seconds < LIMIT_SECONDS
    line = one_line(done)
    assert "refused the credentials" in line
    assert "AccountKey" in line
    assert "d3Jvbmcta2V5" not in line  # the key itself is never printed


def test_a_missing_queue_is_one_line(azurite: str, tmp_path: Path) -> None:
    done, seconds = run_cli("--queue", "nosuchqueue-" + uuid.uuid4().hex[:8], cwd=tmp_path, AzureWebJobsStorage=azurite)
    assert done.returncode == 2
    assert seconds < LIMIT_SECONDS
    assert "no queue 'nosuchqueue-" in one_line(done)


def test_app_down_while_waiting_is_one_line(azurite: str, queue_name: str, tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{closed_port()}"
    done, seconds = run_cli("--queue", queue_name, "--wait", "--api-url", api, "--function-key", "k",
                            cwd=tmp_path, AzureWebJobsStorage=azurite)  # fmt: skip
    assert done.returncode == 2
    assert seconds < LIMIT_SECONDS
    assert re.fullmatch(r"[0-9a-f]{32}", done.stdout.strip())  # enqueued; only the wait failed
    line = one_line(done)
    assert f"cannot reach the app at {api}" in line
    assert "make run" in line


def test_a_wrong_function_key_is_one_line(azurite: str, queue_name: str, served, tmp_path: Path) -> None:
    done, seconds = run_cli("--queue", queue_name, "--wait", "--api-url", f"http://127.0.0.1:{served.port}",
                            "--function-key", "not-the-key", cwd=tmp_path, AzureWebJobsStorage=azurite)  # fmt: skip
    assert done.returncode == 2
    assert seconds < LIMIT_SECONDS
    line = one_line(done)
    assert "refused the function key" in line
    assert "SWITCHBOARD_FUNCTION_KEY" in line
    assert "not-the-key" not in line
