"""Pacing a create: is this attempt's slot now, or must the message wait on the queue for it?

`OUTBOUND_MESSAGES_PER_SECOND` holds per sender (the `from` number, `whatsapp:+…` sender or Messaging
Service), `OUTBOUND_CALLS_PER_SECOND` per account, across every host: the slot is leased from the
shared meter (switchboard/policies/pacing.py, switchboard/adapters/meter.py) just before the create.

A slot that lies ahead is held by the record (`pace_slot`) while the message waits on the queue in
status `paced`; when it comes back it sends in that slot without claiming another one. A held slot
is only good for the attempt it was claimed for: the worker drops it when an attempt starts from any
other status.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from switchboard.outbound.contract import OutboundRequest
from switchboard.policies.pacing import interval_for, meter_key, wait_seconds
from switchboard.records.model import Record, iso, parse_iso
from switchboard.settings import Settings
from switchboard.shared.phones import mask

# The meter port: lease the next slot for (key, interval seconds, now as epoch seconds); None when busy.
Claim = Callable[[str, float, float], "float | None"]
# When other hosts kept winning the meter row, look again this soon (plus jitter): nothing was claimed.
BUSY_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class Wait:
    """Not now: the message goes back on the queue until `due`; `slot` is the leased slot it holds (if any)."""

    due: datetime
    slot: datetime | None
    detail: str


def meter_for(request: OutboundRequest, settings: Settings) -> tuple[str, float, str]:
    """The meter key, the interval between creates, and the pace in words (numbers masked) for this request."""
    if request.type == "call":
        rate = settings.outbound_calls_per_second
        return meter_key("call", settings.account_sid), interval_for(rate), f"{rate:g} call(s) per second per account"
    sender = request.from_ or request.messaging_service_sid or ""
    rate = settings.outbound_messages_per_second
    shown = sender if sender.startswith("MG") else mask(sender)
    return meter_key("message", sender), interval_for(rate), f"{rate:g} message(s) per second from {shown}"


def check(
    request: OutboundRequest,
    record: Record,
    settings: Settings,
    claim: Claim,
    now: datetime,
    *,
    rand: Callable[[], float] = random.random,
) -> Wait | None:
    """None when this attempt may create now; else how long to wait (a slot leased, or the meter busy)."""
    key, interval, pace = meter_for(request, settings)
    held = parse_iso(record.pace_slot) if record.pace_slot else None
    if held is not None:
        slot_at = held  # came back for the slot it holds: no new claim
    else:
        slot = claim(key, interval, now.timestamp())
        if slot is None:
            due = now + timedelta(seconds=BUSY_WAIT_SECONDS * (1 + rand()))
            return Wait(due, None, f"the pace meter was busy ({pace}); it is asked again")
        slot_at = datetime.fromtimestamp(slot, tz=timezone.utc)
    if wait_seconds(slot_at.timestamp(), now.timestamp()) == 0:
        return None
    return Wait(slot_at, slot_at, f"waiting for its slot at {iso(slot_at)} ({pace})")
