"""After a create is answered, act like Twilio: progress the call or message and post signed status callbacks.

Calls: initiated -> ringing -> answered (in-progress) -> the TwiML is walked -> completed (with CallDuration),
or busy / no-answer / failed by the destination's scripted outcome. Messages: queued -> sent -> delivered,
or failed / undelivered with an ErrorCode. Work runs on a small bounded thread pool.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from switchboard.shared.phones import mask_in_text
from tools.emulator.callflow import CallScript
from tools.emulator.outcomes import call_outcome, message_outcome
from tools.emulator.recordings import recording_callback_params
from tools.emulator.resources import API_VERSION, TwilioError, rfc2822, rfc2822_to_datetime
from tools.emulator.rest import TwilioEmulator
from tools.emulator.sendqueue import Later
from tools.emulator.voice import (
    CallParty,
    CallResult,
    Exchange,
    LiveUpdate,
    WalkHooks,
    new_idempotency_token,
    signed_request,
    voice_params,
    walk_call,
)

log = logging.getLogger("tools.emulator")
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
FINAL_CALL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
ORDERS = ("twilio", "reverse", "shuffle")


@dataclass
class CallbackPlan:
    """How status callbacks are delivered, for tests of late, repeated and out-of-order callbacks.

    - `duplicates`: probability (0-1) that a callback is posted a second time.
    - `order`: "twilio" posts each as it happens; "reverse" and "shuffle" hold a resource's callbacks
      back and post them all after its last one, in that order.
    - `retries`: extra tries of a callback that got a connection error, 429 or 5xx (bounded).
    """

    duplicates: float = 0.0
    order: str = "twilio"
    seed: int = 0
    retries: int = 2
    retry_delay: float = 0.2

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}")
        if not 0 <= self.duplicates <= 1:
            raise ValueError("duplicates is a probability between 0 and 1")


@dataclass(frozen=True)
class Callback:
    """One event's webhook. Its `token` (I-Twilio-Idempotency-Token) is the same on every delivery of it."""

    sid: str
    method: str
    url: str
    params: dict[str, str]
    token: str = field(default_factory=new_idempotency_token)


@dataclass
class _Outbox:
    """One resource's callbacks, held back when the plan reorders them."""

    held: list[Callback] = field(default_factory=list)
    sequence: int = 0


class Simulator:
    """Plugs into a TwilioEmulator's create listeners and plays what Twilio would do next."""

    def __init__(
        self,
        emulator: TwilioEmulator,
        *,
        workers: int = 4,
        slow_answer_seconds: float = 2.0,
        plan: CallbackPlan | None = None,
        scripts: dict[str, CallScript] | None = None,
        pace: float = 0.0,
    ) -> None:
        import requests

        if pace < 0:
            raise ValueError("pace is real seconds per simulated second, 0 or more")
        self.pace = pace  # 0: calls play instantly in simulated time; 1: in real time
        self.emulator = emulator
        self.plan = plan or CallbackPlan()
        self.slow_answer_seconds = slow_answer_seconds
        self.scripts = dict(scripts or {})  # by destination number: digits the callee presses, dial outcomes
        self.delivered: list[Callback] = []  # every callback posted (with its duplicates), in posting order
        self.walks: dict[str, CallResult] = {}
        self._lock = threading.Lock()
        self._random = random.Random(self.plan.seed)  # noqa: S311 (repeatable test draws, not secrecy)
        self._stopping = threading.Event()
        self._futures: set[Future[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emulator-progress")
        self._later = Later()  # what waits in a send queue starts when it leaves it
        self._session = requests.Session()
        self._started = 0
        self._baseline = self._created_count()
        emulator.listeners.append(self.on_create)

    def _created_count(self) -> int:
        return len(self.emulator.created("calls")) + len(self.emulator.created("messages"))

    # --- lifecycle ---------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every call and message created so far has finished its callbacks (bounded by `timeout`).

        The emulator hands a create to its listeners just after answering it, so a client can get here first:
        wait for the listener to have seen every create too.
        """
        import concurrent.futures

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = set(self._futures)
                seen_all = self._started >= self._created_count() - self._baseline
            if seen_all and not pending:
                return True
            concurrent.futures.wait(pending, timeout=min(0.05, max(0.0, deadline - time.monotonic())))
        return False

    def close(self) -> None:
        self._stopping.set()
        self._later.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._session.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def callbacks_for(self, sid: str) -> list[Callback]:
        with self._lock:
            return [c for c in self.delivered if c.sid == sid]

    # --- the listener --------------------------------------------------------------------
    def on_create(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        """Play the call or message; one waiting in its send queue stays `queued` until its slot."""
        if self._stopping.is_set():
            return
        send_at = self.emulator.scheduled_at(resource["sid"]) if resource.get("status") == "scheduled" else None
        if send_at is not None:
            # Twilio sends it at SendAt: then it is released (release_scheduled) and comes back here as accepted.
            wait = max(0.0, send_at.timestamp() - self.emulator.clock.timestamp())
            self._later.at(time.time() + wait, self._release)
            with self._lock:
                self._started += 1  # seen: wait_idle does not wait for a send that is hours away
            return
        created = time.time()
        slot = self.emulator.slot_of(resource["sid"])
        if slot is not None and slot > created:
            self._later.at(slot, lambda: self._leave_queue(kind, resource, form, created))
            return
        self._start(kind, resource, form)

    def _release(self) -> None:
        self.emulator.release_scheduled()

    def _leave_queue(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]], created: float) -> None:
        if kind == "calls":  # Twilio's queue_time: the milliseconds the call waited before it was placed
            waited = str(max(0, int((time.time() - created) * 1000)))
            resource = {**resource, "queue_time": waited}
            self.emulator.update_resource("calls", resource["sid"], queue_time=waited)
        self._start(kind, resource, form)

    def _start(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        if self._stopping.is_set():
            return
        work = self.run_call if kind == "calls" else self.run_message
        with self._lock:
            future = self._pool.submit(self._guard, work, resource, form)
            self._futures.add(future)
            self._started += 1
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    @staticmethod
    def _guard(work: Callable[[dict[str, Any], dict[str, list[str]]], None], *args: Any) -> None:
        try:
            work(*args)
        except Exception:
            log.exception("Emulator progress failed")

    # --- calls -----------------------------------------------------------------------------
    def run_call(self, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        sid, to, from_ = resource["sid"], resource["to"], resource["from"]
        clock = self.emulator.clock
        outbox = _Outbox()
        callback = _one(form, "StatusCallback")
        method = (_one(form, "StatusCallbackMethod") or "POST").upper()
        events = _events(form) if callback else set()
        party = CallParty(self.emulator.account_sid, self.emulator.auth_token, sid, from_, to, "outbound-api")

        def emit(event: str, status: str, **extra: str) -> None:
            if callback and event in events:
                params = _call_params(party, status, outbox.sequence, rfc2822(clock.now()) or "") | extra
                outbox.sequence += 1
                self._deliver(outbox, Callback(sid, method, callback, params))

        outcome = call_outcome(to)
        emit("initiated", "initiated")
        if outcome.status == "failed":
            self._finish_call(sid, "failed", 0, None)
            emit("completed", "failed", CallDuration="0")
            return self._flush(outbox)
        if self._ended_by_rest(sid):  # canceled while queued
            emit("completed", self._status(sid), CallDuration="0")
            return self._flush(outbox)
        self.emulator.update_resource("calls", sid, status="ringing")
        emit("ringing", "ringing")
        if outcome.status in ("busy", "no-answer"):
            self._finish_call(sid, outcome.status, 0, None)
            emit("completed", outcome.status, CallDuration="0")
            return self._flush(outbox)
        if outcome.slow and self._ring(sid):
            return None
        if self._ended_by_rest(sid):  # canceled while ringing
            emit("completed", self._status(sid), CallDuration="0")
            return self._flush(outbox)
        started = clock.now()
        self.emulator.update_resource("calls", sid, status="in-progress", start_time=rfc2822(started))
        answered_by = {"AnsweredBy": outcome.answered_by} if _one(form, "MachineDetection") else {}
        if answered_by:
            self.emulator.update_resource("calls", sid, answered_by=outcome.answered_by)
        emit("answered", "in-progress", **answered_by)
        hooks = WalkHooks(
            should_stop=lambda: self._ended_by_rest(sid),
            take_update=lambda: self._take_update(sid),
            play=lambda seconds: self._play(sid, seconds),
            started=started,
        )
        walk = walk_call(
            party, self.scripts.get(to, CallScript()), url=_one(form, "Url"),
            method=_one(form, "Method") or "POST", twiml=_one(form, "Twiml"), session=self._session, hooks=hooks,
            on_recording=lambda rec, seconds: self.emulator.media.add_recording(sid, sid=rec, duration=seconds),
        )  # fmt: skip
        if _one(form, "Url") is None and _one(form, "Twiml") is None:
            walk.transcript.append("[error] no Url or Twiml: ApplicationSid is not emulated")
        with self._lock:
            self.walks[sid] = walk
        duration = max(1, walk.seconds)
        final = self._status(sid)
        status = final if final in FINAL_CALL else walk.status
        duration = self._finish_call(sid, status, duration, started)
        for leg in walk.legs:
            placed = started + datetime.timedelta(seconds=leg.offset)
            self.emulator.add_child_call(sid, leg, leg.caller_id or from_, placed)
        emit("completed", status, CallDuration=str(duration))
        recorded = outbound_recording(self.emulator, sid, form, duration)
        if recorded is not None:
            self._deliver(outbox, recorded)
        return self._flush(outbox)

    def _ring(self, sid: str) -> bool:
        """A slow answer rings for real time (so a REST update can meet a ringing call); True if stopping."""
        deadline = time.monotonic() + self.slow_answer_seconds
        while time.monotonic() < deadline:
            if self._stopping.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                return True
            if self._ended_by_rest(sid):
                return False
        return False

    def _take_update(self, sid: str) -> LiveUpdate | None:
        pending = self.emulator.take_redirect(sid)
        return LiveUpdate(pending.url, pending.method, pending.twiml) if pending else None

    def _play(self, sid: str, seconds: int) -> int:
        """Let `seconds` of call time pass: at once (pace 0), or `pace` real seconds each, cut short by a
        live update or a hang-up. Returns the simulated seconds that passed."""
        if self.pace <= 0 or seconds <= 0:
            return seconds
        began = time.monotonic()
        deadline = began + seconds * self.pace
        while time.monotonic() < deadline:
            if self._stopping.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                break
            if self.emulator.has_redirect(sid) or self._ended_by_rest(sid):
                break
        else:
            return seconds
        return min(seconds, int((time.monotonic() - began) / self.pace))

    def _ended_by_rest(self, sid: str) -> bool:
        return self._stopping.is_set() or self._status(sid) in FINAL_CALL

    def _status(self, sid: str) -> str:
        """The call's status; a call deleted over REST (possible once it has ended) reads as completed."""
        try:
            return str(self.emulator.fetch("calls", sid)["status"])
        except TwilioError:
            return "completed"

    def _finish_call(self, sid: str, status: str, duration: int, started: datetime.datetime | None) -> int:
        """Record the call's end on the emulator's clock (advanced to it); returns the duration reported."""
        clock = self.emulator.clock
        fields: dict[str, Any] = {"status": status, "duration": str(duration)}
        if started is not None:
            ended = started + datetime.timedelta(seconds=duration)
            clock.advance_to(ended)
            fields["end_time"] = rfc2822(ended)
        elif status != "canceled":
            fields["end_time"] = rfc2822(clock.now())
        try:
            current = self.emulator.fetch("calls", sid)
        except TwilioError:
            return duration  # deleted over REST once it had ended: nothing left to update
        ended_at = rfc2822_to_datetime(current.get("end_time"))
        if current["status"] in ("completed", "canceled") and ended_at is not None:
            # Ended by a REST update: its status and end time stand; the duration is what it lasted.
            lasted = int((ended_at - started).total_seconds()) if started is not None else 0
            duration = max(0, lasted)
            fields = {"duration": str(duration)}
        elif current["status"] == "canceled":
            fields = {"duration": "0"}
            duration = 0
        self.emulator.update_resource("calls", sid, **fields)
        return duration

    # --- messages ----------------------------------------------------------------------------
    def run_message(self, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        sid, to = resource["sid"], resource["to"]
        outbox = _Outbox()
        callback = _one(form, "StatusCallback")
        method = (_one(form, "StatusCallbackMethod") or "POST").upper()
        outcome = message_outcome(to)

        def advance(status: str, raw_dlr_done_date: str | None = None, **fields: Any) -> None:
            self.emulator.update_resource("messages", sid, status=status, **fields)
            if not callback:
                return
            params = _message_params(self.emulator.account_sid, resource, status)
            if fields.get("error_code"):
                params["ErrorCode"] = str(fields["error_code"])
            if raw_dlr_done_date:
                params["RawDlrDoneDate"] = raw_dlr_done_date
            self._deliver(outbox, Callback(sid, method, callback, params))

        if resource["status"] == "accepted":
            advance("queued")
        elif callback:  # the create already said queued; Twilio's first callback repeats it
            self._deliver(
                outbox, Callback(sid, method, callback, _message_params(self.emulator.account_sid, resource, "queued"))
            )
        if outcome.status == "failed":
            advance("failed", error_code=outcome.error_code, error_message=outcome.error_message)
            return self._flush(outbox)
        clock = self.emulator.clock
        advance("sent", date_sent=rfc2822(clock.now()))
        # The carrier's delivery receipt: its done date (YYMMDDhhmm, UTC) is passed on as RawDlrDoneDate.
        receipt = clock.now().strftime("%y%m%d%H%M")
        if outcome.status == "undelivered":
            advance("undelivered", error_code=outcome.error_code, error_message=outcome.error_message,
                    raw_dlr_done_date=receipt)  # fmt: skip
        else:
            advance("delivered", raw_dlr_done_date=receipt)
        return self._flush(outbox)

    # --- delivery ------------------------------------------------------------------------------
    def _deliver(self, outbox: _Outbox, callback: Callback) -> None:
        if self.plan.order != "twilio":
            outbox.held.append(callback)
            return
        self._post_with_duplicates(callback)

    def _flush(self, outbox: _Outbox) -> None:
        held, outbox.held = outbox.held, []
        if self.plan.order == "reverse":
            held.reverse()
        elif self.plan.order == "shuffle":
            with self._lock:
                self._random.shuffle(held)
        for callback in held:
            self._post_with_duplicates(callback)

    def _post_with_duplicates(self, callback: Callback) -> None:
        self._post(callback)
        with self._lock:
            again = self.plan.duplicates > 0 and self._random.random() < self.plan.duplicates
        if again:
            self._post(callback)

    def _post(self, callback: Callback) -> None:
        import requests

        with self._lock:
            self.delivered.append(callback)
        token = self.emulator.auth_token
        for attempt in range(self.plan.retries + 1):
            try:
                response = signed_request(
                    self._session, token, callback.method, callback.url, callback.params, timeout=10,
                    idempotency_token=callback.token,
                )  # fmt: skip
                response.close()
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code >= 400:
                        log.warning("Status callback to %s got %s", mask_in_text(callback.url), response.status_code)
                    return
            except requests.RequestException as error:
                log.info("Status callback to %s failed: %s", mask_in_text(callback.url), type(error).__name__)
            if attempt < self.plan.retries and self._stopping.wait(self.plan.retry_delay * (attempt + 1)):
                return
        log.warning("Gave up on a status callback to %s", mask_in_text(callback.url))


def outbound_recording(emulator: TwilioEmulator, sid: str, form: dict[str, list[str]], seconds: int) -> Callback | None:
    """`Record=true` on a create: the call's Recording, and its RecordingStatusCallback if one was asked for."""
    if (_one(form, "Record") or "").lower() != "true":
        return None
    resource = emulator.media.add_recording(sid, duration=seconds, source="OutboundAPI")
    url = _one(form, "RecordingStatusCallback")
    events = {e.lower() for v in form.get("RecordingStatusCallbackEvent", []) for e in v.split()} or {"completed"}
    if not url or "completed" not in events:
        return None
    method = (_one(form, "RecordingStatusCallbackMethod") or "POST").upper()
    params = recording_callback_params(
        emulator.account_sid, sid, resource, emulator.media.recording_url(resource["sid"]), "OutboundAPI"
    )
    return Callback(sid, method, url, params)


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name) or form.get(name + "[]")
    return values[0] if values else None


def _events(form: dict[str, list[str]]) -> set[str]:
    """StatusCallbackEvent, repeated or space-separated; Twilio's default is completed only."""
    values = form.get("StatusCallbackEvent", []) + form.get("StatusCallbackEvent[]", [])
    events = {event.lower() for value in values for event in value.split()}
    return (events & set(CALL_EVENTS)) | {"completed"} if events else {"completed"}


def _call_params(party: CallParty, status: str, sequence: int, timestamp: str) -> dict[str, str]:
    """A call status callback: the voice request's parameters plus Twilio's callback fields."""
    return voice_params(party, status) | {
        "CallbackSource": "call-progress-events", "SequenceNumber": str(sequence), "Timestamp": timestamp,
    }  # fmt: skip


def _message_params(account_sid: str, resource: dict[str, Any], status: str) -> dict[str, str]:
    params = {
        "AccountSid": account_sid, "ApiVersion": API_VERSION, "MessageSid": resource["sid"],
        "MessageStatus": status, "SmsSid": resource["sid"], "SmsStatus": status, "To": resource["to"],
    }  # fmt: skip
    if resource.get("from"):
        params["From"] = resource["from"]
    if resource.get("messaging_service_sid"):
        params["MessagingServiceSid"] = resource["messaging_service_sid"]
    return params


__all__ = ["CallbackPlan", "Exchange", "Simulator"]
