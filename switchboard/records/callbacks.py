"""Status callbacks and inbound traffic, applied to records.

`StatusUpdate.from_params` and `apply` are pure; `record_status_callback`, `record_inbound_call`
and `record_inbound_message` take the store as an argument and do the writes.
Every callback is kept as an event row, and only moves a record's status forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from switchboard.records import lifecycle as lc
from switchboard.records.ids import ID_PATTERN
from switchboard.records.keywords import opt_keyword
from switchboard.records.model import Record, iso
from switchboard.records.outbox import status_event_row
from switchboard.records.store import (
    UPDATE_ATTEMPTS,
    Finalised,
    RecordConflict,
    RecordStore,
    RowExists,
    StaleRecord,
    event_entity,
    marker_entity,
)
from switchboard.records.suppressions import suppress_after
from switchboard.shared import telemetry
from switchboard.shared.phones import channel_of, mask, number_part
from switchboard.shared.sids import is_call_sid, is_message_sid, is_sid_of

log = logging.getLogger("switchboard.records")
OPT_CHANGE_KEY = "opt-change"


@dataclass(frozen=True)
class StatusUpdate:
    kind: str  # call | sms
    sid: str
    status: str
    to: str | None = None
    from_: str | None = None
    direction: str | None = None
    duration: int | None = None
    price: str | None = None
    price_unit: str | None = None
    answered_by: str | None = None
    recording_url: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    @classmethod
    def from_params(cls, kind: str, params: Mapping[str, str]) -> StatusUpdate | None:
        if kind == "call":
            sid, status = params.get("CallSid"), params.get("CallStatus")
            duration = _int(params.get("CallDuration") or params.get("Duration"))
        else:
            sid = params.get("MessageSid") or params.get("SmsSid")
            status = params.get("MessageStatus") or params.get("SmsStatus")
            duration = None
        status = (status or "").strip().lower()
        # Only signed values in their documented shapes: a re-split form cannot make a "new" SID or status.
        if not is_sid_of(kind, sid) or not lc.is_twilio_status(kind, status):
            return None
        return cls(
            kind=kind, sid=str(sid), status=status, to=params.get("To") or None,
            from_=params.get("From") or None, direction=params.get("Direction") or None, duration=duration,
            price=params.get("Price") or None, price_unit=params.get("PriceUnit") or None,
            answered_by=params.get("AnsweredBy") or None, recording_url=params.get("RecordingUrl") or None,
            error_code=_int(params.get("ErrorCode")), error_message=params.get("ErrorMessage") or None,
        )  # fmt: skip


def apply(record: Record, update: StatusUpdate, now: datetime) -> Record | None:
    """The record after this callback, or None when it changes nothing (wrong SID, or no news)."""
    if record.sid not in (None, update.sid):
        return None
    linked = record.sid == update.sid
    changes: dict[str, Any] = {"sid": update.sid}
    if lc.advances(update.kind, record.status, update.status, linked=linked):
        changes["status"] = update.status
        if not linked:
            changes["reason"] = None  # Twilio's word settles our own doubt (unknown, dead_lettered)
    details = {
        "duration": update.duration,
        "price": update.price,
        "price_unit": update.price_unit,
        "answered_by": update.answered_by,
        "recording_url": update.recording_url,
        "error_code": update.error_code,
        "error_message": update.error_message,
    }
    changes |= {key: value for key, value in details.items() if value is not None}
    if all(getattr(record, key) == value for key, value in changes.items()):
        return None
    return record.with_changes(now, **changes)


def delivery_key(update: StatusUpdate) -> str:
    """What makes two deliveries the same callback: the SID and the status, both signed and shape-checked.

    Not `I-Twilio-Idempotency-Token`: it is a header outside the signature, so anyone replaying a
    captured callback could mint new tokens and add event rows without limit. Not `SequenceNumber`
    either: a re-split form can drop it, which would make a second key. A SID reports each status once.
    """
    return f"callback:{update.sid}:{update.status}"


def record_status_callback(
    store: RecordStore,
    kind: str,
    params: Mapping[str, str],
    request_id: str | None,
    now: datetime,
    *,
    suppress: Mapping[str, timedelta] | None = None,
) -> str | None:
    """Apply one status callback; returns the id of the record it landed on (None if unusable).

    A repeated delivery (Twilio's retry, or a duplicate) changes nothing and adds no event.
    `suppress` (SUPPRESS_ON_ERRORS): a failed SMS with one of these codes suppresses its number for that long.
    """
    update = StatusUpdate.from_params(kind, params)
    if update is None:
        log.warning("Ignored a %s status callback without a well-formed SID and a known status", kind)
        return None
    key = delivery_key(update)
    if request_id and not ID_PATTERN.fullmatch(request_id):
        request_id = None
    # The request id in the signed StatusCallback URL finds the record in one read; the SID index is
    # the fallback (callbacks configured elsewhere, and orphans).
    record = store.get(request_id) if request_id else None
    if record is not None and record.sid is None:
        # Linking a SID to a record needs the SID to be nobody else's: a callback for another record's call
        # never relinks this one (a `retrying` request would be marked done and never placed).
        owner = store.record_id_for_sid(update.sid)
        if owner not in (None, record.id):
            log.warning("A %s callback for %s named record %s, but another record holds that SID: not linked",
                        kind, update.sid, record.id)  # fmt: skip
            record = None
    if record is None:
        owner = store.record_id_for_sid(update.sid)
        record = store.get(owner) if owner else None
    # A repeat (its marker exists) changes nothing, details included: the marker rides in the same
    # transaction as the change, so a re-split replay of a signed callback cannot alter `Price` and the like.
    if record is not None and _land(store, record, update, params, key=key, now=now, suppress=suppress):
        return record.id
    return _orphan(store, update, params, now, key)


def _land(
    store: RecordStore,
    record: Record,
    update: StatusUpdate,
    params: Mapping[str, str],
    *,
    key: str,
    now: datetime,
    suppress: Mapping[str, timedelta] | None = None,
) -> bool:
    """Apply the callback: the record's change, its event and its de-duplication marker in one transaction.

    False when the record belongs to another SID. A repeated delivery finds its marker and changes nothing.
    """
    for _ in range(UPDATE_ATTEMPTS):
        changed = apply(record, update, now)
        if (changed or record).sid != update.sid:
            return False
        rows = (
            marker_entity(record.id, key),
            event_entity(record.id, "callback", status=update.status, sid=update.sid, params=params, now=now),
        )
        try:
            if changed is None:
                fresh = store.append(*rows)
            else:
                if suppress:  # before the change: should this write fail, Twilio's retry suppresses again
                    suppress_after(store, record, changed, suppress, now)
                outbox = status_event_row(record, changed)  # issue 24: the event rides in the same transaction
                store.commit(changed, *rows, *((outbox,) if outbox else ()))
                fresh = True
                if record.sid is None:
                    store.link_sid(update.sid, record.id)
                if changed.status != record.status:
                    # One line per status change: the failure-rate and dead-lettered alerts count these (infra/).
                    telemetry.log_event(log, "record.status", request_id=record.id, type=record.type,
                                        status=changed.status, sid=update.sid)  # fmt: skip
        except RowExists:
            fresh = False
        except StaleRecord:
            current = store.get(record.id)
            if current is None:
                return False
            record = current
            continue
        if not fresh:
            log.info("Status callback %s for %s was a repeat: already recorded", update.status, update.sid)
        return True
    raise RecordConflict(f"record {record.id} kept changing under {UPDATE_ATTEMPTS} attempts")


def record_reconciled(
    store: RecordStore,
    record: Record,
    update: StatusUpdate,
    now: datetime,
    *,
    suppress: Mapping[str, timedelta] | None = None,
) -> bool:
    """Apply what Twilio's API says about a record as its callback would: forward only, with a `reconciled` event.

    The de-duplication marker is the callback's own (`delivery_key`): if the lost callback turns up
    after all, it is a repeat. Returns whether the record changed; either way `reconciled_at` is noted.
    """
    key = delivery_key(update)
    for _ in range(UPDATE_ATTEMPTS):
        changed = apply(record, update, now)
        if changed is None:  # no news; `updated_at` stays, so the record keeps its last real change
            store.update(record.id, lambda current: replace(current, reconciled_at=iso(now)))
            return False
        changed = replace(changed, reconciled_at=iso(now))
        if suppress:  # the lost callback's failure suppresses the number all the same
            suppress_after(store, record, changed, suppress, now)
        detail = "fetched from Twilio: its status callback did not arrive"
        event = event_entity(record.id, "reconciled", status=update.status, sid=update.sid, detail=detail, now=now)
        try:
            try:
                store.commit(changed, marker_entity(record.id, key), event)
            except RowExists:  # that callback was applied before: keep the details, add no event
                store.commit(changed)
        except StaleRecord:
            current = store.get(record.id)
            if current is None:
                return False
            record = current
            continue
        if record.sid is None:
            store.link_sid(update.sid, record.id)
        log.info("Reconciled %s %s: %s", record.type, update.sid, update.status)
        return True
    raise RecordConflict(f"record {record.id} kept changing under {UPDATE_ATTEMPTS} attempts")


def _orphan(store: RecordStore, update: StatusUpdate, params: Mapping[str, str], now: datetime, key: str) -> str:
    """A callback for a SID we hold no record of: keep it as a record of its own, so nothing is lost."""
    direction = "inbound" if update.direction == "inbound" else "outbound" if update.direction else "unknown"
    record = Record(
        id=update.sid, type=update.kind, direction=direction, status=update.status, created_at=iso(now),
        updated_at=iso(now), to=update.to, from_=update.from_, sid=update.sid,
        reason="status callback for a SID with no record",
    )  # fmt: skip
    rows = (
        marker_entity(update.sid, key),
        event_entity(update.sid, "callback", status=update.status, sid=update.sid, params=params, now=now),
    )
    try:
        stored, created = store.claim(record, *rows)  # new: the record, its event and its marker in one transaction
    except Finalised:
        log.info("Status callback for %s %s, whose record was erased: nothing recorded", update.kind, update.sid)
        return update.sid
    if created:
        log.warning("Status callback for unknown %s %s: recorded as an orphan", update.kind, update.sid)
    elif not store.was_marked(stored.id, key):
        store.update(stored.id, lambda current: apply(current, update, now))
        store.append(*rows)  # False when a parallel delivery got there first: then it has the event
    return stored.id


def record_inbound_call(store: RecordStore, params: Mapping[str, str], now: datetime) -> str | None:
    """Record an inbound call: the record and its `incoming` event in one transaction, then its index rows."""
    sid = params.get("CallSid")
    if not is_call_sid(sid) or sid is None:
        return None
    record = Record(
        id=sid, type="call", direction="inbound", status=params.get("CallStatus") or "ringing", created_at=iso(now),
        updated_at=iso(now), to=params.get("To"), from_=params.get("From"), sid=sid,
    )  # fmt: skip
    try:
        store.claim(record, event_entity(sid, "incoming", status=record.status, sid=sid, params=params, now=now))
    except Finalised:
        log.info("Inbound call %s was erased before: a replay records nothing", sid)
        return None
    return sid


def record_inbound_message(store: RecordStore, params: Mapping[str, str], now: datetime) -> str | None:
    """Record an inbound SMS like a call; a STOP or START also changes the sender's opt-out, once per MessageSid.

    A WhatsApp message (`From` is `whatsapp:+…`) is recorded the same way with channel `whatsapp`:
    indexed under its number, and its STOP or START changes that number's opt-out.
    A new message costs three round trips at most: the record and its event; its index rows with the
    opt-out change beside them; and the marker that says the change was applied, after it.
    """
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not is_message_sid(sid) or sid is None:
        return None
    address, body, to = params.get("From"), params.get("Body") or "", params.get("To")
    record = Record(
        id=sid, type="sms", direction="inbound", status="received", created_at=iso(now), updated_at=iso(now),
        to=to, from_=address, sid=sid, body=body, channel=channel_of(address) or channel_of(to),
    )  # fmt: skip
    # The opt-out is the number's, whatever the channel. An address that is no number (a SIP URI, `messenger:…`)
    # keys nothing: nothing outbound can reach it, and Table Storage refuses `/`, `#`, `?` in a key.
    sender = number_part(address) or ""
    event = event_entity(sid, "incoming", status="received", sid=sid, params=params, now=now)
    keyword = opt_keyword(body, params.get("OptOutType"))
    opted_out = keyword == "stop"

    def change() -> None:
        store.set_opt_out(sender, opted_out, keyword=body.strip().upper()[:32], via=to, now=now, message_sid=sid)

    changes = bool(sender) and keyword in ("stop", "start")
    try:
        # The MessageSid's tombstone (after erasure or retention) is its opt-change marker: a replay applies nothing.
        _, created = store.claim(record, event, also=[change] if changes else [])
    except Finalised:
        log.info("Inbound message %s was erased before: a replay records and changes nothing", sid)
        return None
    if not changes:
        return sid
    if created:  # the first arrival of this MessageSid: nothing applied it before
        store.mark_once(sid, OPT_CHANGE_KEY)
        log.info("%s opted %s", mask(sender), "out" if opted_out else "back in")
    else:
        _apply_opt_change(store, sid, sender, opted_out=opted_out, change=change)
    return sid


def _apply_opt_change(
    store: RecordStore, sid: str, sender: str, *, opted_out: bool, change: Callable[[], None]
) -> None:
    """Apply a STOP or START once per MessageSid: a replayed or retried message changes nothing.

    An inbound SMS webhook carries no timestamp and MessageSids are not ordered, so the order
    is the order of first arrival; remembering which messages were applied is what stops an
    old signed START, replayed after a newer STOP, from opting the number back in. The marker
    is written after the change: a run that stops in between applies it again next time.
    """
    if store.was_marked(sid, OPT_CHANGE_KEY):
        log.info("Opt-%s from %s was already applied (message replayed)", "out" if opted_out else "in", mask(sender))
        return
    change()
    store.mark_once(sid, OPT_CHANGE_KEY)
    log.info("%s opted %s", mask(sender), "out" if opted_out else "back in")


def _int(value: str | None) -> int | None:
    """A whole number Table Storage can hold (Edm.Int32), else None: an odd value must not lose the status."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and -(2**31) <= number < 2**31 else None


__all__ = ["StatusUpdate", "apply", "lc", "record_inbound_call", "record_inbound_message", "record_status_callback"]
