"""Declaring the functions imports almost nothing of the app: handlers load their modules on first call.

Cold start is measured in `make bench`; this keeps the structure that makes it cheap from eroding as
blueprints are added (a module-level `from switchboard.settings import ...` costs every cold start).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What start-up may load of the app: the blueprints, their shared decorator, log masking and telemetry set-up.
ALLOWED = {
    "function_app",
    "switchboard",
    "switchboard.functions",
    "switchboard.shared",
    "switchboard.shared.logs",
    "switchboard.shared.telemetry",
    "switchboard.shared.phones",
}


def test_indexing_the_app_loads_only_blueprints_and_log_masking() -> None:
    code = (
        "import sys, json, function_app; function_app.app.get_functions(); "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'function_app' or m.startswith('switchboard'))))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    extra = sorted(m for m in loaded - ALLOWED if not m.startswith("switchboard.functions."))
    assert extra == [], f"imported at start-up; defer these into the handlers: {extra}"
