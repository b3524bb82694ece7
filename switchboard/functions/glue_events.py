"""Shared glue for publishing events right after a write (issue 24): best effort, never failing the caller.

The outbox row is already stored with the change; if this publish fails (the queue or Event Grid is
down) the `events_republish` timer sends it later. Storage calls here are bounded like the webhook's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from switchboard.records.model import Record
    from switchboard.records.store import RecordStore
    from switchboard.settings import Settings

log = logging.getLogger("switchboard.events")
UNSUBSCRIBED_CODE = 21610  # Twilio's "unsubscribed recipient": the worker records an opt-out for the number


def publish_quietly(
    settings: Settings, *, record_id: str | None = None, number: str | None = None, store: RecordStore | None = None
) -> int:
    """Send the pending events of a record and/or of a number's opt-out; how many went (0 on any failure)."""
    from switchboard.adapters.events import sinks_for
    from switchboard.functions.glue_records import WEBHOOK_STORAGE_OPTIONS, store_for
    from switchboard.records.model import record_partition
    from switchboard.records.publisher import publish

    sent = 0
    try:
        store = (store or store_for(settings, **WEBHOOK_STORAGE_OPTIONS)).with_options(**WEBHOOK_STORAGE_OPTIONS)
        sinks = sinks_for(settings.events_queue, settings.event_grid_topic_endpoint)
        include = settings.events_include_body
        if record_id:
            sent += publish(store, record_partition(record_id), sinks, include_body=include)
        if number:
            sent += publish(store, number, sinks, include_body=include, optouts=True)
    except Exception as error:  # the timer republishes; the webhook or the worker carries on
        log.warning("Could not publish events now (the republish timer will): %s", type(error).__name__)
    return sent


def publish_after_worker(settings: Settings, record: Record) -> int:
    """After the worker's write: a final status has an event; a create Twilio answered 21610 an opt-out's."""
    from switchboard.records.outbox import FINAL_CALL, FINAL_MESSAGE
    from switchboard.shared.phones import number_part

    final = record.status in (FINAL_CALL if record.type == "call" else FINAL_MESSAGE)
    number = number_part(record.to) if record.error_code == UNSUBSCRIBED_CODE else None
    if not final and not number:
        return 0  # nothing of this write waits in the outbox: no read spent
    return publish_quietly(settings, record_id=record.id if final else None, number=number)
