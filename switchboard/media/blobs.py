"""Blob and queue adapters for media: the private containers, the copy queue, reads and prefix deletes.

Containers are created private (no public access level) the first time a process needs them;
`infra/` creates them too. Every blob of a record lives under `<record id>/`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from switchboard.adapters.storage import blob_service_client, queue_client
from switchboard.media.jobs import QUEUE, RECORDING, Job
from switchboard.settings import Settings
from switchboard.shared.sids import is_recording_sid

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger("switchboard.media")
MAX_BLOBS_PER_RECORD = 100  # a record has one recording or up to ten media: a bounded listing
# Enqueueing runs inside Twilio's webhooks (15 s to answer): no retries (the SDK backs off 15 s), short timeouts.
# A failure is noted on the record (enqueue_or_note), never silent.
ENQUEUE_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 4}
_lock = threading.Lock()
_ready: set[tuple[str, str]] = set()


def _connection_key() -> str:
    import os

    return os.environ.get("AzureWebJobsStorage", "")


def container(name: str) -> ContainerClient:
    """A private container, created once per process and storage account."""
    from azure.core.exceptions import ResourceExistsError

    client = blob_service_client().get_container_client(name)
    key = (name, _connection_key())
    with _lock:
        if key not in _ready:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()  # no public_access: private
            _ready.add(key)
    return client


def container_for(settings: Settings, kind: str) -> ContainerClient:
    return container(settings.recordings_container if kind == RECORDING else settings.media_container)


def container_of_name(settings: Settings, name: str) -> str:
    """Recording blobs are named `RE…`, MMS media `ME…`."""
    return settings.recordings_container if is_recording_sid(name.partition(".")[0]) else settings.media_container


def enqueue(jobs: Iterable[Job], tag_key: bytes) -> int:
    """Put copy jobs on the `media-downloads` queue (base64, as the host expects)."""
    from azure.core.exceptions import ResourceExistsError

    client = queue_client(QUEUE)
    key = (f"queue:{QUEUE}", _connection_key())
    sent = 0
    for job in jobs:
        with _lock:
            fresh = key not in _ready
        if fresh:
            with contextlib.suppress(ResourceExistsError):
                client.create_queue(**ENQUEUE_OPTIONS)
            with _lock:
                _ready.add(key)
        client.send_message(job.to_message(tag_key), **ENQUEUE_OPTIONS)
        sent += 1
    return sent


def enqueue_or_note(store: Any, jobs: list[Job], tag_key: bytes) -> None:
    """Queue the copies; if the queue cannot be reached, say so on each record (an operator can see it) and log."""
    from switchboard.records.store import utcnow

    try:
        enqueue(jobs, tag_key)
    except Exception as error:
        log.error("Could not queue %d media copies: %s", len(jobs), error)
        for job in jobs:
            detail = f"could not queue the copy ({type(error).__name__}); the copy at Twilio is kept"
            store.add_event(job.record_id, "copy_failed", sid=job.sid, detail=detail, now=utcnow())


def delete_record_blobs(settings: Settings, record_id: str) -> int:
    """Delete every blob under `<record id>/` in both containers; returns how many."""
    from azure.core.exceptions import ResourceNotFoundError

    deleted = 0
    for name in {settings.recordings_container, settings.media_container}:
        client = blob_service_client().get_container_client(name)
        try:
            names = [b.name for b in islice(client.list_blobs(name_starts_with=f"{record_id}/"), MAX_BLOBS_PER_RECORD)]
        except ResourceNotFoundError:  # the container was never made: nothing stored there
            continue
        for blob in names:
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_blob(blob, delete_snapshots="include")
                deleted += 1
    return deleted


def reset() -> None:
    """Forget created containers and queues (tests point the process at a new storage account)."""
    with _lock:
        _ready.clear()
