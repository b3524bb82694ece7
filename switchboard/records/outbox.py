"""Pure: the CloudEvents 1.0 events Switchboard publishes, and their outbox rows (issue 24).

An event is an outbox row in the record's own partition (`r:<id>`, RowKey `outbox:<seq>`), so it is
written in the same Table transaction as the record change it reports (`RecordStore.commit(record, row)`);
a publisher sends pending rows after the write and a timer republishes what is still pending.
`id` is stable per change (`<record id>:<status>`, a consumer de-duplicates on it) and `sequence`
(a CloudEvents extension attribute, an integer per record) orders one record's events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cloudevents.v1.conversion import to_json
from cloudevents.v1.http import CloudEvent, from_json

from switchboard.records.lifecycle import CALL_TERMINAL, MESSAGE_TERMINAL, ranks
from switchboard.records.model import Record, record_partition
from switchboard.shared.reasons import reason_for

SOURCE = "/switchboard"
OUTBOX_PREFIX = "outbox:"
SEQUENCE_DIGITS = 6
FINAL_MESSAGE = ("delivered", "undelivered", "failed", "canceled", "rejected", "read")
FINAL_CALL = ("completed", "busy", "no-answer", "failed", "canceled", "rejected")
# Every `type` Switchboard publishes (documented in docs/events.md).
TYPES = frozenset(
    {f"switchboard.message.{status}" for status in FINAL_MESSAGE}
    | {f"switchboard.call.{status.replace('-', '_')}" for status in FINAL_CALL}
    | {"switchboard.message.received", "switchboard.call.received", "switchboard.voicemail.transcribed",
       "switchboard.voicemail.transcription_failed", "switchboard.optout.added", "switchboard.optout.removed"}
)  # fmt: skip
BODY_FIELDS = ("body", "transcript")


def event_type(kind: str, status: str) -> str:
    """`switchboard.<message|call|voicemail|optout>.<status>`; ValueError for a type that is not documented."""
    name = f"switchboard.{kind}.{status.replace('-', '_')}"
    if name not in TYPES:
        raise ValueError(f"undocumented event type {name}")
    return name


def cloud_event(
    record_id: str,
    kind: str,
    status: str,
    data: Mapping[str, Any],
    *,
    subject: str | None,
    sequence: int,
    time: str,
    include_body: bool = True,
) -> bytes:
    """One event in JSON structured mode. `data` is the records API's shape; bodies go when not `include_body`."""
    payload = dict(data)
    if not include_body:
        for field in BODY_FIELDS:
            payload.pop(field, None)
    reason = reason_for(payload.get("error_code"))
    if reason is not None:
        payload["error_reason"], payload["error_remedy"] = reason.reason, reason.remedy
    attributes: dict[str, Any] = {
        "id": f"{record_id}:{status}",
        "source": SOURCE,
        "type": event_type(kind, status),
        "time": time,
        "datacontenttype": "application/json",
        "sequence": str(sequence).zfill(SEQUENCE_DIGITS),
    }
    if subject:
        attributes["subject"] = subject  # the number, unmasked: the consumer is the owner's app (never logged)
    return bytes(to_json(CloudEvent(attributes, payload)))


def outbox_entity(record_id: str, sequence: int, event: bytes) -> dict[str, Any]:
    """The outbox row of one event, beside the record (so one transaction writes both)."""
    return {
        "PartitionKey": record_partition(record_id),
        "RowKey": f"{OUTBOX_PREFIX}{str(sequence).zfill(SEQUENCE_DIGITS)}",
        "event": event.decode("utf-8"),
        "published": False,
    }


def parse_event(raw: bytes | str) -> dict[str, Any]:
    """A structured-mode event back as its attributes and `data` (the consumer's side; raises on a bad event)."""
    event = from_json(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    out: dict[str, Any] = dict(event.get_attributes())
    out["data"] = event.get_data()
    return out


def event_id(raw: bytes | str) -> str:
    return str(json.loads(raw)["id"])


def status_event_row(before: Record, after: Record, *, include_body: bool = True) -> dict[str, Any] | None:
    """The outbox row for a record's change to a final status (None for any other change).

    The sequence is the status's rank, which only rises for one record (delivered 5, read 6): a replay
    writes the same row again, which the transaction refuses, so each change has one event.
    """
    kind = "call" if after.type == "call" else "message"
    final = CALL_TERMINAL if kind == "call" else MESSAGE_TERMINAL - {"received"}
    if after.status == before.status or after.status not in final:
        return None
    sequence = ranks(after.type).get(after.status, 0)
    subject = after.to if after.direction == "outbound" else after.from_
    event = cloud_event(after.id, kind, after.status, after.to_json(), subject=subject, sequence=sequence,
                        time=after.updated_at, include_body=include_body)  # fmt: skip
    return outbox_entity(after.id, sequence, event)
