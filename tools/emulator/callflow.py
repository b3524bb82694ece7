"""Pure: one TwiML voice document -> what Twilio would do with it (a transcript, then the next request or the end).

No network here. The walker in `tools.emulator.voice` fetches documents and follows `Turn.next`;
this module only reads XML and the call's script (digits to press, dial outcomes, recording length).
"""

from __future__ import annotations

import datetime
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin

from tools.emulator.outcomes import call_outcome
from tools.emulator.resources import rfc2822

MAX_TWIML_BYTES = 64 * 1024  # Twilio refuses larger documents (error 12300 family); keeps a bad server bounded
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
RECORDINGS = "https://api.twilio.com/2010-04-01/Accounts/{account}/Recordings"
NOUNS = ("Number", "Client", "Sip", "Conference", "Queue", "Application", "Sim")


class TwimlError(ValueError):
    """A document Twilio would refuse: `code` is Twilio's error code (12100 parse failure, 12300 bad content)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Request:
    """An HTTP request Twilio makes next: a TwiML fetch (`Turn.next`) or a fire-and-forget callback."""

    url: str
    method: str = "POST"
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DialOutcome:
    status: str = "completed"
    duration: int = 10  # seconds the bridged leg lasted when completed


@dataclass(frozen=True)
class CallScript:
    """What the far end does: one entry of `digits` per <Gather> ("" = no input), dial outcomes by number."""

    digits: tuple[str, ...] = ()
    dial: dict[str, DialOutcome] = field(default_factory=dict)
    recording_seconds: int = 5  # 0 = the caller says nothing: <Record> falls through
    transcription: str = "This is a test recording."
    recording_base: str | None = None  # where recordings "live"; the walker fills in the account's URL

    def dial_outcome(self, number: str) -> DialOutcome:
        """Scripted here first, then by the emulator's outcome numbers (busy, no-answer, ...); else answered."""
        if number in self.dial:
            return self.dial[number]
        status = call_outcome(number).status
        return DialOutcome(status) if status != "completed" else DialOutcome()


@dataclass(frozen=True)
class DialLeg:
    """A call <Dial> placed (a child call of the walked one): Twilio lists it with ParentCallSid."""

    sid: str
    to: str
    status: str
    duration: int
    caller_id: str | None  # <Dial callerId>; None: the parent call's From
    offset: int  # seconds into the document when it was placed


@dataclass(frozen=True)
class Turn:
    """The result of one document."""

    transcript: tuple[str, ...]
    next: Request | None  # None: the call ends after this document
    ended_by: str  # "hangup", "reject", "end" (ran out of verbs), "redirect", "gather", "dial", "record"
    callbacks: tuple[Request, ...] = ()  # recordingStatusCallback / transcribeCallback
    seconds: int = 0  # simulated time the document took
    digits_used: int = 0
    reject_reason: str | None = None
    legs: tuple[DialLeg, ...] = ()


def parse(document: bytes | str) -> ET.Element:
    """Parse a TwiML document safely: size cap, no DTDs or entities, a <Response> root."""
    raw = document.encode("utf-8") if isinstance(document, str) else document
    if len(raw) > MAX_TWIML_BYTES:
        raise TwimlError(12300, f"document of {len(raw)} bytes is over the {MAX_TWIML_BYTES}-byte cap")
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise TwimlError(12100, "DTDs and entity declarations are not accepted")
    try:
        # Safe here: DTDs (hence entity expansion) are refused above and the size is capped.
        root = ET.fromstring(raw)  # noqa: S314
    except ET.ParseError as error:
        raise TwimlError(12100, f"document parse failure: {error}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"root element is <{root.tag}>, not <Response>")
    return root


def interpret(
    root: ET.Element,
    document_url: str | None,
    script: CallScript,
    *,
    digits_offset: int = 0,
    started: datetime.datetime | None = None,
) -> Turn:
    """Walk one <Response>: what the caller hears, then where Twilio goes next.

    `started` is the moment the document began playing (for RecordingStartTime); default the epoch.
    """
    walk = _Walk(document_url, script, digits_offset, started)
    return walk.run(root)


class _Walk:
    def __init__(
        self, document_url: str | None, script: CallScript, digits_offset: int, started: datetime.datetime | None
    ) -> None:
        self.started = started or datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        self.url = document_url
        self.script = script
        self.digits_offset = digits_offset
        self.transcript: list[str] = []
        self.callbacks: list[Request] = []
        self.seconds = 0
        self.digits_used = 0
        self.legs: list[DialLeg] = []

    def turn(self, ended_by: str, next_request: Request | None = None, reject_reason: str | None = None) -> Turn:
        return Turn(
            tuple(self.transcript), next_request, ended_by, tuple(self.callbacks), self.seconds,
            self.digits_used, reject_reason, tuple(self.legs),
        )  # fmt: skip

    def resolve(self, target: str | None) -> str | None:
        """Relative action/Redirect URLs resolve against the current document's URL, as Twilio does."""
        if not target:
            return self.url
        if self.url:
            return urljoin(self.url, target)
        return target if target.lower().startswith(("http://", "https://")) else None

    def request(self, element: ET.Element, target: str | None, params: list[tuple[str, str]]) -> Request | None:
        url = self.resolve(target)
        if url is None:
            self.transcript.append(f"[error] cannot resolve relative URL {target!r} without a document URL")
            return None
        method = (element.get("method") or "POST").upper()
        return Request(url, "GET" if method == "GET" else "POST", tuple(params))

    def run(self, root: ET.Element) -> Turn:  # noqa: PLR0911 (one exit per ending verb)
        for verb in root:
            name = verb.tag
            if name in ("Say", "Play", "Pause"):
                self.media(verb)
            elif name == "Gather":
                turn = self.gather(verb)
                if turn is not None:
                    return turn
            elif name == "Redirect":
                target = (verb.text or "").strip()
                self.transcript.append(f"Redirect: {target}")
                return self.turn("redirect", self.request(verb, target, []))
            elif name == "Dial":
                turn = self.dial(verb)
                if turn is not None:
                    return turn
            elif name == "Record":
                turn = self.record(verb)
                if turn is not None:
                    return turn
            elif name == "Hangup":
                self.transcript.append("Hangup")
                return self.turn("hangup")
            elif name == "Reject":
                reason = verb.get("reason") or "rejected"
                self.transcript.append(f"Reject: {reason}")
                return self.turn("reject", reject_reason=reason)
            else:
                self.transcript.append(f"[unsupported] <{name}> skipped")
        return self.turn("end")

    def media(self, verb: ET.Element) -> None:
        loop = _int(verb.get("loop"), 1)
        times = f" (x{loop})" if loop != 1 else ""
        if verb.tag == "Say":
            text = "".join(verb.itertext()).strip()
            self.transcript.append(f"Say: {text}{times}")
            self.seconds += max(1, len(text.split()) // 3) * max(loop, 1)
        elif verb.tag == "Play":
            if verb.get("digits"):
                self.transcript.append(f"Play digits: {verb.get('digits')}")
            else:
                self.transcript.append(f"Play: {(verb.text or '').strip()}{times}")
                self.seconds += 5 * max(loop, 1)
        else:
            length = _int(verb.get("length"), 1)
            self.transcript.append(f"Pause: {length}s")
            self.seconds += length

    def gather(self, verb: ET.Element) -> Turn | None:
        for child in verb:
            if child.tag in ("Say", "Play", "Pause"):
                self.media(child)
            else:
                self.transcript.append(f"[unsupported] <{child.tag}> inside <Gather> skipped")
        index = self.digits_offset + self.digits_used
        pressed = self.script.digits[index] if index < len(self.script.digits) else ""
        if index < len(self.script.digits):
            self.digits_used += 1
        finish = verb.get("finishOnKey", "#")
        if finish and finish in pressed:
            pressed = pressed[: pressed.index(finish)]
        num_digits = _int(verb.get("numDigits"), 0)
        if num_digits > 0:
            pressed = pressed[:num_digits]
        if not pressed:
            self.seconds += _int(verb.get("timeout"), 5)
            self.transcript.append("Gather: no input")
            if (verb.get("actionOnEmptyResult") or "").lower() == "true":
                return self.turn("gather", self.request(verb, verb.get("action"), [("Digits", "")]))
            return None  # Twilio falls through to the next verb
        self.transcript.append(f"Gather: pressed {pressed}")
        return self.turn("gather", self.request(verb, verb.get("action"), [("Digits", pressed)]))

    def dial(self, verb: ET.Element) -> Turn | None:
        targets = [(child.tag, "".join(child.itertext()).strip()) for child in verb if child.tag in NOUNS]
        if not targets and (verb.text or "").strip():
            targets = [("Number", (verb.text or "").strip())]
        if not targets:
            self.transcript.append("[error] <Dial> with nothing to dial")
            return None
        # Several numbers ring at once (simulring): the first to answer wins.
        outcomes = [(target, self.script.dial_outcome(target)) for _, target in targets]
        answered = next(((t, o) for t, o in outcomes if o.status == "completed"), None)
        target, outcome = answered or outcomes[0]
        shown = ", ".join(f"{tag} {value}" if tag != "Number" else value for tag, value in targets)
        self.transcript.append(f"Dial: {shown} -> {outcome.status}")
        for child in verb:
            if child.tag in NOUNS and child.get("url"):
                self.transcript.append(f"[not walked] the callee's whisper {child.get('url')}")
        duration = outcome.duration if outcome.status == "completed" else 0
        placed = self.seconds
        self.seconds += duration or _int(verb.get("timeout"), 30) // 2
        leg_sid = _sid("CA", self.url, target, self.seconds)
        # Every number, client or SIP address rings: a child call each; the winner's is DialCallSid.
        for tag, number in (t for t in targets if t[0] in ("Number", "Client", "Sip")):
            won = number == target
            sid = leg_sid if won else _sid("CA", self.url, number, self.seconds, "lost")
            status = outcome.status if won else ("canceled" if answered else self.script.dial_outcome(number).status)
            shown = number if tag == "Number" else f"{tag.lower()}:{number}"
            self.legs.append(DialLeg(sid, shown, status, duration if won else 0, verb.get("callerId"), placed))
        if verb.get("action") is None:
            return None  # no action: continue with the next verb
        params = [("DialCallStatus", outcome.status), ("DialCallDuration", str(duration))]
        if outcome.status == "completed":
            params.append(("DialCallSid", leg_sid))
        return self.turn("dial", self.request(verb, verb.get("action"), params))

    def record(self, verb: ET.Element) -> Turn | None:
        self.transcript.append("Record: beep" if verb.get("playBeep", "true") != "false" else "Record")
        seconds = min(self.script.recording_seconds, _int(verb.get("maxLength"), 3600))
        if seconds <= 0:
            self.seconds += _int(verb.get("timeout"), 5)
            self.transcript.append("Record: silence, nothing recorded")
            return None  # Twilio moves on to the next verb
        recording_started = self.started + datetime.timedelta(seconds=self.seconds)
        self.seconds += seconds
        recording_sid = _sid("RE", self.url, self.seconds, self.transcript)
        base = self.script.recording_base or RECORDINGS.format(account="AC" + "0" * 32)
        recording_url = f"{base}/{recording_sid}"
        self.transcript.append(f"Record: {seconds}s -> {recording_url}")
        recording = [
            ("RecordingSid", recording_sid),
            ("RecordingUrl", recording_url),
            ("RecordingDuration", str(seconds)),
        ]
        status_callback = verb.get("recordingStatusCallback")
        if status_callback:
            method = (verb.get("recordingStatusCallbackMethod") or "POST").upper()
            url = self.resolve(status_callback)
            if url:
                # <Record> records the caller: one channel, the inbound track.
                params = [*recording, ("RecordingStatus", "completed"), ("RecordingChannels", "1"),
                          ("RecordingSource", "RecordVerb"), ("RecordingStartTime", rfc2822(recording_started) or ""),
                          ("RecordingTrack", "inbound")]  # fmt: skip
                self.callbacks.append(Request(url, "GET" if method == "GET" else "POST", tuple(params)))
        transcribe_callback = verb.get("transcribeCallback")
        if transcribe_callback or (verb.get("transcribe") or "").lower() == "true":
            url = self.resolve(transcribe_callback) if transcribe_callback else None
            if url:
                params = [
                    ("TranscriptionSid", "TR" + recording_sid[2:]),
                    ("TranscriptionText", self.script.transcription),
                    ("TranscriptionStatus", "completed"),
                    ("TranscriptionUrl", f"{recording_url}/Transcriptions"),
                    *recording[:2],
                ]
                self.callbacks.append(Request(url, "POST", tuple(params)))
        finish = verb.get("finishOnKey", "1234567890*#")
        params = [*recording[1:], ("Digits", "#" if "#" in finish or not finish else finish[0])]
        return self.turn("record", self.request(verb, verb.get("action"), params))


def _sid(prefix: str, *parts: object) -> str:
    """A stable SID for a simulated leg or recording: the same walk gives the same SIDs."""
    return prefix + hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
