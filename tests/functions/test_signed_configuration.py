"""The signed URL is the configuration: extra form fields, validly signed, change nothing.

Twilio signs the URL plus every POSTed field, and Twilio's Voice SDK posts caller-chosen
`params` to the TwiML App's URL. So an attacker can produce a *valid* signature for the
configured URL plus fields of their choosing. Every request here is signed for real
(RequestValidator over URL + form); each extra field once changed the TwiML.
"""

from __future__ import annotations

import pytest

from tests.support import (
    PUBLIC_BASE_URL,
    XML_DECLARATION,
    function,
    http_request,
    signed_form,
    twilio_signature,
    xml_of,
)

BASE = f"{PUBLIC_BASE_URL}/api/twiml"
CALL = {"CallSid": "CA" + "d" * 32, "From": "+15550001111", "To": "+15005550006", "CallStatus": "in-progress"}
EVIL = "https://evil.example/twiml"
WELCOME = "<Say>You are now entering the conference line.</Say>"


def post(app, path_and_query: str, form: dict[str, str]) -> str:
    url = f"{BASE}/{path_and_query}"
    name = path_and_query.split("?", 1)[0]
    headers, body = signed_form(url, list(form.items()))
    route = "twiml_message" if name == "message" else "twiml_twimlet"
    request = http_request("POST", url, headers=headers, body=body, route_params={"name": name})
    return xml_of(function(app, route)(request))


CASES = [
    pytest.param(
        # Join another room and skip its password.
        "conference?Name=Lobby",
        {"Name": "Board"},
        f"{XML_DECLARATION}<Response>{WELCOME}<Dial><Conference>Lobby</Conference></Dial></Response>",
        id="Name",
    ),
    pytest.param(
        "conference?Name=Lobby",
        {"Music": EVIL},
        f"{XML_DECLARATION}<Response>{WELCOME}<Dial><Conference>Lobby</Conference></Dial></Response>",
        id="Music",
    ),
    pytest.param(
        # An off-site <Redirect>: arbitrary TwiML, around the dial allow-list.
        "forward?PhoneNumber=%2B15551234567&Stage=dial-result",
        {"DialCallStatus": "busy", "FailUrl": EVIL},
        f"{XML_DECLARATION}<Response><Hangup /></Response>",
        id="FailUrl",
    ),
    pytest.param(
        "message?Message=Hello",
        {"Message": "Transfer your savings now"},
        f"{XML_DECLARATION}<Response><Say>Hello</Say></Response>",
        id="Message",
    ),
    pytest.param(
        "whisper?Message=Sales+call",
        {"Message": EVIL + ".mp3"},
        f'{XML_DECLARATION}<Response><Gather action="/api/twiml/whisper?Message=Sales+call&amp;Stage=human-check"'
        ' numDigits="1"><Say>Sales call</Say></Gather></Response>',
        id="whisper-Message",
    ),
    pytest.param(
        # Turn off the key check, so a voicemail box answering the callee's phone takes the call.
        "whisper?HumanCheck=true&Stage=human-check",
        {"HumanCheck": "false"},
        f"{XML_DECLARATION}<Response><Hangup /></Response>",
        id="whisper-HumanCheck",
    ),
    pytest.param(
        # Dial somewhere else, or send the caller elsewhere when nobody answers.
        "callme?PhoneNumber=%2B15551234567",
        {"PhoneNumber": "+15559990000", "Message": "Transfer your savings now", "Timeout": "600"},
        f'{XML_DECLARATION}<Response><Dial action="/api/twiml/callme?PhoneNumber=%2B15551234567&amp;Stage=dial-result"'
        ' timeout="20"><Number url="/api/twiml/whisper">+15551234567</Number></Dial></Response>',
        id="callme-PhoneNumber",
    ),
    pytest.param(
        "callme?PhoneNumber=%2B15551234567&Stage=dial-result",
        {"DialCallStatus": "busy", "FailUrl": EVIL},
        f"{XML_DECLARATION}<Response><Hangup /></Response>",
        id="callme-FailUrl",
    ),
    pytest.param(
        "menu?Options%5B1%5D=https%3A%2F%2Fexample.net%2Fsales&Stage=choice&Loop=3",
        {"Options[9]": EVIL},
        f"{XML_DECLARATION}<Response><Say>Goodbye.</Say><Hangup /></Response>",
        id="Options",
    ),
]


@pytest.mark.parametrize(("query", "extra", "expected"), CASES)
def test_extra_signed_form_fields_do_not_change_the_twiml(app, configure, query, extra, expected) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="+1555*")
    assert post(app, query, CALL) == expected
    assert post(app, query, {**CALL, **extra}) == expected


def test_a_posted_option_cannot_add_a_menu_target(app) -> None:
    query = "menu?Options%5B1%5D=https%3A%2F%2Fexample.net%2Fsales&Stage=choice&Loop=3"
    assert post(app, query, {**CALL, "Digits": "9", "Options[9]": EVIL}) == (
        f"{XML_DECLARATION}<Response><Say>I'm sorry, that wasn't a valid option.</Say><Say>Goodbye.</Say>"
        "<Hangup /></Response>"
    )


def test_echo_serves_the_signed_twiml_not_a_posted_one(app, configure) -> None:
    configure(TWIML_ECHO_ENABLED="true")
    query = "echo?Twiml=%3CResponse%3E%3CSay%3EHi%3C%2FSay%3E%3C%2FResponse%3E"
    injected = {**CALL, "Twiml": "<Response><Dial>+19005550100</Dial></Response>"}
    assert post(app, query, injected) == "<Response><Say>Hi</Say></Response>"


def test_a_posted_password_field_cannot_open_a_protected_room(app) -> None:
    # The caller brings their own Password and the digits to match it.
    query = "conference?Name=Board&Password=4321&Stage=password&Attempt=1"
    xml = post(app, query, {**CALL, "Password": "999", "Digits": "999"})
    assert "<Conference" not in xml
    assert "That password is not correct." in xml


def _get(app, path: str, name: str):
    url = f"{BASE}/{path}"
    request = http_request("GET", url, headers={"X-Twilio-Signature": twilio_signature(url)},
                           route_params={"name": name})  # fmt: skip
    return function(app, "twiml_twimlet")(request)


MISCONFIGURED = (
    f"{XML_DECLARATION}<Response><Say>Sorry, this number is not set up correctly. Goodbye.</Say><Hangup /></Response>"
)


def test_a_twimlet_that_dials_joins_or_redirects_refuses_get(app, configure, caplog) -> None:
    """Issue 20 point 1: on GET Twilio signs its fields and a Voice SDK client's own params into the query.

    Before, a caller-chosen `FailUrl` turned forward into a <Redirect> to any TwiML, and `Name=Board` with
    the PIN's digits joined a PIN-protected conference with no prompt.
    """
    import logging

    configure(FORWARD_ALLOWED_DESTINATIONS="+1555*")
    injected = [
        ("forward", "forward?PhoneNumber=%2B15551234567&Stage=dial-result&CallSid=CA1&DialCallStatus=busy"
                    "&FailUrl=https%3A%2F%2Fevil.example%2Ftwiml"),
        ("conference", "conference?Name=Board&Password=4321&Stage=password&Attempt=1&CallSid=CA1&Digits=4321"),
        ("menu", "menu?Options%5B1%5D=https%3A%2F%2Fevil.example%2F1&Stage=choice&Digits=1"),
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        for name, path in injected:
            assert xml_of(_get(app, path, name)) == MISCONFIGURED, name
    assert "configure it with HTTP POST" in caplog.text


def test_hold_music_still_takes_get(app, configure) -> None:
    """Twilio fetches a Conference's waitUrl with GET: holdmusic only plays to that caller, so it keeps GET."""
    path = "holdmusic?Url=https%3A%2F%2Fexample.net%2Fa.mp3&CallSid=CA1&QueuePosition=1"
    xml = xml_of(_get(app, path, "holdmusic"))
    assert "<Play>https://example.net/a.mp3</Play>" in xml


def test_a_query_field_named_like_twilios_does_not_stand_in_for_the_form_on_post(app) -> None:
    # `Digits` belongs to Twilio: on POST it is read from the form only, never from the URL.
    xml = post(app, "conference?Name=Board&Password=4321&Stage=password&Attempt=1&Digits=4321", CALL)
    assert "<Conference" not in xml
    assert "That password is not correct." in xml
