"""Twilio's documented twimlet example URLs, verbatim with only the host swapped, walked through their stages.

The examples are the ones on Twilio's twimlet pages (forward, conference, menu, findme, simulring,
callme, message, echo, holdmusic, voicemail; whisper had no page and no examples): numbers as "any 10
digit phone number" (`415-555-1212`), unencoded brackets and URLs in the query.
FORWARD_ALLOWED_DESTINATIONS admits their numbers, in the same national spelling. Every request is
signed for the public URL, as Twilio signs it.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import urljoin

import pytest

from tests.support import PUBLIC_BASE_URL, function, http_request, signed_form, twilio_signature, xml_of
from tests.support import XML_DECLARATION as DECL

APP = f"{PUBLIC_BASE_URL}/api/twiml/"
CALLER = "+16505551212"
CALL = {"CallSid": "CA" + "f" * 32, "From": CALLER, "To": "+15005550006", "CallStatus": "in-progress"}
TRY_LATER = "http://myapp.com/please-try-later.mp3"
PLAY_TRY_LATER = f"{DECL}<Response><Play>{TRY_LATER}</Play><Hangup /></Response>"
HANGUP = f"{DECL}<Response><Hangup /></Response>"
ANNOUNCE = "You are receiving a call from 6. 5. 0. 5. 5. 5. 1. 2. 1. 2. Press any key to accept."


@pytest.fixture(autouse=True)
def documented_numbers_allowed(configure) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="415-555-1212, 415-555-1313, 415-555-1414", TWIML_ECHO_ENABLED="true")


def twimlet(app, url: str, form: dict[str, str] | None = None, *, method: str = "POST") -> str:
    """Twilio requesting `url` (absolute, on the app) for a call."""
    assert url.startswith(APP), url
    name = url[len(APP) :].split("?", 1)[0]
    route = "twiml_message" if name == "message" else "twiml_twimlet"
    if method == "GET":
        headers = {"X-Twilio-Signature": twilio_signature(url)}
        request = http_request("GET", url, headers=headers, route_params={"name": name})
    else:
        headers, body = signed_form(url, list((form or CALL).items()))
        request = http_request("POST", url, headers=headers, body=body, route_params={"name": name})
    return xml_of(function(app, route)(request))


def example(documented: str) -> str:
    """`http://twimlets.com/forward?...` -> the same path and query on this app."""
    prefix = "http://twimlets.com/"
    assert documented.startswith(prefix)
    return APP + documented[len(prefix) :]


def attr(xml: str, tag: str, name: str, current: str) -> str:
    """An element's URL attribute, resolved against the request URL as Twilio resolves it."""
    found = ET.fromstring(xml.removeprefix(DECL)).find(f".//{tag}")  # noqa: S314 - our own output
    assert found is not None, (tag, xml)
    return urljoin(current, found.attrib[name])


# forward


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_forward_with_fail_url_plays_it_when_nobody_answers(app, status: str) -> None:
    url = example(f"http://twimlets.com/forward?PhoneNumber=415-555-1212&FailUrl={TRY_LATER}")
    xml = twimlet(app, url)
    assert xml == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=415-555-1212&amp;FailUrl=http%3A%2F%2F'
        'myapp.com%2Fplease-try-later.mp3&amp;Stage=dial-result" timeout="20"><Number>+14155551212</Number>'
        "</Dial></Response>"
    )
    action = attr(xml, "Dial", "action", url)
    assert twimlet(app, action, {**CALL, "DialCallStatus": status}) == PLAY_TRY_LATER
    assert twimlet(app, action, {**CALL, "DialCallStatus": "completed"}) == HANGUP


def test_forward_plain_example_and_its_dial_outcome(app) -> None:
    url = example("http://twimlets.com/forward?PhoneNumber=415-555-1212")
    xml = twimlet(app, url)
    assert xml == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=415-555-1212&amp;Stage=dial-result"'
        ' timeout="20"><Number>+14155551212</Number></Dial></Response>'
    )
    assert twimlet(app, attr(xml, "Dial", "action", url), {**CALL, "DialCallStatus": "no-answer"}) == HANGUP


ALLOWED = (
    "http://twimlets.com/forward?PhoneNumber=415-555-1212&AllowedCallers[0]=650-555-1212&AllowedCallers[1]=510-555-1212"
)


def test_forward_allowed_callers_forward_a_listed_caller(app) -> None:
    url = example(ALLOWED)
    xml = twimlet(app, url, {**CALL, "From": "+16505551212"})
    assert xml == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=415-555-1212&amp;AllowedCallers%5B0%5D='
        '650-555-1212&amp;AllowedCallers%5B1%5D=510-555-1212&amp;Stage=dial-result" timeout="20">'
        "<Number>+14155551212</Number></Dial></Response>"
    )
    assert "<Number>+14155551212</Number>" in twimlet(app, url, {**CALL, "From": "+15105551212"})


def test_forward_allowed_callers_match_from_or_a_placed_calls_to_and_refuse_others(app) -> None:
    url = example(ALLOWED)
    # An outbound REST call to a listed number: From is our Twilio number, To is the allowed one.
    placed = {**CALL, "From": "+15005550006", "To": "+15105551212", "Direction": "outbound-api"}
    assert "<Dial" in twimlet(app, url, placed)
    # On an inbound call To is the number dialled (a Voice SDK caller chooses it): it never counts.
    assert "<Dial" not in twimlet(app, url, {**placed, "Direction": "inbound"})
    assert "<Dial" not in twimlet(app, url, {**placed, "From": "client:alice"})
    assert twimlet(app, url, {**CALL, "From": "+14085551212"}) == (
        f"{DECL}<Response><Say>Sorry, you are calling from a restricted number. Good bye.</Say><Hangup /></Response>"
    )


# conference

WELCOME = "<Say>You are now entering the conference line.</Say>"


def room(*parts: str) -> str:
    return "conference-" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def test_conference_by_name(app) -> None:
    xml = twimlet(app, example("http://twimlets.com/conference?Name=foo"))
    assert xml == f"{DECL}<Response>{WELCOME}<Dial><Conference>foo</Conference></Dial></Response>"


def test_conference_moderators_example(app) -> None:
    url = example("http://twimlets.com/conference?Moderators[0]=415-555-1212&Moderators[1]=555-867-5309")
    name = room("", "+14155551212,+15558675309", "")
    assert twimlet(app, url, {**CALL, "From": "+14155551212"}) == (
        f'{DECL}<Response>{WELCOME}<Dial><Conference endConferenceOnExit="true" startConferenceOnEnter="true">'
        f"{name}</Conference></Dial></Response>"
    )
    assert twimlet(app, url, CALL) == (
        f'{DECL}<Response>{WELCOME}<Dial><Conference startConferenceOnEnter="false">{name}</Conference></Dial>'
        "</Response>"
    )
    # A moderator dialled by an outbound call: From is our number, To the moderator's.
    placed = {**CALL, "From": "+15005550006", "To": "+15558675309", "Direction": "outbound-api"}
    assert 'startConferenceOnEnter="true"' in twimlet(app, url, placed)
    # The same To on an inbound call (the number dialled, chosen by the caller) is no moderator.
    assert 'startConferenceOnEnter="false"' in twimlet(app, url, {**placed, "Direction": "inbound"})


def test_conference_music_example(app) -> None:
    xml = twimlet(app, example("http://twimlets.com/conference?Music=rock"))
    assert xml == (
        f'{DECL}<Response>{WELCOME}<Dial><Conference waitMethod="GET"'
        f' waitUrl="https://twimlets.com/holdmusic?Bucket=com.twilio.music.rock">{room("", "", "")}</Conference>'
        "</Dial></Response>"
    )


def test_conference_password_example(app) -> None:
    url = example("http://twimlets.com/conference?Password=12345")
    prompt = twimlet(app, url)
    assert prompt == (
        f'{DECL}<Response><Gather action="/api/twiml/conference?Password=12345&amp;Stage=password&amp;Attempt=1"'
        ' actionOnEmptyResult="true" finishOnKey="#" numDigits="5" timeout="10">'
        "<Say>Please enter your conference pass code.</Say></Gather></Response>"
    )
    stage = attr(prompt, "Gather", "action", url)
    wrong = twimlet(app, stage, {**CALL, "Digits": "54321"})
    assert wrong.startswith(f"{DECL}<Response><Say>That password is not correct.</Say><Gather")
    retry = attr(wrong, "Gather", "action", stage)
    assert twimlet(app, retry, {**CALL, "Digits": "12345"}) == (
        f"{DECL}<Response>{WELCOME}<Dial><Conference>{room('', '', '12345')}</Conference></Dial></Response>"
    )


# menu


FOO_Q = "Message=Hi+There&amp;Options%5B1%5D=http%3A%2F%2Ffoo.com"
BAR_Q = f"{FOO_Q}&amp;Options%5B2%5D=http%3A%2F%2Fbar.com"
BOB_Q = ("Message=Hi+There&amp;Options%5B101%5D=http%3A%2F%2Fbob.com&amp;Options%5B102%5D=http%3A%2F%2Fann.com"
         "&amp;Options%5B0%5D=http%3A%2F%2Foperator.com")  # fmt: skip
BOB = (
    "http://twimlets.com/menu?Message=Hi+There&Options[101]=http://bob.com&Options[102]=http://ann.com"
    "&Options[0]=http://operator.com"
)


@pytest.mark.parametrize(
    ("documented", "rendered", "digits", "target"),
    [
        ("http://twimlets.com/menu?Message=Hi+There&Options[1]=http://foo.com", (FOO_Q, 1), "1", "http://foo.com"),
        ("http://twimlets.com/menu?Message=Hi+There&Options[1]=http://foo.com&Options[2]=http://bar.com", (BAR_Q, 1),
         "2", "http://bar.com"),
        (BOB, (BOB_Q, 3), "102", "http://ann.com"),
        (BOB, (BOB_Q, 3), "0", "http://operator.com"),
    ],
)  # fmt: skip
def test_menu_examples(app, documented: str, rendered: tuple[str, int], digits: str, target: str) -> None:
    kept, keys = rendered  # the query kept in follow-ups, and numDigits (the longest key)
    url = example(documented)
    xml = twimlet(app, url)
    again = f"/api/twiml/menu?{kept}&amp;Stage=choice&amp;Loop=1"
    assert xml == (
        f'{DECL}<Response><Gather action="{again}" numDigits="{keys}"><Say>Hi There</Say></Gather>'
        f"<Redirect>{again}</Redirect></Response>"
    )
    choice = attr(xml, "Gather", "action", url)
    chosen = twimlet(app, choice, {**CALL, "Digits": digits})
    assert chosen == f"{DECL}<Response><Redirect>{target}</Redirect></Response>"
    missed = twimlet(app, choice, {**CALL, "Digits": "9"})
    assert missed == (
        f"{DECL}<Response><Say>I'm sorry, that wasn't a valid option.</Say>"
        f'<Gather action="{again[:-1]}2" numDigits="{keys}"><Say>Hi There</Say></Gather>'
        f"<Redirect>{again[:-1]}2</Redirect></Response>"
    )


# findme and simulring, with the default whisper (no Message): the callee hears the caller's number


FINDME = (
    "http://twimlets.com/findme?PhoneNumbers[0]=415-555-1212&PhoneNumbers[1]=415-555-1313&PhoneNumbers[2]=415-555-1414"
)


def whisper_accepts(app, number_url: str, *, human_check: bool) -> None:
    """The callee's leg: the caller's number digit by digit; a key bridges. Silence bridges too, as on
    twimlets.com, unless the leg carries HumanCheck (findme), where it hangs up."""
    xml = twimlet(app, number_url)
    if human_check:
        assert xml == (
            f'{DECL}<Response><Gather action="/api/twiml/whisper?HumanCheck=true&amp;Stage=human-check"'
            f' numDigits="1" timeout="10"><Say>{ANNOUNCE}</Say></Gather><Hangup /></Response>'
        )
    else:
        assert xml == (
            f'{DECL}<Response><Gather action="/api/twiml/whisper?Stage=human-check" numDigits="1">'
            f"<Say>{ANNOUNCE}</Say></Gather></Response>"
        )
    check = attr(xml, "Gather", "action", number_url)
    assert twimlet(app, check, {**CALL, "Digits": "1"}) == f"{DECL}<Response />"
    # Silence: Twilio falls through the Gather to the end of the document (no action request).
    # With HumanCheck that end is <Hangup />; without, the end of the document bridges the call.
    assert xml.endswith("<Hangup /></Response>" if human_check else "</Gather></Response>")
    # And should the action come without a key, it decides the same way.
    assert twimlet(app, check, CALL) == (HANGUP if human_check else f"{DECL}<Response />")


@pytest.mark.parametrize("fail_url", [None, TRY_LATER])
def test_findme_examples_ring_each_number_in_turn(app, fail_url: str | None) -> None:
    current = example(FINDME + (f"&FailUrl={fail_url}" if fail_url else ""))
    xml = twimlet(app, current)
    dialled = []
    for _ in range(3):
        number = ET.fromstring(xml.removeprefix(DECL)).find(".//Number")  # noqa: S314
        assert number is not None
        assert 'timeout="60"' in xml
        dialled.append(number.text)
        whisper_accepts(app, attr(xml, "Number", "url", current), human_check=True)
        action = attr(xml, "Dial", "action", current)
        xml, current = twimlet(app, action, {**CALL, "DialCallStatus": "no-answer"}), action
    assert dialled == ["+14155551212", "+14155551313", "+14155551414"]
    assert xml == (PLAY_TRY_LATER if fail_url else HANGUP)


@pytest.mark.parametrize("fail_url", [None, TRY_LATER])
def test_simulring_examples_ring_everyone_at_once(app, fail_url: str | None) -> None:
    documented = FINDME.replace("findme", "simulring") + (f"&FailUrl={fail_url}" if fail_url else "")
    url = example(documented)
    xml = twimlet(app, url)
    numbers = "".join(
        f'<Number url="/api/twiml/whisper">{n}</Number>' for n in ("+14155551212", "+14155551313", "+14155551414")
    )
    assert xml.endswith(f'timeout="20">{numbers}</Dial></Response>')
    whisper_accepts(app, attr(xml, "Number", "url", url), human_check=False)
    outcome = twimlet(app, attr(xml, "Dial", "action", url), {**CALL, "DialCallStatus": "no-answer"})
    assert outcome == (PLAY_TRY_LATER if fail_url else HANGUP)


# callme: forward with a whisper (without HumanCheck, so the callee is bridged whether or not a key is pressed)

CALLME = "http://twimlets.com/callme?PhoneNumber=415-555-1212"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_callme_examples_dial_with_a_whisper_and_fail_over(app, status: str) -> None:
    for documented, fail_url in ((CALLME, None), (f"{CALLME}&FailUrl={TRY_LATER}", TRY_LATER)):
        url = example(documented)
        xml = twimlet(app, url)
        kept = "PhoneNumber=415-555-1212" + (
            "&amp;FailUrl=http%3A%2F%2Fmyapp.com%2Fplease-try-later.mp3" if fail_url else ""
        )
        assert xml == (
            f'{DECL}<Response><Dial action="/api/twiml/callme?{kept}&amp;Stage=dial-result" timeout="20">'
            '<Number url="/api/twiml/whisper">+14155551212</Number></Dial></Response>'
        )
        whisper_accepts(app, attr(xml, "Number", "url", url), human_check=False)
        action = attr(xml, "Dial", "action", url)
        assert twimlet(app, action, {**CALL, "DialCallStatus": status}) == (PLAY_TRY_LATER if fail_url else HANGUP)
        assert twimlet(app, action, {**CALL, "DialCallStatus": "completed"}) == HANGUP


def test_callme_example_as_the_url_of_an_outbound_call(app) -> None:
    """callme's use: a REST call to you with this URL; when you answer, Twilio dials PhoneNumber.

    With POST only: twimlets.com's examples often used GET, where the called party's Voice SDK or SIP
    params would share the query the configuration is read from (issue 20 point 1).
    """
    url = example(CALLME)
    outbound = {**CALL, "From": "+15005550006", "To": "+16505551212", "Direction": "outbound-api"}
    xml = twimlet(app, url, outbound)
    assert '<Number url="/api/twiml/whisper">+14155551212</Number>' in xml
    assert "<Dial" not in twimlet(app, url, method="GET")


def test_callme_refuses_a_number_outside_the_allow_list(app, configure) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="415-555-1313")
    assert twimlet(app, example(CALLME)) == (
        f"{DECL}<Response><Say>Sorry, this number is not set up correctly. Goodbye.</Say><Hangup /></Response>"
    )


# whisper: undocumented on twimlets.com (no example URLs); this app's documented example, verbatim


def test_whisper_example_of_these_docs(app) -> None:
    url = APP + "whisper?Message=Call%20from%20the%20website&HumanCheck=true"
    xml = twimlet(app, url)
    assert xml == (
        f'{DECL}<Response><Gather action="/api/twiml/whisper?Message=Call+from+the+website&amp;HumanCheck=true'
        '&amp;Stage=human-check" numDigits="1" timeout="10"><Say>Call from the website</Say>'
        "<Say>Press any key to accept this call.</Say></Gather><Hangup /></Response>"
    )
    check = attr(xml, "Gather", "action", url)
    assert twimlet(app, check, {**CALL, "Digits": "3"}) == f"{DECL}<Response />"
    assert twimlet(app, check, CALL) == HANGUP


# message, echo, holdmusic


@pytest.mark.parametrize(
    ("documented", "expected"),
    [
        ("http://twimlets.com/message?Message[0]=http://myserver.com/hello.mp3&Message[1]=Thank+You+For+Calling",
         "<Play>http://myserver.com/hello.mp3</Play><Say>Thank You For Calling</Say>"),
        ("http://twimlets.com/message?Message[0]=http://myserver.com/1.mp3&Message[1]=http://myserver.com/2.mp3"
         "&Message[2]=I+Just+Played+A+File&Message[3]=I+Just+Said+Some+Text",
         "<Play>http://myserver.com/1.mp3</Play><Play>http://myserver.com/2.mp3</Play>"
         "<Say>I Just Played A File</Say><Say>I Just Said Some Text</Say>"),
    ],
)  # fmt: skip
def test_message_examples(app, documented: str, expected: str) -> None:
    assert twimlet(app, example(documented)) == f"{DECL}<Response>{expected}</Response>"
    assert twimlet(app, example(documented), method="GET") == f"{DECL}<Response>{expected}</Response>"


def test_echo_example(app) -> None:
    url = example("http://twimlets.com/echo?Twiml=%3CResponse%3E%3CSay%3EHi+there.%3C%2FSay%3E%3C%2FResponse%3E")
    assert twimlet(app, url) == "<Response><Say>Hi there.</Say></Response>"


def test_holdmusic_example_plays_twilios_classical_bucket(app) -> None:
    url = example(
        "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
        "&Message=thankyou%20for%20waiting.%20please%20stay%20on%20the%20line"
    )
    assert twimlet(app, url) == (
        f'{DECL}<Response><Redirect method="GET">https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical'
        "&amp;Message=thankyou+for+waiting.+please+stay+on+the+line</Redirect></Response>"
    )


# voicemail (the e-mail itself is walked end to end in tests/test_mail.py)


SAID = "<Say>Please leave a message after the beep.</Say>"
MAIL_Q = "Email=somebody%40somedomain.com"


@pytest.mark.parametrize(
    ("documented", "greeting", "kept"),
    [
        ("http://twimlets.com/voicemail?Email=somebody@somedomain.com", SAID, MAIL_Q),
        ("http://twimlets.com/voicemail?Email=somebody@somedomain.com&Message=Please+Leave+A+Message",
         "<Say>Please Leave A Message</Say>", f"{MAIL_Q}&amp;Message=Please+Leave+A+Message"),
        ("http://twimlets.com/voicemail?Email=somebody@somedomain.com"
         "&Message=http://myserver.com/please-leave-message.mp3",
         "<Play>http://myserver.com/please-leave-message.mp3</Play>",
         f"{MAIL_Q}&amp;Message=http%3A%2F%2Fmyserver.com%2Fplease-leave-message.mp3"),
        ("http://twimlets.com/voicemail?Email=somebody@somedomain.com&Transcribe=false", SAID,
         f"{MAIL_Q}&amp;Transcribe=false"),
    ],
)  # fmt: skip
def test_voicemail_examples_greet_and_record(app, documented: str, greeting: str, kept: str) -> None:
    url = example(documented)
    xml = twimlet(app, url)
    base, caller = f"/api/twiml/voicemail?{kept}", "&amp;VoicemailFrom=%2B16505551212"
    transcription = (
        "" if "Transcribe=false" in kept
        else f' transcribe="true" transcribeCallback="{base}&amp;Stage=transcription{caller}"'
    )  # fmt: skip
    assert xml == (
        f'{DECL}<Response>{greeting}<Record action="{base}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{base}&amp;Stage=recording{caller}" recordingStatusCallbackEvent="completed"'
        f"{transcription} /><Hangup /></Response>"
    )
    thanks = twimlet(app, attr(xml, "Record", "action", url), {**CALL, "RecordingUrl": "https://api.twilio.com/r"})
    assert thanks == f"{DECL}<Response><Say>Thanks.  Good bye.</Say><Hangup /></Response>"
