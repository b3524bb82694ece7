"""A small chaos run in every `make test`: the same harness as `make chaos` (three hosts), at N = 60 with two kills,
a 6 s 429 storm (six of the hosts' visibility timeouts), a storage outage and one reconcile run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_small_chaos_run_keeps_every_promise(tmp_path: Path, own_azurite: object) -> None:
    command = [sys.executable, "-m", "chaos", "--n", "60", "--kills", "2", "--enqueue-seconds", "8",
               "--settle-seconds", "120", "--malformed", "0.1", "--twice", "0.1", "--storm-seconds", "6",
               "--workdir", str(tmp_path)]  # fmt: skip
    # The harness runs its own stack with its own credentials; none of the test session's settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AzureWebJobs", "PUBLIC_BASE"))}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "All promises held." in result.stdout
    report = json.loads(next(tmp_path.glob("report-*.json")).read_text(encoding="utf-8"))
    assert report["kills"] == 2
    assert report["hosts"] == 3
    assert report["azurite_restarts"] == 1
    assert report["final_records"] == report["requests"] == 60
    assert report["malformed"] >= 5
    assert report["undecodable_recorded"] >= 1
    assert report["requests_created_twice"] == 0
    assert report["went_backwards"] == 0
    assert report["storms"] == 1
    assert report["faults_injected"]["429 storm"] >= 1
    assert report["dead_lettered_by_429"] == 0
    assert report["open_after_reconcile"] == 0
