"""Shared glue for publishing events right after a write (issue 24): best effort, never failing the caller.

A write inside `outbox_journal()` remembers the outbox rows it stored with its change; `publish_quietly`
sends just those (no read) and deletes their rows. If that fails (the queue or Event Grid is down) the
rows stay and the `events_republish` timer sends them later. Storage calls here are bounded like the webhook's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.records.store import RecordStore, Written
    from switchboard.settings import Settings

log = logging.getLogger("switchboard.events")
# As on the webhook path (glue_records.WEBHOOK_STORAGE_OPTIONS): a slow table must not hold up the caller.
STORAGE_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 3}


def publish_quietly(settings: Settings, written: Sequence[Written], store: RecordStore | None = None) -> int:
    """Send the events a write just stored; how many went (0 on any failure, which is logged, never raised)."""
    if not written:
        return 0  # nothing of this write waits in the outbox: no round trip spent
    from switchboard.adapters.events import sinks_for
    from switchboard.records.publisher import publish
    from switchboard.records.store import get_store

    try:
        store = store or get_store(settings.records_table, settings.optouts_table, **STORAGE_OPTIONS)
        store = store.with_options(**STORAGE_OPTIONS)
        sinks = sinks_for(settings.events_queue, settings.event_grid_topic_endpoint)
        return publish(store, written, sinks, include_body=settings.events_include_body)
    except Exception as error:  # the timer republishes; the webhook or the worker carries on
        log.warning("Could not publish %d event(s) now (the republish timer will): %s", len(written),
                    type(error).__name__)  # fmt: skip
        return 0
