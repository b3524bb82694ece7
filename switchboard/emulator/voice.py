"""The call walker: fetch TwiML like Twilio (signed, with Twilio's voice parameters), follow it, bounded.

The interpretation of each document is pure (`switchboard.emulator.callflow`); this module does the HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from switchboard.emulator.callflow import MAX_TWIML_BYTES, RECORDINGS, CallScript, Request, TwimlError, interpret, parse
from switchboard.emulator.resources import API_VERSION
from switchboard.phones import mask_in_text
from switchboard.webhooks.signature import SIGNATURE_HEADER, sign

log = logging.getLogger("switchboard.emulator")
MAX_DOCUMENTS = 50  # a Redirect or Gather loop ends here instead of spinning forever
FETCH_TIMEOUT = 15.0  # Twilio waits 15 s for a TwiML answer


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


def voice_params(party: CallParty, call_status: str) -> dict[str, str]:
    return {
        "AccountSid": party.account_sid, "ApiVersion": API_VERSION, "CallSid": party.call_sid,
        "CallStatus": call_status, "Called": party.to, "Caller": party.from_, "Direction": party.direction,
        "From": party.from_, "To": party.to,
    }  # fmt: skip


def signed_request(
    session: Any, token: str, method: str, url: str, params: dict[str, str], *, timeout: float = FETCH_TIMEOUT
) -> Any:
    """Send a request signed exactly as Twilio signs it: GET signs the full URL, POST the URL plus the form."""
    headers = {"User-Agent": "TwilioProxy/1.1 (switchboard emulator)", "Accept": "*/*"}
    if method == "GET":
        parts = urlsplit(url)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        full = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        headers[SIGNATURE_HEADER] = sign(token, full, {})
        return session.get(full, headers=headers, timeout=timeout, allow_redirects=False, stream=True)
    headers[SIGNATURE_HEADER] = sign(token, url, params)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return session.post(url, data=params, headers=headers, timeout=timeout, allow_redirects=False, stream=True)


def read_capped(response: Any, cap: int = MAX_TWIML_BYTES) -> bytes:
    data = b""
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) > cap:
            break
    response.close()
    return data


def walk_call(
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
) -> CallResult:
    """Play a call from its first document to its end, as Twilio would, and return the transcript.

    `on_recording(sid, seconds)` runs for each `<Record>` that recorded something, before its callbacks
    are posted (the emulator's Recordings resource exists by the time the app hears of it).
    """
    import requests

    session = session or requests.Session()
    if script.recording_base is None:
        script = replace(script, recording_base=RECORDINGS.format(account=party.account_sid))
    result = CallResult()
    current: Request | None = None if twiml is not None else Request(url or "", method.upper())
    document: bytes | None = twiml.encode("utf-8") if twiml is not None else None
    document_url: str | None = None
    call_status = first_status
    digits_used = 0
    for _ in range(max_documents):
        if should_stop and should_stop():
            result.transcript.append("[call ended by a REST update]")
            return result
        if current is not None:
            document = _fetch(session, party, current, call_status, result)
            document_url = current.url
            if document is None:
                return result
        call_status = "in-progress"  # only an inbound call's first request says "ringing"
        try:
            turn = interpret(parse(document or b""), document_url, script, digits_offset=digits_used)
        except TwimlError as error:
            result.errors.append(error.code)
            result.transcript.append(f"[error {error.code}] {error}: Twilio says 'an application error has occurred'")
            return result
        digits_used += turn.digits_used
        result.transcript.extend(turn.transcript)
        result.seconds += turn.seconds
        recording = _recording_of(turn) if on_recording is not None else None
        if on_recording is not None and recording is not None:
            on_recording(*recording)
        for callback in turn.callbacks:
            _post_callback(session, party, callback, result)
        if turn.ended_by == "reject":
            result.status = "busy" if turn.reject_reason == "busy" else "no-answer"
            return result
        if turn.next is None:
            return result
        current = turn.next
    result.transcript.append(f"[error] {max_documents} documents without an end: Twilio hangs up")
    return result


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


def _post_callback(session: Any, party: CallParty, callback: Request, result: CallResult) -> None:
    import requests

    params = {"AccountSid": party.account_sid, "CallSid": party.call_sid} | dict(callback.params)
    exchange = Exchange(callback.method, callback.url, params, None)
    result.exchanges.append(exchange)
    try:
        response = signed_request(session, party.auth_token, callback.method, callback.url, params)
        exchange.status = response.status_code
        response.close()
    except requests.RequestException as error:
        log.info("Callback to %s failed: %s", mask_in_text(callback.url), type(error).__name__)
