"""Pure: the record of one call or message, its table keys, and its JSON view.

One table holds everything about records, told apart by partition-key prefix, so that every
lookup is a point read or a single-partition range query:

| entity        | PartitionKey     | RowKey                          |
|---------------|------------------|---------------------------------|
| record        | `r:<id>`         | `record`                        |
| event         | `r:<id>`         | `event:<µs since epoch>:<rand>` |
| SID index     | `sid:<SID>`      | `sid`                           |
| number index  | `n:<E.164>`      | `<inverted µs>:<id>`            |
| day index     | `d:<YYYY-MM-DD>` | `<inverted µs>:<id>`            |
| claim         | `r:<id>`         | `claim`                         |
| fingerprint   | `f:<HMAC>`       | `fp`                            |
| stale index   | `x:stale`        | `<inverted µs>:<id>`            |
| scheduled     | `x:scheduled`    | `<inverted µs>:<id>`            |

The claim row is written with the record and outlives it: erasure and retention turn it into the id's
tombstone (`finalised_at`, how, a keyed hash of the content; no number, no text), so a replayed
webhook or a redelivered queue message for an erased id changes nothing and re-creates nothing.
A record's events sort oldest first next to it; a number's and a day's index rows sort newest first.
The day is the UTC day of `created_at`. A record still not final 7 days after it was created is marked
`stale` by the reconcile timer and gets a stale index row, which the operator page lists. A request that
was ever `scheduled` (it has a `scheduled_for`) has a scheduled index row: the page lists those still waiting.
`index_keys` is the one rule for which index rows a record has: indexing writes them and erasure deletes them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any, NamedTuple

from switchboard.shared.phones import number_part
from switchboard.shared.reasons import reason_for

RECORD_ROW = "record"
CLAIM_ROW = "claim"
SID_ROW = "sid"
FINGERPRINT_ROW = "fp"
ALIAS_ROW = "alias"
EVENT_PREFIX = "event:"
INVERTED_BASE = 10**16 - 1  # µs timestamps stay below this until the year 2286
# Table Storage: a string property holds 64 KiB (32 K UTF-16 code units) and an entity 1 MiB in all.
# Every text field is clipped to its own limit, and the limits add up to well under 1 MiB, so that
# any message, however hostile, ends in a record under its own id.
PROPERTY_UNITS = 32 * 1024
TEXT_LIMITS = {"body": 16_000, "request": 30_000, "transcript": 16_000, "reason": 4_000, "error_message": 4_000,
               "raw": 4_000, "recording_url": 4_000}  # fmt: skip
DEFAULT_TEXT_LIMIT = 1_000  # ids, numbers, statuses, times: short in any message that is not an attack


def record_partition(record_id: str) -> str:
    return f"r:{record_id}"


def sid_partition(sid: str) -> str:
    return f"sid:{sid}"


def number_partition(number: str) -> str:
    return f"n:{number}"


def day_partition(moment: datetime) -> str:
    return f"d:{moment.astimezone(timezone.utc).date().isoformat()}"


def fingerprint_partition(digest: str) -> str:
    return f"f:{digest}"


def alias_partition(alias: str) -> str:
    return f"a:{alias}"


STALE_PARTITION = "x:stale"
SCHEDULED_PARTITION = "x:scheduled"


class IndexKey(NamedTuple):
    partition: str
    row: str


def index_keys(record: Record) -> list[IndexKey]:
    """Pure: the keys of every index row the record has, each holding only its id.

    A number row for its To and for its From, under the number: an E.164 number, or the number of a
    WhatsApp address (`whatsapp:+1…` under `+1…`, so a number's records and its erasure find its WhatsApp
    messages); other addresses (`client:alice`, a SIP URI, an alphanumeric sender) are not indexed. Its
    day row, and its SID row once it has a SID. The SID row is written only if no record holds the SID
    yet, and erased only if it points at this record. (A message without an id also has a fingerprint row,
    written by the worker and erased with the record when it points at it: `RecordStore.forget`.)
    """
    created = parse_iso(record.created_at)
    row = number_row(created, record.id)
    numbers = dict.fromkeys(number for number in map(number_part, (record.to, record.from_)) if number)
    keys = [IndexKey(number_partition(number), row) for number in numbers]
    keys.append(IndexKey(day_partition(created), row))
    if record.stale:
        keys.append(IndexKey(STALE_PARTITION, row))
    if record.scheduled_for:  # kept once sent: the key stays the same, so erasure finds it
        keys.append(IndexKey(SCHEDULED_PARTITION, row))
    if record.sid:
        keys.append(IndexKey(sid_partition(record.sid), SID_ROW))
    return keys


def stored_names(names: list[str]) -> list[str]:
    """The table property names of Record fields (for a read that selects a few)."""
    return [_STORED.get(name, name) for name in names]


def epoch_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def number_row(moment: datetime, record_id: str) -> str:
    return f"{INVERTED_BASE - epoch_us(moment):016d}:{record_id}"


def event_row(moment: datetime) -> str:
    return f"{EVENT_PREFIX}{epoch_us(moment):016d}:{secrets.token_hex(4)}"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Record:
    id: str
    type: str  # call | sms
    direction: str  # outbound | inbound
    status: str
    created_at: str
    updated_at: str
    to: str | None = None
    from_: str | None = None
    channel: str | None = None  # a message's: sms | whatsapp (None: a call, or a record older than channels)
    sid: str | None = None
    attempts: int = 0
    attempt_started_at: str | None = None
    reason: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    duration: int | None = None
    price: str | None = None
    price_unit: str | None = None
    answered_by: str | None = None
    recording_url: str | None = None
    recording_sid: str | None = None
    recording_duration: int | None = None
    transcript: str | None = None
    body: str | None = None
    request: str | None = None  # JSON of what was asked
    raw: str | None = None  # the text of a message that never parsed, clipped
    queue_message_id: str | None = None
    # The last attempt got no answer and Twilio showed nothing then: look again before the next send.
    recheck: bool | None = None
    blobs: str | None = None  # JSON list of blob names (recordings, MMS media) copied to the user's storage
    # sha256 of what was asked (the request's summary, unclipped): a reused id with other content is a conflict.
    content_hash: str | None = None
    # The retry budget and deferrals (switchboard/outbound/deferral.py): when the first attempt began, how
    # many times the message was put back on the queue, when it is due again and which queue message carries it.
    first_attempt_at: str | None = None
    hops: int | None = None
    retry_at: str | None = None
    deferred_message_id: str | None = None
    # When a `scheduled` request will be tried (its send_at, or the end of quiet hours: outbound/schedule.py).
    scheduled_for: str | None = None
    pace_slot: str | None = None  # the slot leased at the sender's pace while `paced` (switchboard/outbound/pacing.py)
    queue_time: int | None = None  # a call's milliseconds in Twilio's queue before it was placed
    reconciled_at: str | None = None  # when the reconcile timer last asked Twilio about it
    stale: bool | None = None  # still not final 7 days after it was created (switchboard/records/reconcile.py)
    # Rejected `suppressed:<code>`: when the number's suppression lapses (switchboard/records/suppressions.py).
    suppressed_until: str | None = None
    # The keyed fingerprint of a queue message without an id (its `f:` row goes with the record).
    fingerprint: str | None = None
    etag: str | None = None  # from the table; not stored

    @property
    def blob_names(self) -> list[str]:
        return [str(name) for name in json.loads(self.blobs)] if self.blobs else []

    def with_blob(self, now: datetime, name: str) -> Record | None:
        """The record naming one more stored blob; None if it already does."""
        names = self.blob_names
        if name in names:
            return None
        return self.with_changes(now, blobs=json.dumps([*names, name]))

    def with_changes(self, now: datetime, **changes: Any) -> Record:
        return replace(self, updated_at=iso(now), **changes)

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": record_partition(self.id), "RowKey": RECORD_ROW}
        for key, value in asdict(self).items():
            if key == "etag" or value is None:
                continue
            stored = storable(value, TEXT_LIMITS.get(key, DEFAULT_TEXT_LIMIT)) if isinstance(value, str) else value
            entity[_STORED.get(key, key)] = value if key == "id" else stored
        return entity

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any], etag: str | None = None) -> Record:
        known = {f.name for f in fields(cls)} - {"etag"}
        values: dict[str, Any] = {name: entity.get(_STORED.get(name, name)) for name in known}
        values["attempts"] = int(values.get("attempts") or 0)
        for number in ("error_code", "duration", "recording_duration", "hops", "queue_time"):
            if values.get(number) is not None:
                values[number] = int(values[number])
        return cls(etag=etag, **values)

    def to_json(self, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The public view (GET /api/records/{id}); full numbers, never secrets."""
        out: dict[str, Any] = {
            "id": self.id, "type": self.type, "direction": self.direction, "status": self.status,
            "sid": self.sid, "to": self.to, "from": self.from_, "error_code": self.error_code,
            "error_message": self.error_message, "attempts": self.attempts, "created_at": self.created_at,
            "updated_at": self.updated_at,
        }  # fmt: skip
        optional = {
            "channel": self.channel,
            "reason": self.reason,
            "duration": self.duration,
            "price": self.price,
            "price_unit": self.price_unit,
            "answered_by": self.answered_by,
            "recording_url": self.recording_url,
            "recording_duration": self.recording_duration,
            "transcript": self.transcript,
            "body": self.body,
            "raw": self.raw,
            # While a message waits on the queue: when it is due again, and how often it was put back.
            "retry_at": self.retry_at if self.status in ("pending", "retrying", "paced", "scheduled") else None,
            "scheduled_for": self.scheduled_for,
            "hops": self.hops,
            "first_attempt_at": self.first_attempt_at,
            "queue_time": self.queue_time,
            "reconciled_at": self.reconciled_at,
            "stale": self.stale,
            "suppressed_until": self.suppressed_until,
        }
        out |= {key: value for key, value in optional.items() if value is not None}
        explained = reason_for(self.error_code)
        if explained is not None:  # what the Twilio error means and what to do (switchboard/shared/reasons.py)
            out["error_reason"], out["error_remedy"] = explained.reason, explained.remedy
        if self.blobs:
            out["blobs"] = self.blob_names
        if self.request:
            try:
                out["request"] = json.loads(self.request)
            except ValueError:  # clipped: kept as text
                out["request"] = self.request
        if events is not None:
            out["events"] = events
        return out


def storable(text: str, limit: int = PROPERTY_UNITS) -> str:
    """`text` as a table property can hold it: at most `limit` UTF-16 code units, lone surrogates replaced."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # JSON can carry a lone surrogate ("\\ud800"); no table can store one
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    limit = min(limit, PROPERTY_UNITS)
    if len(text) * 2 <= limit:  # fast path: no character is more than two units
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit - 1:
            return text[:index] + "…"
    return text


# Table property names that differ from the field names ("from" is a keyword in several SDKs).
_STORED = {"to": "to_number", "from_": "from_number"}


def event_json(entity: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"at": entity.get("at"), "kind": entity.get("kind"), "status": entity.get("status")}
    if entity.get("sid"):
        out["sid"] = entity["sid"]
    if entity.get("detail"):
        out["detail"] = entity["detail"]
    if entity.get("params"):
        out["params"] = json.loads(str(entity["params"]))
    return out
