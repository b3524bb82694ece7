"""Pure: the pacing rule. Creates at Twilio are spread over leased time slots, one meter per sender.

Twilio meters an account's calls (1 per second by default) and each sender's messages (a long code
sends 1 segment per second); what arrives faster waits in Twilio's queue, and past that queue's limit
the create is refused (21611, 22005). Switchboard keeps its own pace so that Twilio's queue stays short,
and it must hold across every host that consumes the `outbound` queue. So the pace lives in one shared
row per key (a sender, or the account for calls): `next_free`, the first moment no create has claimed.

A create claims the slot `max(next_free, now)` and moves `next_free` one interval (1 / rate) past it.
Slots are never closer than one interval, so the rate is never exceeded however many hosts claim; and
under a backlog the slots follow each other without a gap, so the rate is reached. A claimed slot that
lies ahead is waited for on the queue (switchboard/outbound/deferral.py), never by sleeping.

The claim itself is an ETag-guarded write of the row (switchboard/adapters/meter.py): of two hosts
that read the same `next_free`, one wins and the other reads again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A slot this close ahead is "now": the queue hides a message for whole seconds only, and a send this
# early still keeps the long-run rate (the next slot is a full interval after this one).
TOLERANCE_SECONDS = 0.05
# Characters Table Storage refuses in a PartitionKey or RowKey.
_KEY_FORBIDDEN = frozenset("/\\#?")


@dataclass(frozen=True)
class Claim:
    """A leased slot: when the create may happen, and what the meter row says next."""

    slot: float  # epoch seconds
    next_free: float


def next_slot(next_free: float | None, now: float, interval: float) -> Claim:
    """The next free slot for a meter whose row says `next_free` (None: no row yet), claimed at `now`.

    An idle meter (its `next_free` in the past) gives `now`: an idle sender is not slowed down, and the
    time it spent idle is not saved up as a burst.
    """
    if not interval > 0 or math.isinf(interval):
        raise ValueError(f"a pacing interval must be a positive number of seconds, not {interval!r}")
    start = now if next_free is None or not next_free > now else next_free
    return Claim(start, start + interval)


def interval_for(rate_per_second: float) -> float:
    """Seconds between two creates at `rate_per_second`."""
    if not rate_per_second > 0 or math.isinf(rate_per_second):
        raise ValueError(f"a rate must be a positive number, not {rate_per_second!r}")
    return 1.0 / rate_per_second


def wait_seconds(slot: float, now: float, tolerance: float = TOLERANCE_SECONDS) -> float:
    """How long to wait for `slot`: 0 when it is now (or past, or within `tolerance` ahead)."""
    ahead = slot - now
    return 0.0 if ahead <= tolerance else ahead


def meter_key(kind: str, sender: str) -> str:
    """The meter's row key: `message:<sender number, whatsapp:+… or Messaging Service SID>` or `call:<account SID>`."""
    if kind not in ("message", "call"):
        raise ValueError(f"no meter for {kind!r}")
    cleaned = "".join("_" if char in _KEY_FORBIDDEN or ord(char) < 32 or ord(char) == 127 else char for char in sender)
    return f"{kind}:{cleaned}"
