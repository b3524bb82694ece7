"""Suppression by error code (issue 24): a delivery failure that means the number cannot take SMS stops SMS to it.

A status callback whose `ErrorCode` is in SUPPRESS_ON_ERRORS (switchboard/policies/suppression.py) writes
one row beside the number's opt-out, in the opt-outs table:

| entity      | PartitionKey | RowKey        |
|-------------|--------------|---------------|
| opt-out     | `<E.164>`    | `optout`      |
| suppression | `<E.164>`    | `suppression` |

So the worker reads both with one query of the number's partition (`number_block`), and erasure, which knows
the number, deletes the suppression with a point delete. Only SMS is suppressed: a call, or a WhatsApp
message, to the number goes ahead. A suppression lapses by itself (`until`), and the next SMS to the number
deletes the lapsed row; a later failure can only extend a suppression, never shorten it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from switchboard.policies.suppression import is_suppressed, suppressed_until
from switchboard.records.model import Record, iso, parse_iso
from switchboard.records.store import RecordStore
from switchboard.shared.phones import mask, number_part

log = logging.getLogger("switchboard.records")

SUPPRESSION_ROW = "suppression"
OPTOUT_ROW = "optout"
OPTED_OUT = "opted_out"
FAILED = ("undelivered", "failed")


class Block(NamedTuple):
    """Why a request is `rejected` before Twilio: `opted_out`, or `suppressed:<code>` until a moment (ISO)."""

    reason: str
    until: str | None = None


def suppression_entity(number: str, code: str, until: datetime, now: datetime, record_id: str) -> dict[str, Any]:
    return {
        "PartitionKey": number, "RowKey": SUPPRESSION_ROW, "code": code, "until": iso(until), "at": iso(now),
        "record_id": record_id,
    }  # fmt: skip


def suppress_after(
    store: RecordStore, before: Record, after: Record, rules: Mapping[str, timedelta], now: datetime
) -> datetime | None:
    """Suppress the number of an outbound SMS whose status callback just reported a failure with a listed code.

    Called only for a change the callback really made (a repeat changes nothing), so a replayed callback does
    not stretch the suppression. Returns when the suppression lapses, or None when this change suppresses nothing.
    """
    if not rules or after.type != "sms" or after.direction != "outbound" or (after.channel or "sms") != "sms":
        return None
    if after.status not in FAILED or (after.status, after.error_code) == (before.status, before.error_code):
        return None
    number = number_part(after.to)
    until = suppressed_until(dict(rules), after.error_code, now)
    if number is None or until is None:
        return None
    current = _rows(store, number).get(SUPPRESSION_ROW)
    if current and current.get("until") and parse_iso(str(current["until"])) >= until:
        return parse_iso(str(current["until"]))  # an earlier, longer suppression stands
    from azure.data.tables import UpdateMode

    entity = suppression_entity(number, str(after.error_code), until, now, after.id)
    store.optouts.upsert_entity(entity, mode=UpdateMode.REPLACE, **store.options)
    log.info("SMS to %s suppressed until %s (error %s)", mask(number), iso(until), after.error_code)
    return until


def number_block(store: RecordStore, number: str, *, sms: bool, now: datetime) -> Block | None:
    """One read of the number's opt-out partition: opted out, or (`sms`: an SMS, not WhatsApp) suppressed now."""
    rows = _rows(store, number)
    if (rows.get(OPTOUT_ROW) or {}).get("opted_out"):
        return Block(OPTED_OUT)
    row = rows.get(SUPPRESSION_ROW)
    if sms and row and row.get("until"):
        until = parse_iso(str(row["until"]))
        if is_suppressed(until, now):
            return Block(f"suppressed:{row.get('code')}", iso(until))
        _drop_lapsed(store, row)
    return None


def _drop_lapsed(store: RecordStore, row: Mapping[str, Any]) -> None:
    """A lapsed suppression names a number for nothing: the next SMS to it deletes the row (best effort, and only
    the row it read: a newer failure's suppression, written meanwhile, stays)."""
    from azure.core import MatchConditions

    try:
        store.optouts.delete_entity(entity=row, match_condition=MatchConditions.IfNotModified, **store.options)
    except Exception as error:  # gone already, changed since, or storage trouble: the send goes ahead regardless
        log.info("A lapsed suppression was not deleted: %s", type(error).__name__)


def forget_suppression(store: RecordStore, number: str) -> int:
    """Erasure: delete the number's suppression; 1 if there was one."""
    from azure.core.exceptions import ResourceNotFoundError

    if SUPPRESSION_ROW not in _rows(store, number):
        return 0
    try:
        store.optouts.delete_entity(number, SUPPRESSION_ROW, **store.options)
    except ResourceNotFoundError:
        return 0
    return 1


def _rows(store: RecordStore, number: str) -> dict[str, Mapping[str, Any]]:
    """The number's rows in the opt-outs table (at most an opt-out and a suppression), by RowKey."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        found = store.optouts.query_entities("PartitionKey eq @pk", parameters={"pk": number}, **store.options)
        return {str(entity["RowKey"]): entity for entity in found}
    except ResourceNotFoundError:
        return {}
