"""Azurite's preload (tools/azurite_lazy_telemetry.cjs): its telemetry SDK loads on first use, and is the real one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tools.localmachine import AZURITE_PRELOAD, PROJECT_ROOT, Azurite, azurite_binary, node_binary

TELEMETRY = PROJECT_ROOT / "node_modules" / "azurite" / "dist" / "src" / "common" / "Telemetry.js"
LOADED = "Object.keys(require.cache).some((name) => name.includes('/node_modules/applicationinsights/'))"


def _node(script: str, *, preload: bool) -> dict[str, object]:
    node = node_binary("azurite")[0]
    command = [node, *(["--require", str(AZURITE_PRELOAD)] if preload else []), "-e", script]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_azurites_telemetry_module_no_longer_loads_the_sdk(own_azurite: object) -> None:
    script = f"require({json.dumps(str(TELEMETRY))}); console.log(JSON.stringify({{loaded: {LOADED}}}))"
    assert _node(script, preload=False) == {"loaded": True}  # what the preload is for: Azurite loads it at once
    assert _node(script, preload=True) == {"loaded": False}


def test_the_sdk_is_the_real_one_on_first_use(own_azurite: object) -> None:
    script = (
        "const sdk = require('applicationinsights'); const before = " + LOADED + ";"
        "console.log(JSON.stringify({before, setup: typeof sdk.setup, client: typeof sdk.TelemetryClient, "
        "after: " + LOADED + "}))"
    )
    assert _node(script, preload=True) == {"before": False, "setup": "function", "client": "function", "after": True}


def test_every_azurite_starts_with_the_preload(own_azurite: type[Azurite]) -> None:
    assert azurite_binary("azurite-blob")[1:3] == ["--require", str(AZURITE_PRELOAD)]
    server = own_azurite.on_free_ports().start()
    try:
        assert server.process is not None
        command = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        assert command[1:3] == [b"--require", str(AZURITE_PRELOAD).encode()]
    finally:
        server.stop()
