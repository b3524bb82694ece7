"""Pure: the status state machine of a call or message record.

Two kinds of status share one field:
- our own, before Twilio has the request: `pending` (claimed), `sending` (an attempt is in
  flight), `retrying` (a transient failure; the queue will try again), `paced` (waiting on the queue
  for its slot at the sender's pace, switchboard/outbound/pacing.py), `scheduled` (waiting on the queue
  for its `send_at` or for quiet hours to end, switchboard/outbound/schedule.py); and the final ones
  `rejected`, `failed`, `dead_lettered`, `unknown`, `canceled` (DELETE /api/outbound/{id} before the send
  started) and `expired` (its `expires_at` passed before the send started);
- Twilio's, once a SID exists, which only move forward through their lifecycle. A late or
  repeated callback is kept as an event but never moves a record back.
"""

from __future__ import annotations

PENDING = "pending"
SENDING = "sending"
RETRYING = "retrying"
PACED = "paced"
# Ours while no SID exists (Twilio's `scheduled` and `canceled` only ever sit on a record that has a SID).
SCHEDULED = "scheduled"
CANCELED = "canceled"
EXPIRED = "expired"
REJECTED = "rejected"
FAILED = "failed"
DEAD_LETTERED = "dead_lettered"
UNKNOWN = "unknown"

# Our own states while no SID exists; the worker may (re)try only from these.
PRE_SEND = frozenset({PENDING, SENDING, RETRYING, PACED, SCHEDULED})
OWN_FINAL = frozenset({REJECTED, FAILED, DEAD_LETTERED, UNKNOWN, CANCELED, EXPIRED})

CALL_RANK = {
    "queued": 1,
    "initiated": 2,
    "ringing": 3,
    "in-progress": 4,
    "answered": 4,  # the event name some callbacks carry for in-progress
    "completed": 5,
    "busy": 5,
    "no-answer": 5,
    "failed": 5,
    "canceled": 5,
}
MESSAGE_RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 2,
    "sending": 3,
    "sent": 4,
    "receiving": 4,
    "received": 5,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "read": 6,  # a read receipt may follow delivered
}
CALL_TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MESSAGE_TERMINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "read", "received"})
# "sent" is as far as many carriers ever report; the worker is done with it.
WORKER_DONE = OWN_FINAL | CALL_TERMINAL | MESSAGE_TERMINAL | {"sent"}


def ranks(kind: str) -> dict[str, int]:
    return CALL_RANK if kind == "call" else MESSAGE_RANK


def is_twilio_status(kind: str, status: str) -> bool:
    return status in ranks(kind)


def worker_may_send(status: str, sid: str | None) -> bool:
    """Only a record without a SID, still in one of our pre-send states, may be sent."""
    return sid is None and status in PRE_SEND


def advances(kind: str, current: str, new: str, *, linked: bool) -> bool:
    """May a callback reporting `new` replace `current`?

    `linked` is whether the record already carried the callback's SID. An unlinked record is
    in one of our own states (pending/sending/retrying/unknown/dead_lettered): Twilio's
    word that it has the request wins over any of them.
    """
    table = ranks(kind)
    if new not in table:
        return False
    if not linked:
        return current not in (REJECTED, FAILED) or current == new
    if current not in table:
        return True
    if current in ("undelivered", "failed", "canceled", "busy", "no-answer", "completed", "received"):
        return False  # terminal: only "read" may follow "delivered"
    return table[new] > table[current]
