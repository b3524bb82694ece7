"""Shared glue for the functions that write records: the per-process store, and writes that must not fail a webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.records.store import RecordStore
    from switchboard.settings import Settings

log = logging.getLogger("switchboard.records")

# On the webhook path a slow or absent table must not hold up Twilio's answer:
# no retries and short timeouts; the TwiML is already built when this runs.
WEBHOOK_STORAGE_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 2, "read_timeout": 3}
# Status and recording callbacks answer 503 when their write fails, well inside Twilio's 15 s: the same bounds
# (a callback makes two to four round trips, each refused or timed out within 3 s).
CALLBACK_STORAGE_OPTIONS: dict[str, Any] = WEBHOOK_STORAGE_OPTIONS


def store_for(settings: Settings, **request_options: Any) -> RecordStore:
    from switchboard.records.store import get_store

    return get_store(settings.records_table, settings.optouts_table, **request_options)


def callback_store(settings: Settings) -> RecordStore:
    """The store on the callback path: no retries and short timeouts, so a failing write is a quick 503."""
    return store_for(settings, **CALLBACK_STORAGE_OPTIONS).with_options(**CALLBACK_STORAGE_OPTIONS)


def record_quietly(
    settings: Settings,
    write: Callable[[RecordStore, Mapping[str, str], datetime], object],
    params: Mapping[str, str],
) -> None:
    """Run a record write for an inbound webhook; log and carry on if storage fails. Then publish its events."""
    from switchboard.functions.glue_events import publish_quietly
    from switchboard.records.store import outbox_journal, utcnow

    store = None
    with outbox_journal() as written:
        try:
            store = store_for(settings, **WEBHOOK_STORAGE_OPTIONS).with_options(**WEBHOOK_STORAGE_OPTIONS)
            write(store, params, utcnow())
        except Exception as error:
            log.warning("Could not record inbound %s: %s", getattr(write, "__name__", "traffic"), error)
    publish_quietly(settings, written, store)  # issue 24: the arrival's event (and an opt-out's), best effort
