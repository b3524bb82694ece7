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


def test_twilio_fields_come_from_the_query_when_twilio_uses_get(app) -> None:
    # A number configured for GET: Twilio appends its fields (Digits, From...) to the URL it signs.
    path = "conference?Name=Board&Password=4321&Stage=password&Attempt=1&CallSid=CA1&From=%2B15550001111&Digits=4321"
    url = f"{BASE}/{path}"
    request = http_request("GET", url, headers={"X-Twilio-Signature": twilio_signature(url)},
                           route_params={"name": "conference"})  # fmt: skip
    assert xml_of(function(app, "twiml_twimlet")(request)) == (
        f"{XML_DECLARATION}<Response>{WELCOME}<Dial><Conference>Board</Conference></Dial></Response>"
    )


def test_a_query_field_named_like_twilios_does_not_stand_in_for_the_form_on_post(app) -> None:
    # `Digits` belongs to Twilio: on POST it is read from the form only, never from the URL.
    xml = post(app, "conference?Name=Board&Password=4321&Stage=password&Attempt=1&Digits=4321", CALL)
    assert "<Conference" not in xml
    assert "That password is not correct." in xml
