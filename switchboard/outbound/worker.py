"""The imperative shell of outbound delivery: claim the request, send it once, record what happened.

Delivery from the queue is at least once and Twilio's create endpoints take no idempotency
key, so the record in Table Storage is the lock:

1. The request id is claimed with an insert that fails if the row exists, straight into `sending`
   (attempts 1, attempt_started_at, the content's hash): of two workers holding the same message,
   only the one whose insert succeeded sends. A retry of an existing record moves it to `sending`
   with an ETag-guarded update before Twilio is called, so again only one worker wins.
   An existing id whose stored content hash differs is an id conflict: never sent, recorded as an
   `id_conflict` event on the existing record, which keeps describing what Twilio was asked.
2. Just before the create, the attempt leases its slot at the sender's pace (outbound/pacing.py); a slot
   ahead puts the message back on the queue until then, the record `paced` (wait_for_slot).
3. Twilio's answer decides: a SID is recorded; a 4xx (not 429) is `failed`; 429, 5xx and
   connection failures are `retrying` and raise, so the host retries after visibilityTimeout.
4. No answer (read timeout, dropped connection): Twilio is asked what it has (same To and
   From, created since the attempt began, same body for SMS, not linked to another record).
   One match is adopted; none is retried; several are `unknown`.
5. A record found in `sending` by a redelivery means a worker died mid-attempt: after
   the same reconciliation it is adopted or marked `unknown`, never sent again.

Round trips: an SMS costs one opt-out read (its number's opt-out and suppression rows together), one insert and
the pace meter's write before the Twilio POST; after it one more, at once: the SID index row, one transaction that
records the SID with the ETag the insert returned together with its `sent` event, and the number and day index rows.
A call skips the opt-out read.

A duplicate call is worse than a missed one: `unknown` is a final status a person can act on,
while a second call to someone's phone cannot be taken back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from switchboard.outbound import caps, pacing, schedule
from switchboard.outbound.contract import RAW_LIMIT, Allowed, OutboundRequest, Rejection, lead_refusal, parse
from switchboard.outbound.deferral import (
    Budget,
    hop_delay,
    is_stale_copy,
    parse_retry_after,
    plan_retry,
    requeue_body,
)
from switchboard.outbound.outcome import Failure, classify
from switchboard.outbound.twilio_params import create_params
from switchboard.policies.destinations import refusal, text_recipients
from switchboard.records import lifecycle as lc
from switchboard.records import store as records_store
from switchboard.records.model import Record, iso, parse_iso
from switchboard.records.outbox import status_event_row
from switchboard.records.store import (
    Finalised,
    RecordStore,
    StaleRecord,
    event_entity,
    fingerprint,
    marker_entity,
    utcnow,
)
from switchboard.records.suppressions import OPTED_OUT, Block, number_block
from switchboard.settings import Settings
from switchboard.shared.phones import channel_of, mask
from switchboard.shared.text import clip

if TYPE_CHECKING:
    from twilio.rest import Client

log = logging.getLogger("switchboard.outbound")
_TEXTING = re.compile(r"<\s*(?:[\w.-]+:)?(?:sms|message)\b", re.IGNORECASE)  # a call's TwiML that may text

# Twilio stamps resources to the second, and clocks differ a little.
RECONCILE_SKEW = timedelta(seconds=15)
RECONCILE_PAGE = 20
MAX_DECISIONS = 4
# Writing what an attempt learnt through a storage outage (keep_outcome): tries, and the first pause (doubling).
OUTCOME_TRIES = 10
OUTCOME_PAUSE_SECONDS = 0.5
# How long a storage blip after an attempt's outcome may last before that outcome is lost (keep_outcome): part of
# the in-flight window, so no other host takes the attempt for interrupted meanwhile. It covers the storage
# SDK's own retries too (a call during an outage returns only after them).
OUTCOME_PATIENCE_SECONDS = 20
T = TypeVar("T")


class TransientSendError(RuntimeError):
    """Raised so that the Functions host retries the message after visibilityTimeout."""


def _no_queue(body: str, delay_seconds: int) -> str:
    raise RuntimeError("this worker has no queue to put a message back on")


UNSUBSCRIBED = "21610"  # Twilio: the recipient texted STOP; later requests are rejected opted_out


@dataclass
class Deps:
    settings: Settings
    store: RecordStore
    client: Callable[[], Client]
    now: Callable[[], datetime] = field(default=utcnow)
    # The port for deferrals: put `body` on the `outbound` queue, invisible for `delay_seconds`
    # (1 s to 7 days); returns the new queue message's id. The shell implements it with the storage adapter.
    requeue: Callable[[str, int], str] = field(default=_no_queue)
    # The Retry-After header of this thread's last Twilio answer (the SDK's exceptions do not carry it).
    retry_after: Callable[[], str | None] = field(default=lambda: None)
    random: Callable[[], float] = field(default=random.random)  # the backoff's jitter
    # The pace meter (switchboard/outbound/pacing.py): lease a slot for (key, interval, epoch now); None: unpaced.
    pace: pacing.Claim | None = None
    limits: caps.Counters | None = None  # the OUTBOUND_LIMITS counters (outbound/caps.py); None: uncapped
    sleep: Callable[[float], None] = field(default=time.sleep)  # keep_outcome's pauses

    @property
    def budget(self) -> Budget:
        settings = self.settings
        return Budget(
            settings.outbound_retry_base_seconds, settings.outbound_retry_max_seconds, settings.outbound_retry_hours
        )

    @property
    def in_flight_window(self) -> timedelta:
        return in_flight_window(self.settings.twilio_timeout_seconds)


def in_flight_window(twilio_timeout_seconds: float) -> timedelta:
    """An attempt younger than this may still be running elsewhere: its create and its reconciliation (each
    within the Twilio client's timeout), then writing down what it learnt through a storage outage (keep_outcome)."""
    return timedelta(seconds=2 * twilio_timeout_seconds + 5 + OUTCOME_PATIENCE_SECONDS)


class Match(NamedTuple):
    """A call or message at Twilio that an attempt may have created."""

    sid: str
    status: str
    queue_time: int | None = None


@dataclass(frozen=True)
class Origin:
    """The queue message being handled: what a deferral puts back, and the id that tells copies apart."""

    message_id: str
    body: bytes


MAX_CONFLICT_EVENTS = 20  # id_conflict events kept on one record; later conflicts are only logged


def content_hash(request: OutboundRequest) -> str:
    """What was asked, as a digest: the same message delivered again has the same one."""
    text = json.dumps(request.summary(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def opted_out_recipient(request: OutboundRequest, store: RecordStore) -> str | None:
    """The number an SMS would text, or a call's inline `<Sms>`/`<Message>` would, that opted out; else None.

    An SMS costs one opt-out read; a call only when its inline TwiML texts someone.
    """
    if request.type == "sms":
        return request.number if store.is_opted_out(request.number) else None
    if request.twiml is None or not _TEXTING.search(request.twiml):
        return None
    return next((n for n in text_recipients(request.twiml, request.number) if store.is_opted_out(n)), None)


def blocked(request: OutboundRequest, store: RecordStore, now: datetime) -> Block | None:
    """Why a request must not reach Twilio: its recipient opted out, or an SMS's number is suppressed (issue 24).

    An SMS reads its number's opt-out and suppression together (switchboard/records/suppressions.py).
    """
    if request.type == "sms":
        return number_block(store, request.number, sms=request.channel == "sms", now=now)
    return Block(OPTED_OUT) if opted_out_recipient(request, store) is not None else None


def handle_message(message_id: str, body: bytes, dequeue_count: int, deps: Deps) -> Record:  # noqa: PLR0911, PLR0912
    """Process one message from the `outbound` queue. Raises TransientSendError to be retried."""
    parsed = _parse(message_id, body, deps)
    if isinstance(parsed, Rejection):
        return reject(parsed, body, message_id, deps)
    request = parsed
    origin = Origin(message_id, body)
    refused = _refusal(request, body, deps)
    if refused is not None:
        return reject(refused, body, message_id, deps)
    store = deps.store
    digest = content_hash(request)
    block = blocked(request, store, deps.now())
    opted_out = block is not None
    capped = None if opted_out else caps.over_limit(request, body, deps)
    if capped is not None:  # over a cap: rejected before any claim, nothing reaches Twilio
        return reject(capped, body, message_id, deps)
    # After the caps: a scheduled request counts when it is taken, so it cannot skip them by waiting.
    held = None if opted_out else hold_first(request, digest, origin, deps)
    if held is not None:
        return held
    if not opted_out:
        # Build the client and its resource (the SDK imports them lazily, ~150 ms cold) before the
        # record says `sending`: a crash meanwhile would leave an attempt that never left as unknown.
        client = deps.client()
        _ = client.calls if request.type == "call" else client.messages
    now = deps.now()
    fresh = Record(
        id=request.id, type=request.type, direction="outbound", status=lc.REJECTED if opted_out else lc.SENDING,
        created_at=iso(now), updated_at=iso(now), to=request.to, from_=request.from_ or request.messaging_service_sid,
        body=request.body, request=json.dumps(request.summary()), queue_message_id=message_id, channel=request.channel,
        attempts=0 if opted_out else 1, attempt_started_at=None if opted_out else iso(now),
        first_attempt_at=None if opted_out else iso(now), reason=block.reason if block else None,
        suppressed_until=block.until if block else None,
        content_hash=digest, fingerprint=None if request.id_given else fingerprint(body, deps.settings.fingerprint_key),
    )  # fmt: skip
    events = [event_entity(request.id, "rejected", status=lc.REJECTED, detail=block.reason, now=now)] if block else []
    if not opted_out:
        # Before the record says `sending`: a crash after that write leaves this line as its only trace.
        log.info("Starting attempt 1 of %s %s", request.type, request.id)
    claimed = store.insert(fresh, *events)
    if claimed is not None:
        if fresh.fingerprint:
            store.remember_fingerprint(fresh.fingerprint, request.id)
        # After the send, with the SID's own writes: a redelivery writes them if this run stops short.
        rows = Alongside(store.index_writes(claimed))
        try:
            if opted_out:
                return claimed
            log.info("Sending %s %s to %s (attempt 1)", request.type, request.id, mask(request.to))
            return attempt_send(request, claimed, deps, origin, rows)
        finally:
            records_store.concurrently(rows.take())  # what the attempt did not send with its SID
    existing = store.get(request.id)
    if existing is None:
        if store.finalised(request.id):
            raise Finalised(request.id)  # erased or past retention: a redelivery sends nothing again
        raise TransientSendError(f"record {request.id} vanished")
    store.index(existing)  # a run cut short before its index rows gets them now
    if conflicts(existing, request, digest):
        return record_conflict(request, existing, digest, message_id, deps)
    if dequeue_count == 1:
        log.info("Request %s was delivered again; its record is %s", request.id, existing.status)
    return deliver(request, deps, origin)


class Alongside:
    """Writes that need not come first (a new record's index rows): sent with the attempt's next round trip
    after the create, or by the caller at the end. `take` hands them out once."""

    def __init__(self, calls: Sequence[Callable[[], object]]) -> None:
        self._calls = list(calls)

    def take(self) -> list[Callable[[], object]]:
        calls, self._calls = self._calls, []
        return calls


def _parse(message_id: str, body: bytes, deps: Deps) -> OutboundRequest | Rejection:
    allowed = Allowed.from_settings(deps.settings)
    return parse(body, default_id=message_id, default_from=deps.settings.phone_number, allowed=allowed)


def conflicts(existing: Record, request: OutboundRequest, digest: str) -> bool:
    """Does the stored record describe a different message than this one under the same id?"""
    if existing.direction != "outbound":
        return True  # an inbound or orphan record (its id is a SID)
    if existing.content_hash:
        return existing.content_hash != digest
    if existing.request:  # a record written before content hashes were stored
        try:
            return bool(json.loads(existing.request) != request.summary())
        except ValueError:
            return False
    return False  # a message that never parsed: its record is final, nothing is sent for it anyway


def record_conflict(request: OutboundRequest, existing: Record, digest: str, message_id: str, deps: Deps) -> Record:
    """Never send it; say so on the existing record (once per content), which is left as it was."""
    now = deps.now()
    detail = (
        f"id_conflict: a {request.type} request with this id and different content (sha256 {digest[:16]}, "
        f"queue message {message_id}) was not sent"
    )
    # Bounded: a producer reusing one id with ever new content must not grow the record's partition without end.
    if deps.store.event_count(existing.id, "id_conflict", MAX_CONFLICT_EVENTS) >= MAX_CONFLICT_EVENTS:
        log.warning("Request id %s reused with different content again: not sent (no more events kept)", request.id)
        return existing
    marker = marker_entity(existing.id, f"id_conflict:{digest}")
    event = event_entity(existing.id, "id_conflict", status=existing.status, detail=clip(detail, 1000), now=now)
    if deps.store.append(marker, event):
        log.warning("Request id %s reused with different content: not sent", request.id)
    return existing


def _refusal(request: OutboundRequest, body: bytes, deps: Deps) -> Rejection | None:
    """A well-formed request refused before any claim: a destination the policy refuses, a send_at too far ahead."""
    refused = refusal(request, deps.settings.outbound_destinations)
    if refused is not None:
        return _refused(request, refused, body)
    too_far = lead_refusal(request, deps.now())
    return None if too_far is None else _refused(request, too_far, body, prefix="")


def _refused(
    request: OutboundRequest, reason: str, body: bytes, *, prefix: str = "destination not allowed: "
) -> Rejection:
    """A well-formed request the destination policy refuses: rejected like a malformed one, before any claim."""
    raw = clip(body.decode("utf-8", errors="replace"), RAW_LIMIT)
    return Rejection(
        request.id, f"{prefix}{reason}", raw, type=request.type, to=request.to,
        from_=request.from_, id_given=request.id_given,
    )  # fmt: skip


def reject(rejection: Rejection, body: bytes, message_id: str, deps: Deps) -> Record:
    now = deps.now()
    kind = rejection.type if rejection.type in ("call", "sms") else "unknown"
    record = Record(
        id=rejection.id, type=kind, direction="outbound", status=lc.REJECTED, created_at=iso(now), updated_at=iso(now),
        to=rejection.to, from_=rejection.from_, reason=rejection.reason, raw=rejection.raw,
        queue_message_id=message_id, channel=channel_of(rejection.to) if kind == "sms" else None,
        fingerprint=None if rejection.id_given else fingerprint(body, deps.settings.fingerprint_key),
    )  # fmt: skip
    stored, created = deps.store.claim(record)
    if created:
        if record.fingerprint:
            deps.store.remember_fingerprint(record.fingerprint, rejection.id)
        deps.store.add_event(rejection.id, "rejected", status=lc.REJECTED, detail=rejection.reason, now=now)
        log.warning("Rejected outbound message %s: %s", rejection.id, rejection.reason)
    return stored


def deliver(request: OutboundRequest, deps: Deps, origin: Origin | None = None) -> Record:
    store = deps.store
    for _ in range(MAX_DECISIONS):
        record = store.get(request.id)
        if record is None:
            if store.finalised(request.id):
                raise Finalised(request.id)  # erased while it waited: nothing is sent
            raise TransientSendError(f"record {request.id} vanished")
        # Sent, or final: nothing to do, ever. Or a copy of a message that waits in another queue message.
        if not lc.worker_may_send(record.status, record.sid) or stale_copy(record, origin, deps.now()):
            return record
        if record.status == lc.SENDING:
            return resume_interrupted(request, record, deps, origin)
        if (block := blocked(request, store, deps.now())) is not None:
            return finish(deps, request.id, lc.REJECTED, reason=block.reason, suppressed_until=block.until,
                          event="rejected")  # fmt: skip
        if record.recheck:
            settled = recheck(request, record, deps, origin)
            if settled is not None:
                return settled
        waiting = hold(request, record, deps, origin)
        if waiting is not None:
            return waiting
        # Build the client and its resource (the SDK imports them lazily, ~150 ms cold) before the
        # record says `sending`: a crash meanwhile would leave an attempt that never left as unknown.
        client = deps.client()
        _ = client.calls if request.type == "call" else client.messages
        started = deps.now()

        def claim_attempt(current: Record, started: datetime = started) -> Record | None:
            if not lc.worker_may_send(current.status, current.sid) or current.status == lc.SENDING:
                return None
            return current.with_changes(
                started, status=lc.SENDING, attempts=current.attempts + 1, attempt_started_at=iso(started),
                first_attempt_at=current.first_attempt_at or iso(started), recheck=None, retry_at=None,
                pace_slot=current.pace_slot if current.status == lc.PACED else None,  # held for this attempt only
            )  # fmt: skip

        log.info("Starting attempt %d of %s %s", record.attempts + 1, request.type, request.id)
        attempt, applied = store.update(request.id, claim_attempt)
        if applied and attempt is not None:
            log.info("Sending %s %s to %s (attempt %d)", request.type, request.id, mask(request.to), attempt.attempts)
            return attempt_send(request, attempt, deps, origin)
    raise TransientSendError(f"record {request.id} kept changing; will try again")


def recheck(request: OutboundRequest, record: Record, deps: Deps, origin: Origin | None) -> Record | None:
    """Before a new attempt after an ambiguous one: ask Twilio again (a slow create may have finished since).

    None when Twilio shows nothing and a new attempt may go ahead.
    """
    matches = reconcile(request, record, deps)
    if matches is None:
        failure = Failure("ambiguous", record.error_message or "no answer from Twilio", record.error_code)
        return retry_later(
            deps, request, record, failure, origin, recheck=True, unverified=True,
            detail="Twilio could not be asked about the last attempt: it is asked again before any new one",
        )  # fmt: skip
    if len(matches) == 1:
        return adopt(deps, request, *matches[0], event="reconciled")
    if matches:
        reason = f"no answer from Twilio and {len(matches)} possible matches"
        return finish(deps, request.id, lc.UNKNOWN, reason=reason, event="unknown")
    return None


def attempt_send(
    request: OutboundRequest, record: Record, deps: Deps, origin: Origin | None = None, rows: Alongside | None = None
) -> Record:
    waiting = keep_outcome(deps, record, lambda: wait_for_slot(request, record, deps, origin))
    if waiting is not None:
        return waiting
    params = create_params(
        request, deps.settings.public_base_url, attempts=record.attempts, key=deps.settings.tag_keys[0]
    )
    try:
        client = deps.client()
        resource = (client.calls if request.type == "call" else client.messages).create(**params)
    except Exception as error:
        failure = classify(error, retry_after=parse_retry_after(deps.retry_after(), deps.now()))
        return handle_failure(request, record, failure, deps, origin)
    return adopt(
        deps, request, str(resource.sid), _status(resource, request.type), _queue_time(resource), event="sent",
        known=record, rows=rows,
    )  # fmt: skip


def keep_outcome(deps: Deps, record: Record, write: Callable[[], T]) -> T:
    """Run `write` (the record change after this attempt's outcome), trying again while storage is unreachable.

    Until it lands the record says `sending`: a redelivery that finds it so after the in-flight window
    takes the attempt for interrupted, and with nothing at Twilio marks it `unknown`, never sent. So a
    short storage outage right after Twilio refused, or a deferral for the attempt's slot, must not lose
    what this attempt knows. Bounded: OUTCOME_TRIES, and only while no other host may yet judge the
    attempt interrupted (its in-flight window, less a margin). Any other error, or the end, raises.
    """
    from switchboard.adapters.storage import unavailable

    started = parse_iso(record.attempt_started_at) if record.attempt_started_at else deps.now()
    deadline = started + deps.in_flight_window - timedelta(seconds=2)
    pause = OUTCOME_PAUSE_SECONDS
    for attempt in range(1, OUTCOME_TRIES + 1):
        try:
            return write()
        except Exception as error:
            if attempt == OUTCOME_TRIES or not unavailable(error) or deps.now() + timedelta(seconds=pause) > deadline:
                raise
            log.warning(
                "Storage unreachable writing %s's outcome (%s); trying again in %g s",
                record.id, type(error).__name__, pause,
            )  # fmt: skip
            deps.sleep(pause)
            pause = min(pause * 2, 4.0)
    raise AssertionError("unreachable")  # the loop returns or raises


def wait_for_slot(request: OutboundRequest, record: Record, deps: Deps, origin: Origin | None) -> Record | None:
    """Pacing: None when this attempt's slot is now; else the record, `paced`, with its message back on the queue.

    The attempt did not happen: the record goes back to what it was before the claim (attempts, and no
    first attempt yet if this was to be the first), no hop is counted and the retry budget is not touched.
    """
    if deps.pace is None or origin is None:
        return None
    wait = pacing.check(request, record, deps.settings, deps.pace, deps.now(), rand=deps.random)
    if wait is None:
        return None
    earlier = record.attempts - 1
    return defer(
        deps, request.id, origin, max(1, hop_delay(wait.due, deps.now())), event="paced", status=lc.PACED, hop=False,
        detail=wait.detail, pace_slot=iso(wait.slot) if wait.slot else None, attempts=earlier, attempt_started_at=None,
        first_attempt_at=record.first_attempt_at if earlier else None,
    )  # fmt: skip


def handle_failure(
    request: OutboundRequest, record: Record, failure: Failure, deps: Deps, origin: Origin | None = None
) -> Record:
    """Decide once what this attempt's failure means (logged once, Twilio asked at most once); write it with
    `keep_outcome`'s patience, which repeats only the writes (and the store's reads they rest on)."""
    if failure.kind == "permanent":
        log.warning("Twilio refused %s %s: %s %s", request.type, request.id, failure.code, failure.message)
        return keep_outcome(deps, record, lambda: refused(request, failure, deps))
    if failure.kind == "transient":
        return keep_outcome(
            deps, record, lambda: retry_later(deps, request, record, failure, origin, detail="Twilio did not take it")
        )
    # Ambiguous: Twilio may have the request (a 5xx may have created it). Ask it before anything else.
    found = twilio_candidates(request, record, deps)
    return keep_outcome(deps, record, lambda: after_ambiguous(request, record, failure, deps, origin, found=found))


def refused(request: OutboundRequest, failure: Failure, deps: Deps) -> Record:
    if request.type == "sms" and str(failure.code) == UNSUBSCRIBED:  # issue 24: Twilio's opt-out is ours too
        deps.store.set_opt_out(
            request.number, True, keyword=UNSUBSCRIBED, via=None, now=deps.now(), source_id=request.id
        )  # its event: `<request id>:optout.added`
    return finish(deps, request.id, lc.FAILED, error_code=failure.code, error_message=failure.message, event="failed")


def after_ambiguous(
    request: OutboundRequest,
    record: Record,
    failure: Failure,
    deps: Deps,
    origin: Origin | None,
    *,
    found: list[Any] | None,
) -> Record:
    """The record change after an ambiguous answer, given what Twilio showed (`found`; None: it could not be asked)."""
    if found is None:
        return retry_later(
            deps, request, record, failure, origin, recheck=True, unverified=True,
            detail="Twilio could not be asked what it has: it is asked again before any new attempt",
        )  # fmt: skip
    matches = unclaimed(request, found, deps)
    if len(matches) == 1:
        return adopt(deps, request, *matches[0], event="reconciled")
    if not matches:
        return retry_later(
            deps, request, record, failure, origin, recheck=True,
            detail="Twilio shows no such request: it is asked again before the next attempt",
        )  # fmt: skip
    return finish(
        deps, request.id, lc.UNKNOWN, reason=f"no answer from Twilio and {len(matches)} possible matches",
        error_message=failure.message, event="unknown",
    )  # fmt: skip


def resume_interrupted(request: OutboundRequest, record: Record, deps: Deps, origin: Origin | None = None) -> Record:
    """A redelivery found the record `sending`: an earlier attempt died, or is still running.

    Still running (inside its in-flight window): look again when the window has passed, through a copy of
    this message put back on the queue for that long, and complete, so the wait spends no dequeue. The
    record is not touched (it is the other attempt's); the copy is an extra carrier like any deferral's.
    """
    started = parse_iso(record.attempt_started_at) if record.attempt_started_at else None
    if started is not None and (left := started + deps.in_flight_window - deps.now()) > timedelta(0):
        if origin is None:
            raise TransientSendError(f"an attempt for {request.id} may still be in flight; will look again later")
        delay = hop_delay(deps.now() + left + timedelta(seconds=1), deps.now())
        deps.requeue(requeue_body(origin.body, request.id), max(1, delay))
        log.info("An attempt for %s may still be in flight; looking again in %d s", request.id, max(1, delay))
        return record
    matches = reconcile(request, record, deps)
    if matches is None:
        raise TransientSendError(f"an attempt for {request.id} was interrupted and Twilio cannot be asked now")
    if len(matches) == 1:
        return adopt(deps, request, *matches[0], event="reconciled")
    reason = (
        "an earlier attempt was interrupted and Twilio shows no matching request; not sent again"
        if not matches
        else f"an earlier attempt was interrupted and Twilio shows {len(matches)} possible matches"
    )
    return finish(deps, request.id, lc.UNKNOWN, reason=reason, event="unknown")


def reconcile(request: OutboundRequest, record: Record, deps: Deps) -> list[Match] | None:
    """Twilio's calls or messages that this attempt may have created; None if Twilio cannot be asked."""
    found = twilio_candidates(request, record, deps)
    return None if found is None else unclaimed(request, found, deps)


def twilio_candidates(request: OutboundRequest, record: Record, deps: Deps) -> list[Any] | None:
    """What Twilio shows that this attempt may have created (created since it started, same body and service);
    None if Twilio cannot be asked. The one question to Twilio; no storage."""
    since = (parse_iso(record.attempt_started_at) if record.attempt_started_at else deps.now()) - RECONCILE_SKEW
    try:
        client = deps.client()
        # One page, newest first: one bounded request. What we look for was created moments ago.
        if request.type == "call":
            found: list[Any] = list(client.calls.page(to=request.to, from_=request.from_, page_size=RECONCILE_PAGE))
        elif request.from_:
            found = list(client.messages.page(to=request.to, from_=request.from_, page_size=RECONCILE_PAGE))
        else:
            found = list(client.messages.page(to=request.to, page_size=RECONCILE_PAGE))
    except Exception as error:
        log.warning("Could not reconcile %s with Twilio: %s", request.id, classify(error).message)
        return None
    candidates = []
    for item in found:
        created = getattr(item, "date_created", None)
        if isinstance(created, datetime) and created < since:
            continue
        # A Content template's body is the rendered template, which only Twilio knows: no body to compare.
        if request.type == "sms" and request.content_sid is None and (item.body or "") != (request.body or ""):
            continue
        if request.messaging_service_sid and getattr(item, "messaging_service_sid", None) not in (
            None,
            request.messaging_service_sid,
        ):
            continue
        candidates.append(item)
    log.info("Reconciled %s with Twilio: %d candidate(s)", request.id, len(candidates))
    return candidates


def unclaimed(request: OutboundRequest, candidates: list[Any], deps: Deps) -> list[Match]:
    """The candidates no other record holds (the store's SID index): this request's possible creates."""
    matches = []
    for item in candidates:
        owner = deps.store.record_id_for_sid(str(item.sid))
        if owner not in (None, request.id):
            continue
        matches.append(Match(str(item.sid), _status(item, request.type), _queue_time(item)))
    return matches


def adopt(
    deps: Deps,
    request: OutboundRequest,
    sid: str,
    status: str,
    queue_time: int | None = None,
    *,
    event: str,
    known: Record | None = None,
    rows: Alongside | None = None,
) -> Record:
    """Record the SID Twilio gave (or reconciliation found). `known` is the record as this worker last wrote it.

    With `known`, the SID's index row, the record's change and `rows` go at once: one round trip.
    """
    store = deps.store
    now = deps.now()

    def link(current: Record) -> Record | None:
        if current.sid not in (None, sid):
            return None
        new_status = status if lc.advances(request.type, current.status, status, linked=current.sid == sid) else None
        return current.with_changes(
            now, sid=sid, status=new_status or current.status, error_code=None, error_message=None, reason=None,
            retry_at=None, queue_time=queue_time if queue_time is not None else current.queue_time,
        )  # fmt: skip

    def linked(owner: str) -> None:
        if owner != request.id:
            log.error("SID %s already belongs to record %s, not %s", sid, owner, request.id)

    changed = link(known) if known is not None and known.etag else None
    if changed is None:
        linked(store.link_sid(sid, request.id))
    else:
        # The ETag the claim returned: no re-read, and the event rides in the same transaction.
        def commit() -> Record | None:
            try:
                outbox = status_event_row(known, changed)  # issue 24: Twilio may answer with a final status
                event_row = event_entity(request.id, event, status=status, sid=sid, now=now)
                return store.commit(changed, event_row, *((outbox,) if outbox else ()))
            except StaleRecord:
                return None  # a status callback got there first: merge with what it wrote, below

        extra = rows.take() if rows is not None else []
        owner, stored, *_ = records_store.concurrently([lambda: store.link_sid(sid, request.id), commit, *extra])
        linked(str(owner))
        if isinstance(stored, Record):
            log.info("%s %s %s as %s (%s)", request.type.upper(), request.id, event, sid, status)
            return stored
    record, _ = store.update(request.id, link)
    store.add_event(request.id, event, status=status, sid=sid, now=now)
    log.info("%s %s %s as %s (%s)", request.type.upper(), request.id, event, sid, status)
    if record is None:
        raise TransientSendError(f"record {request.id} vanished")
    return record


def defer(
    deps: Deps,
    record_id: str,
    origin: Origin,
    delay_seconds: int,
    *,
    event: str,
    detail: str,
    status: str | None = None,
    hop: bool = True,
    **changes: Any,
) -> Record:
    """Put the message back on the queue for `delay_seconds` and say so on the record; the invocation completes.

    The message goes back first, then the record names it (`deferred_message_id`) with when it is due
    (`retry_at`): if the record write fails the invocation raises, the host redelivers the original,
    and the copy already on the queue is still a valid carrier (its due time has passed by then).
    `hop` counts the deferral in `hops`; `status` (default: unchanged) and `changes` go on the record.
    Only a record the worker may still send (no SID, a pre-send status) is deferred.
    """
    now = deps.now()
    message_id = deps.requeue(requeue_body(origin.body, record_id), delay_seconds)
    due = iso(now + timedelta(seconds=delay_seconds))

    def note(current: Record) -> Record | None:
        if not lc.worker_may_send(current.status, current.sid):
            return None
        return current.with_changes(
            now, status=status or current.status, retry_at=due, deferred_message_id=message_id,
            hops=(current.hops or 0) + (1 if hop else 0), **changes,
        )  # fmt: skip

    record, applied = deps.store.update(record_id, note)
    if record is None:
        raise TransientSendError(f"record {record_id} vanished")
    if applied:
        deps.store.add_event(record_id, event, status=record.status, detail=clip(detail, 1000), now=now)
        log.info("%s %s back on the queue for %d s (%s)", record.type.upper(), record_id, delay_seconds, event)
    return record


def stale_copy(record: Record, origin: Origin | None, now: datetime) -> bool:
    """Is `origin` an extra copy of a message whose record waits for another queue message? (see deferral)"""
    if origin is None:
        return False
    retry_at = parse_iso(record.retry_at) if record.retry_at else None
    return is_stale_copy(
        message_id=origin.message_id, deferred_message_id=record.deferred_message_id, retry_at=retry_at, now=now
    )


def finish(deps: Deps, record_id: str, status: str, *, event: str, **changes: Any) -> Record:
    now = deps.now()

    def settle(current: Record) -> Record | None:
        if current.sid is not None or current.status in lc.OWN_FINAL:
            return None
        return current.with_changes(now, status=status, **changes)

    record, applied = deps.store.update(record_id, settle)
    if applied:
        detail = changes.get("reason") or changes.get("error_message")
        deps.store.add_event(record_id, event, status=status, detail=detail, now=now)
    if record is None:
        raise TransientSendError(f"record {record_id} vanished")
    return record


def retry_later(
    deps: Deps,
    request: OutboundRequest,
    record: Record,
    failure: Failure,
    origin: Origin | None,
    *,
    detail: str,
    recheck: bool = False,
    unverified: bool = False,
) -> Record:
    """Put the message back on the queue for the next backoff delay; when the budget is spent, give up.

    The budget counts from the first attempt (on the record, not in the message); Retry-After, when
    Twilio sent one, is the shortest wait. Giving up is `dead_lettered` with the last error, or
    `unknown` when Twilio may have the request and could not be asked (`unverified`).
    """
    now = deps.now()
    first = parse_iso(record.first_attempt_at or record.attempt_started_at or record.created_at)
    budget = deps.budget
    delay = plan_retry(
        budget, first_attempt=first, hop=record.hops or 0, now=now, retry_after=failure.retry_after, rand=deps.random
    )
    what = describe(failure)
    if delay is None:
        status, event = (lc.UNKNOWN, "unknown") if unverified else (lc.DEAD_LETTERED, "dead_lettered")
        reason = (
            f"retry budget spent ({budget.hours:g} h since the first attempt, {record.attempts} attempt(s)); "
            f"last error: {what}"
        )
        log.warning("Outbound request %s %s: %s", request.id, status, reason)
        return finish(
            deps, request.id, status, event=event, reason=clip(reason, 1000), error_code=failure.code,
            error_message=failure.message,
        )  # fmt: skip
    if origin is None:  # no queue message to put back (a direct call): the host's redelivery retries
        _record_error(deps, request.id, failure, status=lc.RETRYING, detail=detail, recheck=recheck)
        raise TransientSendError(f"{what}: {detail}")
    log.info("%s %s: %s; %s; next attempt in %d s", request.type.upper(), request.id, what, detail, delay)
    return defer(
        deps, request.id, origin, delay, event="retry_scheduled", status=lc.RETRYING,
        detail=f"{what}; {detail}; next attempt in {delay} s", error_code=failure.code,
        error_message=failure.message, recheck=recheck or None,
    )  # fmt: skip


def describe(failure: Failure) -> str:
    """A failure in one line: what Twilio said (status, code) or what went wrong on the way."""
    parts = [failure.message]
    if failure.status is not None:
        parts.append(f"HTTP {failure.status}")
    if failure.code is not None:
        parts.append(f"code {failure.code}")
    if failure.retry_after is not None:
        parts.append(f"Retry-After {failure.retry_after:g} s")
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def _record_error(
    deps: Deps, record_id: str, failure: Failure, *, status: str, detail: str | None = None, recheck: bool = False
) -> None:
    now = deps.now()

    def note(current: Record) -> Record | None:
        if current.sid is not None or current.status != lc.SENDING:
            return None
        return current.with_changes(
            now, status=status, error_code=failure.code, error_message=failure.message, recheck=recheck or None
        )

    _, applied = deps.store.update(record_id, note)
    if applied:
        deps.store.add_event(record_id, "attempt_failed", status=status, detail=detail or failure.message, now=now)


def _queue_time(resource: Any) -> int | None:
    """Twilio's `queue_time` of a call (milliseconds it waited in Twilio's queue before it was placed)."""
    value = getattr(resource, "queue_time", None)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _status(resource: Any, kind: str) -> str:
    value = getattr(resource, "status", None)
    text = str(getattr(value, "value", value) or "")
    return text if lc.is_twilio_status(kind, text) else ("queued" if kind == "call" else "accepted")


# -- the poison queue --------------------------------------------------------------------------------


def handle_poison(message_id: str, body: bytes, deps: Deps) -> Record:
    """A message that failed maxDequeueCount times: give its record a final status, or create one."""
    parsed = _parse(message_id, body, deps)
    record_id = (
        parsed.id
        if parsed.id_given
        else deps.store.record_id_for_fingerprint(fingerprint(body, deps.settings.fingerprint_key))
    )
    now = deps.now()
    existing = deps.store.get(record_id) if record_id is not None else None
    if record_id is None or existing is None:
        return _poison_without_record(parsed, record_id or message_id, body, message_id, deps)
    if isinstance(parsed, OutboundRequest) and conflicts(existing, parsed, content_hash(parsed)):
        # Not the message this record was claimed with (a forged or reused id): it buries nothing.
        return record_conflict(parsed, existing, content_hash(parsed), message_id, deps)
    if isinstance(parsed, Rejection) and (existing.content_hash or existing.request):
        # A message that does not parse is not the one that made a record of a parsed request.
        log.warning("Poison message %s names request %s but is not its message: ignored", message_id, record_id)
        return existing

    def bury(current: Record) -> Record | None:
        if current.sid is not None or current.status in lc.WORKER_DONE:
            return None
        if current.status == lc.SENDING:
            # The last attempt's outcome is not known: Twilio may have it. Do not claim it was not sent.
            reason = "dead-lettered while the last attempt's outcome was unknown"
            return current.with_changes(now, status=lc.UNKNOWN, reason=reason)
        reason = f"dead-lettered after {current.attempts} attempt(s)"
        if current.error_message:
            reason += f"; last error: {current.error_message}"
        return current.with_changes(now, status=lc.DEAD_LETTERED, reason=clip(reason, 1000))

    record, applied = deps.store.update(record_id, bury)
    if record is None:
        raise TransientSendError(f"record {record_id} vanished")
    if applied:
        deps.store.add_event(record_id, "dead_lettered", status=record.status, detail=record.reason, now=now)
        log.warning("Outbound request %s dead-lettered: %s", record_id, record.reason)
    return record


def _poison_without_record(
    parsed: OutboundRequest | Rejection, record_id: str, body: bytes, message_id: str, deps: Deps
) -> Record:
    now = deps.now()
    if isinstance(parsed, Rejection):
        status, reason, raw = lc.REJECTED, f"dead-lettered, never processed: {parsed.reason}", parsed.raw
        kind, to, sender = parsed.type if parsed.type in ("call", "sms") else "unknown", parsed.to, parsed.from_
    else:
        status, reason = lc.DEAD_LETTERED, "dead-lettered before any attempt was recorded"
        kind, to, sender = parsed.type, parsed.to, parsed.from_
        raw = clip(body.decode("utf-8", errors="replace"), 2000)
    record = Record(
        id=record_id, type=kind, direction="outbound", status=status, created_at=iso(now), updated_at=iso(now),
        to=to, from_=sender, reason=reason, raw=raw, queue_message_id=message_id,
    )  # fmt: skip
    stored, created = deps.store.claim(record)
    if created:
        deps.store.add_event(record_id, "dead_lettered", status=status, detail=reason, now=now)
        log.warning("Dead-lettered outbound message %s had no record: %s", record_id, reason)
    return stored


# -- scheduling: send_at, quiet hours, expires_at (outbound/schedule.py) -----------------------------


def hold_first(request: OutboundRequest, digest: str, origin: Origin, deps: Deps) -> Record | None:
    """First delivery of a request that is not due yet (or expired): its record starts `scheduled` (or `expired`).

    None when it is due now, or when its record exists already (a redelivery): the usual claim goes ahead.
    """
    now = deps.now()
    decision = schedule.decide(request, deps.settings.outbound_quiet_hours, now)
    if decision is None:
        return None
    if isinstance(decision, schedule.Expired):
        status, reason, scheduled_for = lc.EXPIRED, decision.reason, None
    else:
        status, reason, scheduled_for = lc.SCHEDULED, None, iso(decision.due)
    fresh = Record(
        id=request.id, type=request.type, direction="outbound", status=status, created_at=iso(now),
        updated_at=iso(now), to=request.to, from_=request.from_ or request.messaging_service_sid, body=request.body,
        request=json.dumps(request.summary()), queue_message_id=origin.message_id, channel=request.channel,
        reason=reason, content_hash=digest, scheduled_for=scheduled_for,
        fingerprint=None if request.id_given else fingerprint(origin.body, deps.settings.fingerprint_key),
    )  # fmt: skip
    claimed = deps.store.insert(fresh)
    if claimed is None:
        return None
    if fresh.fingerprint:
        deps.store.remember_fingerprint(fresh.fingerprint, request.id)
    try:
        if isinstance(decision, schedule.Expired):
            deps.store.add_event(request.id, "expired", status=lc.EXPIRED, detail=decision.reason, now=now)
            log.info("%s %s expired before it was sent", request.type.upper(), request.id)
            return claimed
        return _wait(deps, request.id, origin, decision)
    finally:
        deps.store.index(claimed)


def hold(request: OutboundRequest, record: Record, deps: Deps, origin: Origin | None) -> Record | None:
    """Right before a claim: None when the request is due; else it waits on the queue again, or ends `expired`."""
    decision = schedule.decide(request, deps.settings.outbound_quiet_hours, deps.now())
    if decision is None:
        return None
    if isinstance(decision, schedule.Expired):
        log.info("%s %s expired before it was sent", request.type.upper(), request.id)
        return finish(deps, request.id, lc.EXPIRED, reason=decision.reason, event="expired")
    if origin is None:  # no queue message to put back (a direct call): the host's redelivery looks again
        raise TransientSendError(f"{request.id} is {decision.detail}")
    waiting = _wait(deps, request.id, origin, decision)
    if record.status != lc.SCHEDULED and waiting.status == lc.SCHEDULED:
        deps.store.index(waiting)  # newly scheduled (a retry in quiet hours): its scheduled index row, for the page
    return waiting


def _wait(deps: Deps, record_id: str, origin: Origin, decision: schedule.Hold) -> Record:
    """Back on the queue until it is due (7 days at most a hop), the record `scheduled`; no retry hop counted."""
    delay = max(1, hop_delay(decision.wake, deps.now()))
    return defer(
        deps, record_id, origin, delay, event="scheduled", status=lc.SCHEDULED, hop=False, detail=decision.detail,
        scheduled_for=iso(decision.due),
    )  # fmt: skip
