"""Messages the Functions host could not decode: record them instead of losing them.

The host base64-decodes every queue message before any function runs (host.json
`messageEncoding`). Text that is not base64 never reaches our code: the host moves it to
`outbound-poison`, where the poison trigger cannot decode it either, and on to
`outbound-poison-poison`. A timer sweeps that queue with a raw client, gives each message a
`dead_lettered` record with its text and the reason, then deletes it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from switchboard.outbound.contract import RAW_LIMIT
from switchboard.records import lifecycle as lc
from switchboard.records.model import Record, iso
from switchboard.records.store import RecordStore
from switchboard.shared.text import clip

log = logging.getLogger("switchboard.outbound")

REASON = (
    "the queue message is not base64: the Functions host decodes queue messages as base64 "
    "(host.json messageEncoding) and dead-lettered it before any function ran; "
    "base64-encode messages when you enqueue them"
)
SWEEP_BATCH = 32
SWEEP_ROUNDS = 10  # at most 320 messages a sweep: bounded work per timer tick


def record_for(message_id: str, text: str, now: datetime) -> Record:
    return Record(
        id=f"undecodable-{message_id}"[:64], type="unknown", direction="outbound", status=lc.DEAD_LETTERED,
        created_at=iso(now), updated_at=iso(now), reason=REASON, raw=clip(text, RAW_LIMIT),
        queue_message_id=message_id,
    )  # fmt: skip


def sweep(queue: Any, store: RecordStore, now: datetime) -> list[str]:
    """Record and delete what is on `queue` (a client without a decode policy). Returns the record ids."""
    swept: list[str] = []
    for _ in range(SWEEP_ROUNDS):
        messages = list(queue.receive_messages(messages_per_page=SWEEP_BATCH, max_messages=SWEEP_BATCH))
        if not messages:
            break
        for message in messages:
            content = message.content
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or "")
            record, created = store.claim(record_for(str(message.id), text, now))
            if created:
                store.add_event(record.id, "dead_lettered", status=lc.DEAD_LETTERED, detail=REASON, now=now)
                log.warning("Undecodable queue message %s recorded as %s", message.id, record.id)
            queue.delete_message(message)
            swept.append(record.id)
    return swept
