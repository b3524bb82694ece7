"""The parts of host.json the local host honours, with the Functions host's defaults."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def timespan_seconds(value: str | int | float) -> float:
    """host.json timespans are .NET's `[d.]hh:mm:ss[.fff]`."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise ValueError(f"not a host.json timespan: {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float("0." + fraction) if fraction else 0.0)


@dataclass(frozen=True)
class QueueConfig:
    # Defaults are the Functions host's own (Microsoft.Azure.WebJobs.Extensions.Storage.Queues).
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"
    # How long a running message stays hidden; the host uses 10 minutes. Not a host.json
    # setting: tests that kill workers shorten it to see redelivery sooner.
    processing_lease: float = 600.0


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueConfig = QueueConfig()

    @classmethod
    def load(cls, path: Path) -> HostConfig:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        extensions = data.get("extensions", {})
        http = extensions.get("http", {})
        queues = extensions.get("queues", {})
        defaults = QueueConfig()
        return cls(
            route_prefix=str(http.get("routePrefix", "api")).strip("/"),
            queues=QueueConfig(
                batch_size=int(queues.get("batchSize", defaults.batch_size)),
                new_batch_threshold=int(queues.get("newBatchThreshold", defaults.new_batch_threshold)),
                max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
                visibility_timeout=timespan_seconds(queues.get("visibilityTimeout", 0)),
                max_polling_interval=timespan_seconds(queues.get("maxPollingInterval", 60)),
                message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
            ),
        )
