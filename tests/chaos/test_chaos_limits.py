"""The caps' chaos scenario in every `make test` (as `make chaos` runs it): 40 SMS to one number within a minute
under `sms:per_to=10/1h`, three hosts on the same queue: exactly 10 creates and 30 `rejected` `limit:…` records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_forty_sms_to_one_number_on_three_hosts_give_exactly_ten_creates(tmp_path: Path, own_azurite: object) -> None:
    command = [sys.executable, "-m", "chaos", "--scenario", "limits", "--workdir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AzureWebJobs", "PUBLIC_BASE"))}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "All promises held." in result.stdout
    report = json.loads(next(tmp_path.glob("report-limits-*.json")).read_text(encoding="utf-8"))
    assert (report["creates_to_capped_number"], report["rejected_by_limit"]) == (10, 30)
    assert (report["rejected_that_reached_twilio"], report["created_twice"], report["hosts"]) == (0, 0, 3)
    assert report["others_created"] == report["others"] == 5
    assert report["limit_warnings_in_host_log"] >= 30
    assert report["full_numbers_in_host_log"] == 0
