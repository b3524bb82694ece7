"""A 3-second smoke run of the load generator through the local host; figures are not asserted, errors are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_webhook_routes_answer_every_request_under_a_short_load(tmp_path: Path, own_azurite: object) -> None:
    figures_file = tmp_path / "load.json"
    command = [sys.executable, "-m", "chaos.load", "--rate", "20", "--seconds", "3", "--workdir", str(tmp_path),
               "--json", str(figures_file)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "AzureWebJobs", "PUBLIC_BASE"))}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert figures["requests"] == 60
    assert (figures["ok"], figures["errors"]) == (60, 0)
    assert set(figures["by_route"]) == {"voice/incoming", "sms/incoming", "twiml/message", "voice/status", "sms/status"}
