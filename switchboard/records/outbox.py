"""Pure: the CloudEvents 1.0 events Switchboard publishes, and their outbox rows (issue 24).

An event is an outbox row in the record's own partition (`r:<id>`, RowKey `outbox:<seq>`), so it is
written in the same Table transaction as the record change it reports (`RecordStore.commit(record, row)`);
a publisher sends pending rows after the write and a timer republishes what is still pending.
`id` is stable per change (`<record id>:<status>`, a consumer de-duplicates on it) and `sequence`
(a CloudEvents extension attribute, an integer per record) orders one record's events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudevents.v1.conversion import to_json
from cloudevents.v1.http import CloudEvent, from_json

from switchboard.records.lifecycle import CALL_TERMINAL, MESSAGE_TERMINAL, ranks
from switchboard.records.model import Record, epoch_us, iso, record_partition
from switchboard.shared.reasons import reason_for

SOURCE = "/switchboard"
OUTBOX_PREFIX = "outbox:"
SEQUENCE_DIGITS = 6
# Twilio's final statuses and our own (`dead_lettered`: the retry budget or the poison queue gave up; `unknown`:
# Twilio may have the request and could not be asked; `expired`: its `expires_at` passed before the send; `canceled`
# is Twilio's word and ours), each one event.
OWN_FINAL = ("rejected", "dead_lettered", "unknown", "expired")
FINAL_MESSAGE = ("delivered", "undelivered", "failed", "canceled", "read", *OWN_FINAL)
FINAL_CALL = ("completed", "busy", "no-answer", "failed", "canceled", *OWN_FINAL)
# Every `type` Switchboard publishes (documented in docs/events.md).
TYPES = frozenset(
    {f"switchboard.message.{status}" for status in FINAL_MESSAGE}
    | {f"switchboard.call.{status.replace('-', '_')}" for status in FINAL_CALL}
    | {"switchboard.message.received", "switchboard.call.received", "switchboard.voicemail.transcribed",
       "switchboard.voicemail.transcription_failed", "switchboard.optout.added", "switchboard.optout.removed"}
)  # fmt: skip
BODY_FIELDS = ("body", "transcript")
# A queue message holds 64 KiB once base64-encoded (48 KiB of JSON) and a table property 32 K UTF-16 units:
# an event stays under both (the JSON is ASCII: non-ASCII is escaped), dropping its longest fields first.
MAX_EVENT_CHARS = 30_000
DROPPABLE = ("request", "raw", "body", "transcript", "reason", "error_message")
# `sequence` per record: our own final statuses before Twilio's word (which may follow `unknown`), the inbound
# arrival first, the voicemail's transcript after the call's end; opt-outs count microseconds per number.
OWN_SEQUENCE = 4
RECEIVED_SEQUENCE = 1
VOICEMAIL_SEQUENCE = {"transcription_failed": 7, "transcribed": 8}
OPTOUT_SEQUENCE_DIGITS = 16


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
    digits: int = SEQUENCE_DIGITS,
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
        "id": f"{record_id}:{status}" if kind != "optout" else f"{record_id}:optout.{status}",
        "source": SOURCE,
        "type": event_type(kind, status),
        "time": time,
        "datacontenttype": "application/json",
        "sequence": str(sequence).zfill(digits),
    }
    if subject:
        attributes["subject"] = subject  # the number, unmasked: the consumer is the owner's app (never logged)
    raw = bytes(to_json(CloudEvent(attributes, payload)))
    dropped: list[str] = []
    for field in DROPPABLE:
        if len(raw) <= MAX_EVENT_CHARS:
            break
        if payload.pop(field, None) is not None:
            dropped.append(field)
            payload["truncated"] = dropped
            raw = bytes(to_json(CloudEvent(attributes, payload)))
    if len(raw) > MAX_EVENT_CHARS:  # still too long: the id and what happened, and the records API has the rest
        payload = {key: payload.get(key) for key in ("id", "type", "direction", "status", "error_code")}
        payload["truncated"] = ["*"]
        attributes.pop("subject", None)
        raw = bytes(to_json(CloudEvent(attributes, payload)))
    return raw


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


def stored(record: Record) -> Record:
    """The record as the table holds it (every text clipped to its limit): what an event carries."""
    return Record.from_entity(record.to_entity(), etag=record.etag)


def status_sequence(record: Record) -> int:
    """The `sequence` of a record's final status: Twilio's rank (rises per record), ours before any of Twilio's."""
    rank = ranks(record.type).get(record.status)
    return OWN_SEQUENCE if rank is None or record.status in OWN_FINAL else rank


def record_subject(record: Record) -> str | None:
    """The other party's number: whom an outbound record went to, whom an inbound one came from."""
    return record.to if record.direction == "outbound" else record.from_


def status_event_row(before: Record | None, after: Record) -> dict[str, Any] | None:
    """The outbox row for a record's change to a final status (None for any other change); `before` None: created.

    The sequence only rises for one record (delivered 5, read 6): a replay writes the same row again,
    which the transaction refuses, so each change has one event. Bodies stay in the row (erased with the
    record); the publisher leaves them out when EVENTS_INCLUDE_BODY=false.
    """
    kind = "call" if after.type == "call" else "message"
    final = CALL_TERMINAL | set(OWN_FINAL) if kind == "call" else (MESSAGE_TERMINAL - {"received"}) | set(OWN_FINAL)
    if (before is not None and after.status == before.status) or after.status not in final:
        return None
    if after.type not in ("call", "sms"):
        return None  # a message that never parsed (type unknown) is no call or message to tell about
    sequence, after = status_sequence(after), stored(after)
    event = cloud_event(after.id, kind, after.status, after.to_json(), subject=record_subject(after),
                        sequence=sequence, time=after.updated_at)  # fmt: skip
    return outbox_entity(after.id, sequence, event)


def received_event_row(record: Record) -> dict[str, Any]:
    """The outbox row of an inbound call or message, written with its record (`switchboard.*.received`)."""
    kind, record = "call" if record.type == "call" else "message", stored(record)
    event = cloud_event(record.id, kind, "received", record.to_json(), subject=record.from_,
                        sequence=RECEIVED_SEQUENCE, time=record.created_at)  # fmt: skip
    return outbox_entity(record.id, RECEIVED_SEQUENCE, event)


def created_event_row(record: Record) -> dict[str, Any] | None:
    """The outbox row a new record carries: inbound traffic's arrival, or a record born final (rejected, an orphan)."""
    if record.direction == "inbound" and record.type == "call" and record.status not in CALL_TERMINAL:
        return received_event_row(record)
    if record.direction == "inbound" and record.type == "sms" and record.status == "received":
        return received_event_row(record)
    return status_event_row(None, record)


def voicemail_event_row(record: Record, *, failed: bool) -> dict[str, Any]:
    """The outbox row of a voicemail whose transcript (or the transcript's failure) arrived, on the call's record."""
    status = "transcription_failed" if failed else "transcribed"
    sequence, record = VOICEMAIL_SEQUENCE[status], stored(record)
    event = cloud_event(record.id, "voicemail", status, record.to_json(), subject=record.from_,
                        sequence=sequence, time=record.updated_at)  # fmt: skip
    return outbox_entity(record.id, sequence, event)


def optout_event_row(
    number: str, opted_out: bool, *, source_id: str, keyword: str, via: str | None, at: datetime
) -> dict[str, Any]:
    """The outbox row of an opt-out change, beside the number's opt-out row (one transaction writes both).

    `source_id` names what made the change (the inbound message's SID, or the outbound request Twilio
    answered 21610): the event's id is `<source_id>:optout.added|removed`. The sequence is the change's
    microseconds, so one number's opt-out events order by it.
    """
    sequence = epoch_us(at)
    status = "added" if opted_out else "removed"
    data = {"id": source_id, "number": number, "opted_out": opted_out, "body": keyword, "via": via or None,
            "updated_at": iso(at)}  # fmt: skip
    event = cloud_event(source_id, "optout", status, data, subject=number, sequence=sequence, time=iso(at),
                        digits=OPTOUT_SEQUENCE_DIGITS)  # fmt: skip
    return {
        "PartitionKey": number,
        # The source's hash after the time: two changes in one microsecond (a frozen clock) are two rows.
        "RowKey": f"{OUTBOX_PREFIX}{str(sequence).zfill(OPTOUT_SEQUENCE_DIGITS)}:{_short_hash(source_id)}",
        "event": event.decode("utf-8"),
        "published": False,
    }


def publishable(event: str, *, include_body: bool) -> str:
    """The stored event as it goes out: without `body` and `transcript` when EVENTS_INCLUDE_BODY=false."""
    if include_body:
        return event
    parsed = json.loads(event)
    data = parsed.get("data")
    if isinstance(data, dict) and any(field in data for field in BODY_FIELDS):
        for field in BODY_FIELDS:
            data.pop(field, None)
        return json.dumps(parsed, separators=(",", ":"))
    return event


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
