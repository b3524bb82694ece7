"""The pure TwiML interpreter on exact documents: what the caller hears and where Twilio goes next."""

from __future__ import annotations

import pytest

from tools.emulator.callflow import CallScript, DialOutcome, Request, TwimlError, interpret, parse

URL = "https://app.example.net/api/twiml/menu?Message=Hi"


def turn_of(document: str, script: CallScript | None = None, url: str | None = URL):
    return interpret(parse(document), url, script or CallScript())


MENU = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather numDigits="1" action="choice?Stage=2" method="POST">'
    '<Say>Press 1 for sales.</Say><Pause length="2"/></Gather>'
    "<Say>We did not hear you.</Say><Hangup/></Response>"
)


def test_gather_posts_digits_to_the_action_relative_to_the_document() -> None:
    turn = turn_of(MENU, CallScript(digits=("17",)))
    assert turn.transcript == ("Say: Press 1 for sales.", "Pause: 2s", "Gather: pressed 1")
    assert turn.next == Request("https://app.example.net/api/twiml/choice?Stage=2", "POST", (("Digits", "1"),))
    assert (turn.ended_by, turn.digits_used) == ("gather", 1)


def test_gather_without_input_falls_through() -> None:
    turn = turn_of(MENU)
    assert turn.transcript == (
        "Say: Press 1 for sales.", "Pause: 2s", "Gather: no input", "Say: We did not hear you.", "Hangup",
    )  # fmt: skip
    assert (turn.next, turn.ended_by, turn.digits_used) == (None, "hangup", 0)


def test_gather_finish_on_key_default_action_and_offset() -> None:
    document = "<Response><Gather><Say>Code?</Say></Gather></Response>"
    turn = interpret(parse(document), URL, CallScript(digits=("9", "12#34")), digits_offset=1)
    assert turn.next == Request(URL, "POST", (("Digits", "12"),))
    empty = '<Response><Gather actionOnEmptyResult="true" action="/x" method="GET"/></Response>'
    assert turn_of(empty).next == Request("https://app.example.net/x", "GET", (("Digits", ""),))


def test_redirect_resolves_relative_and_keeps_method() -> None:
    turn = turn_of('<Response><Say>One</Say><Redirect method="GET">../voice/next</Redirect><Say>never</Say></Response>')
    assert turn.transcript == ("Say: One", "Redirect: ../voice/next")
    assert turn.next == Request("https://app.example.net/api/voice/next", "GET", ())


def test_dial_outcomes_are_scripted_per_number() -> None:
    document = '<Response><Dial action="/api/dialed" timeout="10"><Number>+15550100001</Number></Dial></Response>'
    busy = turn_of(document)
    assert busy.transcript == ("Dial: +15550100001 -> busy",)
    assert busy.next == Request(
        "https://app.example.net/api/dialed", "POST", (("DialCallStatus", "busy"), ("DialCallDuration", "0"))
    )
    scripted = turn_of(document, CallScript(dial={"+15550100001": DialOutcome("no-answer")}))
    assert scripted.next is not None
    assert dict(scripted.next.params)["DialCallStatus"] == "no-answer"


def test_simulring_first_answer_wins_and_dial_without_action_continues() -> None:
    document = (
        "<Response><Dial><Number>+15550100002</Number><Number>+15558675310</Number></Dial>"
        "<Say>The call has ended.</Say></Response>"
    )
    turn = turn_of(document)
    assert turn.transcript == ("Dial: +15550100002, +15558675310 -> completed", "Say: The call has ended.")
    assert (turn.next, turn.ended_by) == (None, "end")
    answered = turn_of('<Response><Dial action="done">+15558675310</Dial></Response>')
    assert answered.next is not None
    params = dict(answered.next.params)
    assert (params["DialCallStatus"], params["DialCallDuration"]) == ("completed", "10")
    assert params["DialCallSid"].startswith("CA")
    assert len(params["DialCallSid"]) == 34


def test_record_posts_recording_and_fires_its_callbacks() -> None:
    document = (
        '<Response><Say>Leave a message.</Say><Record action="/api/twiml/voicemail?Stage=done" maxLength="3" '
        'recordingStatusCallback="/api/recording/status" transcribe="true" '
        'transcribeCallback="/api/recording/transcription"/></Response>'
    )
    turn = turn_of(document, CallScript(recording_seconds=7, transcription="Call me back."))
    assert turn.next is not None
    params = dict(turn.next.params)
    assert turn.next.url == "https://app.example.net/api/twiml/voicemail?Stage=done"
    assert (params["RecordingDuration"], params["Digits"]) == ("3", "#")
    assert params["RecordingUrl"].startswith(
        "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/RE"
    )
    status, transcription = turn.callbacks
    assert status.url == "https://app.example.net/api/recording/status"
    assert dict(status.params)["RecordingStatus"] == "completed"
    assert dict(status.params)["RecordingUrl"] == params["RecordingUrl"]
    assert transcription.url == "https://app.example.net/api/recording/transcription"
    assert dict(transcription.params)["TranscriptionText"] == "Call me back."
    silent = turn_of(document.replace("</Response>", "<Say>Nothing recorded.</Say></Response>"),
                     CallScript(recording_seconds=0))  # fmt: skip
    assert silent.transcript[-2:] == ("Record: silence, nothing recorded", "Say: Nothing recorded.")


def test_hangup_reject_and_unknown_verbs() -> None:
    assert turn_of('<Response><Reject reason="busy"/><Say>no</Say></Response>').reject_reason == "busy"
    turn = turn_of("<Response><Enqueue>support</Enqueue><Say>Bye</Say><Hangup/><Say>never</Say></Response>")
    assert turn.transcript == ("[unsupported] <Enqueue> skipped", "Say: Bye", "Hangup")


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Say>&a;</Say></Response>', 12100),
        ("<Response><Say>unclosed</Response>", 12100),
        ("<html><body>Not TwiML</body></html>", 12100),
        ("<Response>" + "<Pause/>" * 10000 + "</Response>", 12300),
    ],
)
def test_refused_documents(document: str, code: int) -> None:
    with pytest.raises(TwimlError) as raised:
        parse(document)
    assert raised.value.code == code


def test_relative_url_in_inline_twiml_cannot_resolve() -> None:
    turn = turn_of("<Response><Redirect>/next</Redirect></Response>", url=None)
    assert turn.next is None
    assert turn.transcript[-1].startswith("[error] cannot resolve relative URL")


def test_a_whisper_for_the_callee_is_noted_not_walked() -> None:
    document = '<Response><Dial><Number url="/api/twiml/whisper?Message=Hi">+15558675310</Number></Dial></Response>'
    assert turn_of(document).transcript == (
        "Dial: +15558675310 -> completed", "[not walked] the callee's whisper /api/twiml/whisper?Message=Hi",
    )  # fmt: skip
