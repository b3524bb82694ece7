"""Messages the Functions host could not decode: record them instead of losing them.

The host base64-decodes every queue message before any function runs (host.json
`messageEncoding`). Text that is not base64 never reaches our code: the host moves it to
`outbound-poison`, where the poison trigger cannot decode it either, and on to
`outbound-poison-poison`. A timer sweeps that queue with a raw client, gives each message a
`dead_lettered` record with its text and the reason, then deletes it.

The record's id is `undecodable-<queue message id>`, which the producer never saw. When the
text parses as a JSON object with a valid `id` (a producer that forgot to base64-encode), that
id becomes an alias: `GET /api/records/<their id>` finds the dead-lettered record. An alias is
not a claim: a corrected resend with the same id is processed normally, and once a record
exists under that id it is the one read.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from switchboard.outbound.contract import RAW_LIMIT
from switchboard.records import lifecycle as lc
from switchboard.records.ids import is_record_id
from switchboard.records.model import Record, iso
from switchboard.records.store import Finalised, RecordStore
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
            try:
                record, created = store.claim(record_for(str(message.id), text, now))
            except Finalised:  # its record was erased since: keep nothing of it
                queue.delete_message(message)
                continue
            if created:
                store.add_event(record.id, "dead_lettered", status=lc.DEAD_LETTERED, detail=REASON, now=now)
                log.warning("Undecodable queue message %s recorded as %s", message.id, record.id)
            given = producer_id(text)
            if given is not None and given != record.id:
                store.link_alias(given, record.id)
            queue.delete_message(message)
            swept.append(record.id)
    return swept


def producer_id(text: str) -> str | None:
    """The `id` a producer gave a message that never decoded, when its text is a JSON object with a valid one."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past the limit; it must not stop the sweep
        return None
    given = data.get("id") if isinstance(data, dict) else None
    return given if is_record_id(given) else None
