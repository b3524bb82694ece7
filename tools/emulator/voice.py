"""The call walker: fetch TwiML like Twilio (signed, with Twilio's voice parameters), follow it, bounded.

The interpretation of each document is pure (`tools.emulator.callflow`); this module does the HTTP.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from switchboard.shared.phones import mask_in_text
from switchboard.webhooks.signature import SIGNATURE_HEADER, sign
from tools.emulator.callflow import (
    MAX_TWIML_BYTES,
    RECORDINGS,
    CallScript,
    DialLeg,
    Request,
    TwimlError,
    interpret,
    parse,
)
from tools.emulator.resources import API_VERSION

log = logging.getLogger("tools.emulator")
MAX_DOCUMENTS = 50  # a Redirect or Gather loop ends here instead of spinning forever
FETCH_TIMEOUT = 15.0  # Twilio waits 15 s for a TwiML answer
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
LOCATION_FIELDS = ("City", "State", "Zip", "Country")


@dataclass(frozen=True)
class LiveUpdate:
    """TwiML a REST update gave a call in progress: inline (`twiml`) or fetched from `url` with `method`."""

    url: str | None
    method: str = "POST"
    twiml: str | None = None


@dataclass(frozen=True)
class WalkHooks:
    """How a walk meets the world outside its documents (all optional; the defaults play instantly).

    - `should_stop()`: the call was ended (a REST update, or the emulator stopping).
    - `take_update()`: a pending live update (new TwiML), taken once.
    - `play(seconds)`: let `seconds` of simulated call time pass; returns the seconds actually played,
      fewer when an update or a hang-up cut them short.
    - `started`: the moment the walk began (the call's start_time), for RecordingStartTime.
    """

    should_stop: Callable[[], bool] | None = None
    take_update: Callable[[], LiveUpdate | None] | None = None
    play: Callable[[int], int] | None = None
    started: datetime.datetime | None = None


@dataclass(frozen=True)
class CallParty:
    """Who the call is between, and as whom Twilio signs."""

    account_sid: str
    auth_token: str = field(repr=False)
    call_sid: str
    from_: str
    to: str
    direction: str = "outbound-api"  # or "inbound"


@dataclass
class Exchange:
    """One HTTP request the emulator made, for transcripts and tests."""

    method: str
    url: str
    params: dict[str, str]
    status: int | None
    body: str = ""


@dataclass
class CallResult:
    transcript: list[str] = field(default_factory=list)
    status: str = "completed"  # the call's final status
    seconds: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)  # Twilio error codes met on the way (11200, 12100, ...)
    legs: list[DialLeg] = field(default_factory=list)  # calls <Dial> placed; offset: seconds into the call


def voice_params(party: CallParty, call_status: str) -> dict[str, str]:
    """Twilio's parameters on every voice request and call status callback (its webhook documentation)."""
    params = {
        "AccountSid": party.account_sid, "ApiVersion": API_VERSION, "CallSid": party.call_sid,
        "CallStatus": call_status, "CallToken": call_token(party.call_sid), "Called": party.to,
        "Caller": party.from_, "Direction": party.direction, "From": party.from_, "To": party.to,
    }  # fmt: skip
    for side, number in (("From", party.from_), ("To", party.to)):
        for name, value in zip(LOCATION_FIELDS, number_location(number), strict=True):
            params[side + name] = value
    for side, number in (("Caller", party.from_), ("Called", party.to)):
        for name, value in zip(LOCATION_FIELDS, number_location(number), strict=True):
            params[side + name] = value
    return params


def call_token(call_sid: str) -> str:
    """Twilio's CallToken (used to forward the call): an opaque string, stable for the call."""
    import hashlib

    return hashlib.sha256(b"call-token:" + call_sid.encode()).hexdigest()


def number_location(number: str) -> tuple[str, str, str, str]:
    """(City, State, Zip, Country) for a number as Twilio reports them: the country from the number's
    prefix; the rest empty, as Twilio sends them when its carrier data has no answer (always, here)."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "", "", "", ""
    # A number in no region's plan (the fictional 555-01xx) still has its calling code's main country.
    region = phonenumbers.region_code_for_number(parsed)
    region = region or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "", "", "", "" if region == "ZZ" else region


def signed_request(
    session: Any,
    token: str,
    method: str,
    url: str,
    params: dict[str, str],
    *,
    timeout: float = FETCH_TIMEOUT,
    idempotency_token: str | None = None,
) -> Any:
    """Send a request signed exactly as Twilio signs it: GET signs the full URL, POST the URL plus the form.

    The signature is computed over the URL as it goes on the wire (the HTTP client percent-encodes
    non-ASCII characters, `|`, spaces, ...), which is the URL the receiving app sees and validates.
    Every request carries `I-Twilio-Idempotency-Token`: pass the same token when retrying one event.
    """
    import requests

    headers = {
        "User-Agent": "TwilioProxy/1.1 (switchboard emulator)",
        "Accept": "*/*",
        IDEMPOTENCY_HEADER: idempotency_token or new_idempotency_token(),
    }
    if method == "GET":
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        full = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        prepared = session.prepare_request(requests.Request("GET", full, headers=headers))
        prepared.headers[SIGNATURE_HEADER] = sign(token, prepared.url, {})
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        prepared = session.prepare_request(requests.Request("POST", url, data=params, headers=headers))
        prepared.headers[SIGNATURE_HEADER] = sign(token, prepared.url, params)
    return session.send(prepared, timeout=timeout, allow_redirects=False, stream=True)


def new_idempotency_token() -> str:
    """Twilio's token names one delivery attempt chain of one event: same event retried, same token."""
    return secrets.token_hex(16) + "-" + secrets.token_hex(8)


def read_capped(response: Any, cap: int = MAX_TWIML_BYTES) -> bytes:
    data = b""
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) > cap:
            break
    response.close()
    return data


def walk_call(  # noqa: PLR0911 (one exit per way a call ends)
    party: CallParty,
    script: CallScript,
    *,
    url: str | None = None,
    method: str = "POST",
    twiml: str | None = None,
    first_status: str = "in-progress",
    session: Any = None,
    max_documents: int = MAX_DOCUMENTS,
    should_stop: Callable[[], bool] | None = None,
    on_recording: Callable[[str, int], object] | None = None,
    hooks: WalkHooks | None = None,
) -> CallResult:
    """Play a call from its first document to its end, as Twilio would, and return the transcript.

    `on_recording(sid, seconds)` runs for each `<Record>` that recorded something, before its callbacks
    are posted (the emulator's Recordings resource exists by the time the app hears of it).
    """
    import requests

    hooks = hooks or WalkHooks(should_stop=should_stop)
    session = session or requests.Session()
    if script.recording_base is None:
        script = replace(script, recording_base=RECORDINGS.format(account=party.account_sid))
    result = CallResult()
    current: Request | None = None if twiml is not None else Request(url or "", method.upper())
    document: bytes | None = twiml.encode("utf-8") if twiml is not None else None
    document_url: str | None = None
    call_status = first_status
    digits_used = 0
    interrupted = False
    for _ in range(max_documents):
        if hooks.should_stop and hooks.should_stop():
            result.transcript.append("[call ended by a REST update]")
            return result
        update = hooks.take_update() if hooks.take_update else None
        if interrupted and update is None:
            return result
        interrupted = False
        if update is not None:
            result.transcript.append(f"[updated by REST: {'new TwiML' if update.twiml is not None else update.url}]")
            current = Request(update.url, update.method) if update.twiml is None and update.url else None
            document = update.twiml.encode("utf-8") if update.twiml is not None else document
            document_url = None if update.twiml is not None else document_url
        if current is not None:
            document = _fetch(session, party, current, call_status, result)
            document_url = current.url
            if document is None:
                return result
        call_status = "in-progress"  # only an inbound call's first request says "ringing"
        started = hooks.started + datetime.timedelta(seconds=result.seconds) if hooks.started else None
        try:
            turn = interpret(parse(document or b""), document_url, script, digits_offset=digits_used, started=started)
        except TwimlError as error:
            result.errors.append(error.code)
            result.transcript.append(f"[error {error.code}] {error}: Twilio says 'an application error has occurred'")
            return result
        digits_used += turn.digits_used
        result.transcript.extend(turn.transcript)
        result.legs.extend(replace(leg, offset=result.seconds + leg.offset) for leg in turn.legs)
        played = hooks.play(turn.seconds) if hooks.play else turn.seconds
        result.seconds += played
        _announce_recording(turn, on_recording)
        for callback in turn.callbacks:
            _post_callback(session, party, callback, result, call_status)
        if played < turn.seconds:  # cut short by a live update or a hang-up: the top of the loop sees which
            current, interrupted = None, True
            continue
        if turn.ended_by == "reject":
            result.status = "busy" if turn.reject_reason == "busy" else "no-answer"
            return result
        if turn.next is None:
            return result
        current = turn.next
    result.transcript.append(f"[error] {max_documents} documents without an end: Twilio hangs up")
    return result


def _announce_recording(turn: Any, on_recording: Callable[[str, int], object] | None) -> None:
    recording = _recording_of(turn) if on_recording is not None else None
    if on_recording is not None and recording is not None:
        on_recording(*recording)


def _recording_of(turn: Any) -> tuple[str, int] | None:
    """(RecordingSid, seconds) when this document recorded something."""
    if turn.ended_by != "record":
        return None
    requests_made = [*turn.callbacks, *([turn.next] if turn.next is not None else [])]
    for request in requests_made:
        params = dict(request.params)
        url = params.get("RecordingUrl")
        if url:
            seconds = params.get("RecordingDuration", "0")
            return url.rstrip("/").rsplit("/", 1)[-1], int(seconds) if seconds.isdigit() else 0
    return None


def _fetch(session: Any, party: CallParty, request: Request, call_status: str, result: CallResult) -> bytes | None:
    import requests

    params = voice_params(party, call_status) | dict(request.params)
    exchange = Exchange(request.method, request.url, params, None)
    result.exchanges.append(exchange)
    try:
        response = signed_request(session, party.auth_token, request.method, request.url, params)
    except requests.RequestException as error:
        result.errors.append(11200)
        result.transcript.append(f"[error 11200] HTTP retrieval failure: {type(error).__name__}")
        return None
    exchange.status = response.status_code
    body = read_capped(response)
    exchange.body = body.decode("utf-8", "replace")
    if response.status_code != 200:
        result.errors.append(11200)
        result.transcript.append(f"[error 11200] HTTP retrieval failure: {response.status_code} from {request.url}")
        log.info("TwiML fetch got %s from %s", response.status_code, mask_in_text(request.url))
        return None
    return body


def _post_callback(session: Any, party: CallParty, callback: Request, result: CallResult, call_status: str) -> None:
    import requests

    params = {"AccountSid": party.account_sid, "CallSid": party.call_sid} | dict(callback.params)
    if "TranscriptionSid" in params:  # transcribeCallback carries the call's own parameters too
        params |= {"From": party.from_, "To": party.to, "CallStatus": call_status, "ApiVersion": API_VERSION,
                   "Direction": party.direction}  # fmt: skip
    exchange = Exchange(callback.method, callback.url, params, None)
    result.exchanges.append(exchange)
    try:
        response = signed_request(session, party.auth_token, callback.method, callback.url, params)
        exchange.status = response.status_code
        response.close()
    except requests.RequestException as error:
        log.info("Callback to %s failed: %s", mask_in_text(callback.url), type(error).__name__)
