"""How many messages wait in each poison queue, written as one log line per queue for the poison-queue alert.

`queue.depth queue=outbound-poison messages=3` every 5 minutes (the `poison_queue_depths` timer). The
alert in infra/app/alerts.bicep fires when a queue's samples over 10 minutes are all above zero. The
count is the queue service's approximate message count: a property read, no message is touched.
"""

from __future__ import annotations

import logging

from switchboard.adapters.inventory import storage_names
from switchboard.settings import Settings
from switchboard.shared import telemetry

log = logging.getLogger("switchboard.health.depths")
POISON = "-poison"


def poison_queues(settings: Settings) -> list[str]:
    return sorted(name for name in storage_names(settings).queues if POISON in name)


def log_poison_depths(settings: Settings) -> dict[str, int | None]:
    """Each poison queue's approximate message count (None when it could not be read), logged."""
    from azure.core.exceptions import AzureError

    from switchboard.adapters.storage import queue_client

    depths: dict[str, int | None] = {}
    for name in poison_queues(settings):
        try:
            count = queue_client(name).get_queue_properties().approximate_message_count
            depths[name] = int(count or 0)
        except AzureError as error:
            depths[name] = None
            log.warning("Queue %s: its length could not be read (%s)", name, type(error).__name__)
            continue
        telemetry.log_event(log, "queue.depth", queue=name, messages=depths[name])
    return depths
