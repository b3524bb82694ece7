"""Pure: when a message that cannot be sent now should come back, and in what form.

A message that must wait (a retry after 429, a sender over its pace, a send scheduled for later)
is put back on the `outbound` queue with a visibility delay, and the current invocation completes.
Nothing sleeps, and the host's dequeue count (its crash safety net, maxDequeueCount) is not spent:
the message put back is a new one, dequeued zero times.

The state the next hop needs (the first attempt's time, the hop count, when it is due and which
queue message carries it) lives in the record, which only the app writes; the message body stays
what the producer sent, with its request id written in so that the next hop finds the same record.

Azure Storage limits one hop to 7 days (the longest visibility timeout); a longer wait takes
several hops (`hop_delay`).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# Azure Storage queues: a visibility timeout is at most 7 days.
MAX_HOP_SECONDS = 7 * 24 * 3600
# A hop is at least a second: the queue counts visibility in whole seconds.
MIN_HOP_SECONDS = 1


@dataclass(frozen=True)
class Budget:
    """The retry budget: exponential backoff from `base` to `cap` seconds, for `hours` since the first attempt."""

    base_seconds: float
    cap_seconds: float
    hours: float

    def deadline(self, first_attempt: datetime) -> datetime:
        return first_attempt + timedelta(hours=self.hours)


def backoff_seconds(hop: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """The wait before retry number `hop + 1`: base·2^hop capped at `cap`, with "equal jitter".

    Half the step is fixed and half random, so waits still grow hop by hop while the messages of
    one storm spread out instead of coming back together.
    """
    step = min(cap, base * 2.0 ** min(max(hop, 0), 60))
    return step / 2 + rand() * step / 2


def next_delay(
    hop: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Whole seconds until the next attempt: the backoff, never shorter than Twilio's Retry-After."""
    delay = backoff_seconds(hop, base=base, cap=cap, rand=rand)
    if retry_after is not None and retry_after > delay:
        delay = retry_after  # Twilio said when; asking sooner only earns another 429
    return clamp(delay)


def plan_retry(
    budget: Budget,
    *,
    first_attempt: datetime,
    hop: int,
    now: datetime,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> int | None:
    """Seconds until the next attempt, or None when the budget is spent (the record is then dead-lettered).

    The last wait is cut to the deadline, so the last attempt happens at it rather than after it.
    """
    remaining = (budget.deadline(first_attempt) - now).total_seconds()
    if remaining <= 0:
        return None
    delay = next_delay(hop, base=budget.base_seconds, cap=budget.cap_seconds, retry_after=retry_after, rand=rand)
    return clamp(min(delay, remaining))


def hop_delay(due: datetime, now: datetime) -> int:
    """Seconds for one hop towards `due` (a scheduled send, a paced slot); 0 when it is due now."""
    seconds = (due - now).total_seconds()
    return 0 if seconds <= 0 else clamp(seconds)


def clamp(seconds: float) -> int:
    """A visibility timeout the queue accepts: whole seconds (rounded up), 1 s to 7 days."""
    if math.isnan(seconds):
        return MIN_HOP_SECONDS
    return int(min(MAX_HOP_SECONDS, max(MIN_HOP_SECONDS, math.ceil(seconds))))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """An HTTP Retry-After header (delay-seconds or an HTTP-date) as seconds from `now`; None if absent or unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), MAX_HOP_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, min(float(MAX_HOP_SECONDS), (when - now).total_seconds()))


def requeue_body(body: bytes | str, record_id: str) -> str:
    """The message to put back: the producer's JSON with its request id written in.

    A message sent without an id took the queue message's id as its record id; the message put back
    has a new queue id, so without this it would claim a second record and be sent twice.
    The id is not part of the content hash, so the record still matches.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("only a JSON object is ever put back")
    if data.get("id") == record_id:
        return text
    return json.dumps({**data, "id": record_id}, separators=(",", ":"), ensure_ascii=False)


def is_stale_copy(
    *, message_id: str, deferred_message_id: str | None, retry_at: datetime | None, now: datetime
) -> bool:
    """Is this queue message an extra copy of a request whose record waits for another message?

    True when the record names a different queue message as the one carrying its next attempt, and
    that attempt is not yet due: e.g. the host redelivered the original after the invocation that put
    it back died before completing. The copy completes without doing anything, so copies never
    multiply hop after hop. Once the attempt is due any copy may try; the record's ETag lets one win.
    """
    if deferred_message_id is None or retry_at is None or message_id == deferred_message_id:
        return False
    return retry_at > now
