"""Pure: is a request due now, must it wait (for its `send_at`, for quiet hours to end), or has it expired?

The worker asks this before every claim of a send, so a request waiting on the queue (status
`scheduled`, see outbound/deferral.py) is judged again each time it comes back: a hop that comes back
before the due time (a wait longer than the queue's 7 days) waits again, and an `expires_at` that has
passed meanwhile ends it `expired`. Nothing here depends on Twilio's own scheduling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switchboard.outbound.contract import OutboundRequest, moment_of
from switchboard.policies.quiet import QuietHours, next_allowed, recipient_zones
from switchboard.records.model import iso


@dataclass(frozen=True)
class Hold:
    """Not yet: it will be tried at `due`; the message comes back at `wake` (`due`, or `expires_at` if sooner)."""

    due: datetime
    wake: datetime
    detail: str


@dataclass(frozen=True)
class Expired:
    reason: str


def decide(request: OutboundRequest, quiet: QuietHours | None, now: datetime) -> Hold | Expired | None:
    """None when the request may be sent now."""
    if request.expires_at is not None and now >= moment_of(request.expires_at):
        return Expired(f"expires_at {request.expires_at} passed before the send started; not sent")
    due, why = now, []
    if request.send_at is not None and moment_of(request.send_at) > now:
        due = moment_of(request.send_at)
        why.append(f"send_at {request.send_at}")
    window = quiet.window(request.type) if quiet is not None and request.quiet_hours is not False else None
    if quiet is not None and window is not None:
        zones = recipient_zones(request.number, quiet.zone)
        allowed = next_allowed(window, zones, due)
        if allowed > due:
            due = allowed
            why.append(f"quiet hours {window} in {', '.join(zones[:3])}{' and more' if len(zones) > 3 else ''}")
    if due <= now:
        return None
    detail = f"scheduled for {iso(due)} ({'; '.join(why)})"
    if request.expires_at is not None and moment_of(request.expires_at) < due:
        # It will expire first: come back then, to end it `expired` at its expires_at.
        return Hold(due, moment_of(request.expires_at), f"{detail}; expires_at {request.expires_at} comes first")
    return Hold(due, due, detail)
