"""voicemail: `Message` (greeting), `Transcribe` (true), `NotifyNumber`; callbacks store it and queue an SMS notice.

Stages: none (greet and record), `recorded` (the <Record> action: thank and hang up),
`recording` (recordingStatusCallback) and `transcription` (transcribeCallback). `Email` from
twimlets.com is accepted and ignored: there is no mail server; use `NotifyNumber`.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.phones import is_e164
from switchboard.sids import is_call_sid, is_recording_sid
from switchboard.twiml.common import SMS_LIMIT, clip, say_or_play
from switchboard.twiml.twimlets.base import BadParameter, Call, VoicemailEvent, log

GREETING = "Please leave a message after the beep."
THANKS = "Thank you. Goodbye."
RECORDED, RECORDING, TRANSCRIPTION = "recorded", "recording", "transcription"
# Twilio transcribes recordings of up to two minutes.
MAX_LENGTH = 120


def voicemail(call: Call) -> VoiceResponse:
    notify = call.phone("NotifyNumber")
    transcribe = call.flag("Transcribe", True)
    if call.stage == RECORDED:
        response = VoiceResponse()
        response.say(THANKS)
        response.hangup()
        return response
    if call.stage in (RECORDING, TRANSCRIPTION):
        return _callback(call, notify, transcribe)
    return record(call, call.get("Message") or GREETING, transcribe=transcribe, caller=call.get("From"))


def record(call: Call, greeting: str, *, transcribe: bool, caller: str | None) -> VoiceResponse:
    """Greet, then <Record>; the action and callbacks come back to this route with a stage."""
    response = VoiceResponse()
    say_or_play(response, greeting)
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


def _callback(call: Call, notify: str | None, transcribe: bool) -> VoiceResponse:
    event = _event(call)
    if call.voicemail is None:
        raise BadParameter("voicemail callbacks need storage, which is not wired")
    call.voicemail.save_voicemail(event)
    # With transcription on, the notice waits for the transcript so that it carries it.
    if notify and (call.stage == TRANSCRIPTION or not transcribe):
        call.voicemail.notify_voicemail(notify, event)
    log.info("voicemail %s stored (%s)", event.recording_sid, call.stage)
    return VoiceResponse()


def _event(call: Call) -> VoicemailEvent:
    call_sid, recording_sid = call.get("CallSid"), call.get("RecordingSid")
    if not call_sid or not recording_sid:
        raise BadParameter("a voicemail callback needs CallSid and RecordingSid")
    # Fullmatch, so that a re-split signed form cannot pass off a longer RecordingSid as a new voicemail.
    if not is_call_sid(call_sid) or not is_recording_sid(recording_sid):
        raise BadParameter("CallSid or RecordingSid is not in Twilio's documented shape")
    duration = call.get("RecordingDuration")
    transcript = call.get("TranscriptionText") if call.stage == TRANSCRIPTION else None
    caller = call.control("VoicemailFrom") or call.get("From")
    return VoicemailEvent(
        call_sid=call_sid,
        recording_sid=recording_sid,
        recording_url=call.get("RecordingUrl"),
        duration=int(duration) if duration and duration.isdigit() else None,
        transcript=transcript,
        transcription_status=call.get("TranscriptionStatus") if call.stage == TRANSCRIPTION else None,
        caller=caller if is_e164(caller) else None,
    )
