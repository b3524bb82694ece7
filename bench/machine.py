"""What the numbers were measured on: machine, Python, OS and library versions."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from tools.localmachine import PROJECT_ROOT

LIBRARIES = ("azure-functions", "twilio", "azure-data-tables", "azure-storage-queue", "azure-core", "requests")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def npm_version(package: str) -> str | None:
    manifest = PROJECT_ROOT / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, KeyError, ValueError):
        return None


def describe() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["azurite (npm)"] = npm_version("azurite")
    return {
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": memory_gib(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "os": f"{platform.system()} {platform.machine()}",  # no kernel build: it names the host
            "libc": " ".join(platform.libc_ver()).strip() or None,
        },
        "versions": versions,
    }
