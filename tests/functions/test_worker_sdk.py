"""The app under the azure-functions that Core Tools' Python worker bundles (1.22.0b4 in worker 4.34).

Under `func start` the worker's own copy of azure-functions is imported, not the one requirements.txt pins;
in Azure the app's own copy wins. So a feature newer than the bundled SDK would break only locally. This
indexes the app with the bundled version (downloaded by `make setup` into .venv/worker-sdk, hash-checked,
not installed) and compares every function's bindings with the pinned version's, then calls one route.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = "1.22.0b4"
WHEELS = ROOT / ".venv" / "worker-sdk"

DESCRIBE = """
import json, sys
if sys.argv[1]:
    sys.path.insert(0, sys.argv[1])
import azure.functions as func
import function_app
indexed = function_app.app.get_functions()  # once, as the worker does (this SDK refuses a second call)
functions = {f.get_function_name(): json.loads(f.get_function_json()) for f in indexed}
from tests.support import http_request
voice = next(f for f in indexed if f.get_function_name() == "voice_incoming").get_user_function()
answer = voice(http_request("POST", "https://example.test/api/voice/incoming"))
print(json.dumps({"version": func.__version__, "file": func.__file__, "functions": functions,
                  "unsigned": [answer.status_code, answer.get_body().decode()]}))
"""


def describe(sdk_path: str) -> dict[str, object]:
    from tests.support import BASE_ENV

    env = BASE_ENV | {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-c", DESCRIBE, sdk_path], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13's proxy worker runs the app's own azure-functions")
def test_the_app_indexes_and_answers_alike_under_the_workers_bundled_sdk(tmp_path: Path) -> None:
    wheels = sorted(WHEELS.glob(f"azure_functions-{BUNDLED}-*.whl"))
    if not wheels:
        pytest.skip(f"azure-functions {BUNDLED} is not in .venv/worker-sdk (`make setup` downloads it)")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(tmp_path)
    bundled, pinned = describe(str(tmp_path)), describe("")
    assert bundled["version"] == BUNDLED
    assert str(bundled["file"]).startswith(str(tmp_path))
    assert pinned["version"] != BUNDLED
    assert bundled["functions"] == pinned["functions"]
    assert len(bundled["functions"]) >= 20
    assert bundled["unsigned"] == pinned["unsigned"] == [403, "Forbidden"]
