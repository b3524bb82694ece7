"""voicemail: `Message` (greeting), `Transcribe` (true), `NotifyNumber`; callbacks store it and queue an SMS notice.

Stages: none (greet and record), `recorded` (the <Record> action: thank and hang up),
`recording` (recordingStatusCallback) and `transcription` (transcribeCallback). `Email` sends
the recording (attached when its copy is small enough, else linked), duration and transcript by
e-mail (SMTP_URL, EMAIL_FROM), `NotifyNumber` the link by SMS; both wait for the transcript when
transcription is on, and go out once per recording.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.shared.addresses import is_address
from switchboard.shared.phones import is_e164
from switchboard.shared.sids import is_call_sid, is_recording_sid
from switchboard.shared.text import SMS_LIMIT, clip
from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import BadParameter, Call, VoicemailEvent, log

GREETING = "Please leave a message after the beep."
THANKS = "Thanks.  Good bye."  # twimlets.com's words
RECORDED, RECORDING, TRANSCRIPTION = "recorded", "recording", "transcription"
# Twilio transcribes recordings of up to two minutes.
MAX_LENGTH = 120


def voicemail(call: Call) -> VoiceResponse:
    notify = call.phone("NotifyNumber")
    transcribe = _transcribe(call)
    if call.stage == RECORDED:
        response = VoiceResponse()
        response.say(THANKS)
        response.hangup()
        return response
    if call.stage in (RECORDING, TRANSCRIPTION):
        return _callback(call, notify, _email(call), transcribe)
    message = call.get("Message")
    greeting = call.audio_or_text(message) if message else GREETING
    # As on twimlets.com, `Voice` and `Language` apply to a spoken greeting.
    voice = {"voice": call.get("Voice"), "language": call.get("Language")}
    return record(call, greeting, transcribe=transcribe, caller=call.request_field("From"), **voice)


def _transcribe(call: Call) -> bool:
    """`Transcribe`: on unless switched off; as on twimlets.com, a value that is not a yes means no."""
    value = call.get("Transcribe")
    return value is None or value.strip().lower() in ("true", "1", "yes", "on")


def _email(call: Call) -> str | None:
    """`Email`, if it is an address; a bad one is logged (never the value) and the voicemail still taken."""
    address = call.get("Email")
    if address is None:
        return None
    if not is_address(address):
        log.warning("voicemail Email is not a valid e-mail address; no e-mail will be sent")
        return None
    return address


def record(
    call: Call,
    greeting: str,
    *,
    transcribe: bool,
    caller: str | None,
    voice: str | None = None,
    language: str | None = None,
) -> VoiceResponse:
    """Greet, then <Record>; the action and callbacks come back to this route with a stage."""
    response = VoiceResponse()
    say_or_play(response, greeting, voice=voice, language=language)
    control: dict[str, str] = {"VoicemailFrom": caller} if is_e164(caller) and caller else {}
    attributes: dict[str, object] = {}
    if transcribe:
        attributes = {"transcribe": True, "transcribe_callback": call.self_url(Stage=TRANSCRIPTION, **control)}
    response.record(
        action=call.self_url(Stage=RECORDED),
        max_length=MAX_LENGTH,
        play_beep=True,
        recording_status_callback=call.self_url(Stage=RECORDING, **control),
        recording_status_callback_event="completed",
        **attributes,
    )
    response.hangup()
    return response


def notice(event: VoicemailEvent) -> str:
    """The SMS text: who called, how long, the transcript and where to listen."""
    who = event.caller or "an unknown caller"
    length = f" ({event.duration} s)" if event.duration is not None else ""
    link = f" Listen: {event.recording_url}.mp3" if event.recording_url else ""
    head = f"New voicemail from {who}{length}:"
    room = SMS_LIMIT - len(head) - len(link) - 3
    said = f' "{clip(event.transcript, room)}"' if event.transcript and room > 10 else ""
    return clip(head + said + link, SMS_LIMIT)


def email_text(event: VoicemailEvent, *, attached: bool = False) -> tuple[str, str]:
    """The e-mail's subject and body, as twimlets.com wrote them: who, how long, the transcript, the link.

    `attached`: the body of the same e-mail when the recording travels with it, instead of the link.
    """
    who = event.caller or "an unknown caller"
    lines = [f"You have a new voicemail from {who}."]
    if event.duration is not None:
        lines.append(f"Length: {event.duration} seconds.")
    if event.transcript:
        lines += ["", "Text of the transcribed voicemail:", event.transcript]
    elif event.transcription_status and event.transcription_status != "completed":
        lines += ["", f"The transcription {event.transcription_status}."]
    if attached:
        lines += ["", "The recording is attached."]
    elif event.recording_url:
        lines += ["", "Listen to the message:", f"{event.recording_url}.mp3"]
    return f"New voicemail from {who}", "\n".join(lines) + "\n"


def _callback(call: Call, notify: str | None, email: str | None, transcribe: bool) -> VoiceResponse:
    event = _event(call)
    if call.voicemail is None:
        raise BadParameter("voicemail callbacks need storage, which is not wired")
    if call.voicemail.save_voicemail(event) is False:
        return VoiceResponse()  # the call's record was erased: a replay stores and sends nothing
    # With transcription on, the notices wait for the transcript so that they carry it.
    final = call.stage == TRANSCRIPTION or not transcribe
    if email and final:
        call.voicemail.email_voicemail(email, event)
    if notify and final:
        call.voicemail.notify_voicemail(notify, event)
    log.info("voicemail %s stored (%s)", event.recording_sid, call.stage)
    return VoiceResponse()


def _event(call: Call) -> VoicemailEvent:
    field = call.request_field
    call_sid, recording_sid = field("CallSid"), field("RecordingSid")
    if not call_sid or not recording_sid:
        raise BadParameter("a voicemail callback needs CallSid and RecordingSid")
    # Fullmatch, so that a re-split signed form cannot pass off a longer RecordingSid as a new voicemail.
    if not is_call_sid(call_sid) or not is_recording_sid(recording_sid):
        raise BadParameter("CallSid or RecordingSid is not in Twilio's documented shape")
    duration = field("RecordingDuration")
    transcript = field("TranscriptionText") if call.stage == TRANSCRIPTION else None
    caller = call.control("VoicemailFrom") or field("From")
    return VoicemailEvent(
        call_sid=call_sid,
        recording_sid=recording_sid,
        recording_url=field("RecordingUrl"),
        duration=int(duration) if duration and duration.isdigit() else None,
        transcript=transcript,
        transcription_status=field("TranscriptionStatus") if call.stage == TRANSCRIPTION else None,
        caller=caller if is_e164(caller) else None,
    )
