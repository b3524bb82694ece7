"""Where events go (issue 24): the Storage queue `events` and, when configured, an Event Grid topic.

Both take a batch of one record's (or one number's) events, oldest first, as structured-mode CloudEvents JSON,
and raise when the batch did not arrive: the caller keeps the outbox rows and the republish timer tries again.
The queue holds each event as one message, base64-encoded (TextBase64EncodePolicy) as a queue-triggered
function expects; Event Grid gets the batch in one POST (`application/cloudevents-batch+json`) with a token
for the app's managed identity (`EventGrid Data Sender` on the topic).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.adapters.storage import DEFAULT_CONNECTION, StorageTarget, queue_client

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

log = logging.getLogger("switchboard.events")

EVENT_GRID_SCOPE = "https://eventgrid.azure.net/.default"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json; charset=utf-8"
# The publisher runs right after a webhook's or the worker's write: a dead endpoint must not hold it up.
TIMEOUTS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 5, "retry_total": 0}
GRID_TIMEOUT = (2.0, 5.0)


class EventSink(Protocol):
    name: str

    def send(self, events: Sequence[str]) -> None:
        """Deliver the events in order; raise if any did not arrive."""


class QueueSink:
    """The Storage queue (EVENTS_QUEUE): one message per event. The queue is infra's (and the local stack's)."""

    name = "queue"

    def __init__(self, queue: str, client: QueueClient | None = None) -> None:
        self.queue = queue
        self.client = client or queue_client(queue, **TIMEOUTS)

    def send(self, events: Sequence[str]) -> None:
        for event in events:
            self.client.send_message(event)


class EventGridSink:
    """An Event Grid topic (EVENT_GRID_TOPIC_ENDPOINT), with an Entra ID token for the app's identity."""

    name = "event_grid"

    def __init__(self, endpoint: str, credential: Any) -> None:
        import requests

        self.endpoint = endpoint
        self.credential = credential
        self.session = requests.Session()

    def send(self, events: Sequence[str]) -> None:
        token = self.credential.get_token(EVENT_GRID_SCOPE).token  # the credential caches and renews it
        body = "[" + ",".join(events) + "]"
        response = self.session.post(
            self.endpoint, data=body.encode("utf-8"), timeout=GRID_TIMEOUT,
            headers={"Authorization": f"Bearer {token}", "Content-Type": BATCH_CONTENT_TYPE},
        )  # fmt: skip
        if response.status_code >= 300:
            raise EventGridError(f"Event Grid answered {response.status_code}")  # never the token or the body


class EventGridError(RuntimeError):
    pass


_lock = threading.Lock()
_sinks: dict[tuple[str, str | None, str], list[EventSink]] = {}


def sinks_for(queue: str, grid_endpoint: str | None) -> list[EventSink]:
    """The process's sinks for these settings (clients built once: they keep their connections and tokens)."""
    key = (queue, grid_endpoint, os.environ.get(DEFAULT_CONNECTION, ""))
    with _lock:
        found = _sinks.get(key)
        if found is None:
            found = [QueueSink(queue)]
            if grid_endpoint:
                found.append(EventGridSink(grid_endpoint, StorageTarget.resolve().credential()))
            _sinks[key] = found
        return found


def reset_sinks() -> None:
    """Forget cached clients (tests point the process at another storage account)."""
    with _lock:
        _sinks.clear()
