"""The default voice flow with business hours and voicemail, built from the twimlet pieces."""

from __future__ import annotations

from datetime import datetime, timezone

from switchboard.policies.hours import BusinessHours
from switchboard.twiml.voice import VoiceConfig, answer_call
from switchboard.webhooks.request import Params
from tests.support import XML_DECLARATION as DECL

CALL = Params((("CallSid", "CA" + "e" * 32), ("From", "+15550001111"), ("To", "+15005550006")))
PATH = "/api/voice/incoming"
HOURS = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Amsterdam")
OPEN = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # Friday 11:00 in Amsterdam
CLOSED = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)  # Saturday
MAILBOX = (
    "/api/twiml/voicemail?Message=Sorry%2C+nobody+can+take+your+call+right+now.+Please+leave+a+message+after+the+beep."
)


def record(mailbox: str, greeting: str) -> str:
    caller = "&amp;VoicemailFrom=%2B15550001111"
    return (
        f"<Say>{greeting}</Say>"
        f'<Record action="{mailbox}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{mailbox}&amp;Stage=recording{caller}" recordingStatusCallbackEvent="completed"'
        f' transcribe="true" transcribeCallback="{mailbox}&amp;Stage=transcription{caller}" /><Hangup />'
    )


def test_outside_business_hours_the_call_goes_to_voicemail() -> None:
    config = VoiceConfig(greeting="Hello.", forward_to="+15551230000", business_hours=HOURS,
                         voicemail_greeting="We are closed.", voicemail_notify="+15558675310")  # fmt: skip
    mailbox = "/api/twiml/voicemail?Message=We+are+closed.&amp;NotifyNumber=%2B15558675310"
    assert str(answer_call(CALL, Params(), PATH, config, CLOSED)) == (
        f"{DECL}<Response>{record(mailbox, 'We are closed.')}</Response>"
    )


def test_inside_business_hours_the_call_is_forwarded_as_before() -> None:
    config = VoiceConfig(forward_to="+15551230000", business_hours=HOURS)
    assert str(answer_call(CALL, Params(), PATH, config, OPEN)) == (
        f'{DECL}<Response><Dial callerId="+15550001111" timeout="20">+15551230000</Dial></Response>'
    )


def test_voicemail_fallback_sets_a_dial_action_and_takes_unanswered_calls() -> None:
    config = VoiceConfig(forward_to="+15551230000", voicemail=True)
    assert str(answer_call(CALL, Params(), PATH, config, OPEN)) == (
        f'{DECL}<Response><Dial action="/api/voice/incoming?Stage=dial-result" callerId="+15550001111"'
        ' timeout="20">+15551230000</Dial></Response>'
    )
    stage = Params((("Stage", "dial-result"),))
    unanswered = CALL.merged(Params((("DialCallStatus", "no-answer"),)))
    assert str(answer_call(unanswered, stage, PATH, config, OPEN)) == (
        f"{DECL}<Response><Redirect>{MAILBOX.replace('&', '&amp;')}</Redirect></Response>"
    )
    answered = CALL.merged(Params((("DialCallStatus", "completed"),)))
    assert str(answer_call(answered, stage, PATH, config, OPEN)) == f"{DECL}<Response><Hangup /></Response>"


def test_voicemail_without_a_forward_number_records_at_once() -> None:
    greeting = "Sorry, nobody can take your call right now. Please leave a message after the beep."
    assert str(answer_call(CALL, Params(), PATH, VoiceConfig(voicemail=True), OPEN)) == (
        f"{DECL}<Response>{record(MAILBOX, greeting)}</Response>"
    )


def test_blocklist_wins_over_voicemail() -> None:
    config = VoiceConfig(voicemail=True, business_hours=HOURS, blocklist=frozenset({"+15550001111"}))
    assert str(answer_call(CALL, Params(), PATH, config, CLOSED)) == f"{DECL}<Response><Reject /></Response>"


def test_nothing_configured_is_unchanged() -> None:
    assert "<Hangup />" in str(answer_call(CALL, Params(), PATH, VoiceConfig(), CLOSED))
    assert "Record" not in str(answer_call(CALL, Params(), PATH, VoiceConfig(), CLOSED))
