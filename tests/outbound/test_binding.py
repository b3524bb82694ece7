"""The Azure Functions Twilio binding's JSON on the outbound queue: one test per option name of its converter
(Microsoft.Azure.WebJobs.Extensions.Twilio, CreateMessageOptions), through the worker and the real SDK to the
emulator, whose form parameters must be what the binding would have sent and what Twilio's OpenAPI allows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard.outbound import binding
from tests.openapi import form_problems, require_spec
from tests.outbound.conftest import deliver, new_id, record, tagged
from tests.support import PHONE_NUMBER
from tools.emulator.rest import TwilioEmulator

MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
TO = "+15558675310"
SERVICE = "MG" + "0123456789abcdef" * 2
TEMPLATE = "HX" + "fedcba9876543210" * 2
WA_TO, WA_FROM = "whatsapp:+15558675310", "whatsapp:+15005550006"

# option name -> (the binding JSON, beyond "format" and "id"; the form parameters Twilio must get for it).
# The parameter is the option's name as CreateMessageOptions sends it (PascalCase); the values are its text.
SENT: dict[str, tuple[dict[str, Any], dict[str, list[str]]]] = {
    "to": ({"to": TO, "body": "Hi"}, {"To": [TO], "From": [PHONE_NUMBER], "Body": ["Hi"]}),
    "from": ({"to": TO, "from": "+15005550010", "body": "Hi"}, {"From": ["+15005550010"]}),
    "body": ({"to": TO, "body": "Your order has shipped."}, {"Body": ["Your order has shipped."]}),
    "mediaUrl": (
        {"to": TO, "mediaUrl": ["https://example.com/a.png", "https://example.com/b.png"]},
        {"MediaUrl": ["https://example.com/a.png", "https://example.com/b.png"]},
    ),
    "messagingServiceSid": (
        {"to": TO, "body": "Hi", "messagingServiceSid": SERVICE},
        {"MessagingServiceSid": [SERVICE]},
    ),
    "validityPeriod": ({"to": TO, "body": "Hi", "validityPeriod": 600}, {"ValidityPeriod": ["600"]}),
    "maxPrice": ({"to": TO, "body": "Hi", "maxPrice": 0.05}, {"MaxPrice": ["0.05"]}),
    "attempt": ({"to": TO, "body": "Hi", "attempt": 2}, {"Attempt": ["2"]}),
    "smartEncoded": ({"to": TO, "body": "Hi", "smartEncoded": True}, {"SmartEncoded": ["true"]}),
    "shortenUrls": (
        {"to": TO, "body": "https://example.com/a/long/link", "messagingServiceSid": SERVICE, "shortenUrls": True},
        {"ShortenUrls": ["true"], "MessagingServiceSid": [SERVICE]},
    ),
    "sendAsMms": ({"to": TO, "body": "A long text, one MMS", "sendAsMms": True}, {"SendAsMms": ["true"]}),
    "contentSid": ({"to": TO, "contentSid": TEMPLATE}, {"ContentSid": [TEMPLATE]}),
    "contentVariables": (
        # The converter passes the string through: Twilio gets the producer's text, spaces and all.
        {"to": TO, "contentSid": TEMPLATE, "contentVariables": '{"1": "Ada", "2": "3pm"}'},
        {"ContentSid": [TEMPLATE], "ContentVariables": ['{"1": "Ada", "2": "3pm"}']},
    ),
    "persistentAction": (
        {
            "to": WA_TO,
            "from": WA_FROM,
            "body": "Twilio HQ",
            "persistentAction": ["geo:37.787890,-122.391664|375 Beale St"],
        },
        {"To": [WA_TO], "From": [WA_FROM], "PersistentAction": ["geo:37.787890,-122.391664|375 Beale St"]},
    ),
}
# option name -> (a value, what the rejection's reason says)
REFUSED: dict[str, tuple[Any, str]] = {
    "statusCallback": ("https://producer.example.com/status", "GET /api/records/{id}"),
    "applicationSid": ("AP" + "0" * 32, "GET /api/records/{id}"),
    "forceDelivery": (True, "reserved"),
    "provideFeedback": (True, "Message Feedback"),
    "pathAccountSid": ("AC" + "1" * 32, "TWILIO_ACCOUNT_SID"),
    "contentRetention": ("discard", "RETENTION_DAYS"),
    "addressRetention": ("obfuscate", "RETENTION_DAYS"),
}


def test_every_option_of_the_converter_has_a_test() -> None:
    assert set(SENT) == set(binding.MAPPED)
    assert set(REFUSED) == set(binding.REFUSED)


def _twilio_name(option: str) -> str:
    """CreateMessageOptions' parameter for a binding option: `validityPeriod` -> `ValidityPeriod`."""
    return option[0].upper() + option[1:]


@pytest.mark.parametrize("option", SENT)
def test_each_option_reaches_twilio_as_the_binding_sent_it(app, twilio: TwilioEmulator, configure, option) -> None:
    require_spec()
    configure(OUTBOUND_CHANNELS="sms,whatsapp")
    given, expected = SENT[option]
    request_id = new_id()
    deliver(app, {"format": "twilio-binding", "id": request_id, **given})
    stored = record(app, request_id)
    assert stored["status"] in ("queued", "accepted"), stored  # accepted: through a Messaging Service
    [form] = twilio.created("messages")
    assert _twilio_name(option) in form
    assert {name: form.get(name) for name in expected} == expected
    assert form_problems(MESSAGES, "post", form) == []
    # Nothing else the producer did not ask for, beyond our own StatusCallback and the default sender.
    asked = {_twilio_name(name) for name in given} | {"StatusCallback", "From"}
    assert set(form) <= asked, set(form) - asked
    assert stored["request"]["format"] == "twilio-binding"


def test_names_match_ignoring_case_and_values_convert_as_the_converter_converts_them(
    app, twilio: TwilioEmulator
) -> None:
    request_id = new_id()
    deliver(app, {"format": "twilio-binding", "id": request_id, "To": TO, "BODY": "Hi", "ValidityPeriod": " 60 ",
                  "smartencoded": "True", "maxprice": "0.0500", "Attempt": 3.0, "statusCallback": None,
                  "from": ""})  # fmt: skip
    [form] = twilio.created("messages")
    assert {name: form[name] for name in ("To", "From", "Body", "ValidityPeriod", "SmartEncoded", "MaxPrice")} == {
        "To": [TO], "From": [PHONE_NUMBER], "Body": ["Hi"], "ValidityPeriod": ["60"], "SmartEncoded": ["true"],
        "MaxPrice": ["0.0500"],
    }  # fmt: skip
    assert form["Attempt"] == ["3"]
    assert form_problems(MESSAGES, "post", form) == []
    assert record(app, request_id)["status"] == "queued"


@pytest.mark.parametrize("option", REFUSED)
def test_options_switchboard_does_not_carry_are_refused_with_the_reason(app, twilio: TwilioEmulator, option) -> None:
    value, why = REFUSED[option]
    request_id = new_id()
    deliver(app, {"format": "twilio-binding", "id": request_id, "to": TO, "body": "Hi", option: value})
    stored = record(app, request_id)
    assert stored["status"] == "rejected"
    assert stored["reason"].startswith(f"{option}: ")
    assert why in stored["reason"]
    assert twilio.attempts("messages") == []


def test_a_status_callback_points_at_the_records_and_the_app_keeps_its_own(app, twilio: TwilioEmulator) -> None:
    refused = new_id()
    deliver(app, {"format": "twilio-binding", "id": refused, "to": TO, "body": "Hi",
                  "statusCallback": "https://producer.example.com/status"})  # fmt: skip
    assert "status and its events" in record(app, refused)["reason"]
    sent = new_id()
    deliver(app, {"format": "twilio-binding", "id": sent, "to": TO, "body": "Hi", "statusCallback": ""})
    [form] = twilio.created("messages")
    assert form["StatusCallback"] == [
        f"https://switchboard.example.net/api/sms/status{tagged('/api/sms/status', sent)}"
    ]


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"to": TO, "body": "Hi", "validityPeriod": 36001}, "validityPeriod: must be between 1 and 36000"),
        ({"to": TO, "body": "Hi", "validityPeriod": 60.5}, "validityPeriod: must be a whole number"),
        ({"to": TO, "body": "Hi", "maxPrice": "0.00001"}, "maxPrice: must be a positive decimal"),
        ({"to": TO, "body": "Hi", "contentSid": TEMPLATE}, "contentSid: a Content template carries its own text"),
        ({"to": TO, "contentSid": TEMPLATE, "contentVariables": {"1": "x"}}, "contentVariables: must be a string"),
        ({"to": TO, "contentSid": TEMPLATE, "contentVariables": "[1]"}, "contentVariables: must be a JSON object"),
        ({"to": TO, "body": "Hi", "shortenUrls": True}, "shortenUrls: needs messaging_service_sid"),
        ({"to": TO, "body": "Hi", "mediaUrl": "https://example.com/a.png"}, "mediaUrl: must be an array"),
        ({"to": TO, "body": "Hi", "colour": "red"}, "unknown field for the twilio-binding format: colour"),
        ({"to": TO, "To": "+15558675311", "body": "Hi"}, "to: given twice (to, To)"),
        ({"body": "Hi"}, "to: must be an E.164"),
    ],
)
def test_what_the_contract_refuses_is_named_as_the_producer_spelt_it(
    app, twilio: TwilioEmulator, given: dict[str, Any], reason: str
) -> None:
    request_id = new_id()
    deliver(app, {"format": "twilio-binding", "id": request_id, **given})
    stored = record(app, request_id)
    assert stored["status"] == "rejected"
    assert reason in stored["reason"], stored["reason"]
    assert twilio.attempts("messages") == []


def _post(app, payload: dict[str, object]) -> tuple[int, dict[str, object], str | None]:
    from tests.support import PUBLIC_BASE_URL, function, http_request
    from tools.devhost.invoke import Out

    out = Out()
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/outbound", headers={"Content-Type": "application/json"},
                           body=json.dumps(payload).encode())  # fmt: skip
    response = function(app, "outbound_enqueue")(request, out)
    return response.status_code, json.loads(response.get_body()), out.get()


def test_the_http_face_takes_the_binding_format_too(app, twilio: TwilioEmulator) -> None:
    status, answer, queued = _post(app, {"format": "twilio-binding", "to": TO, "body": "Hi", "validityPeriod": 120})
    assert status == 202, answer
    assert queued is not None
    assert json.loads(queued) == {"format": "twilio-binding", "to": TO, "body": "Hi", "validityPeriod": 120,
                                  "id": answer["id"]}  # fmt: skip
    deliver(app, queued)
    [form] = twilio.created("messages")
    assert form["ValidityPeriod"] == ["120"]
    status, answer, queued = _post(app, {"format": "twilio-binding", "to": TO, "body": "Hi", "sendAt": "2030-01-01"})
    assert (status, queued) == (400, None)
    assert str(answer["error"]).startswith("sendAt: must be an RFC 3339 date and time with its UTC offset"), answer


def test_the_openapi_check_does_refuse_what_twilio_would_not_take() -> None:
    """Without this, the form checks above would prove nothing."""
    require_spec()
    good = {"To": [TO], "ValidityPeriod": ["600"], "ShortenUrls": ["true"], "ContentSid": [TEMPLATE]}
    assert form_problems(MESSAGES, "post", good) == []
    bad = {"To": [TO], "ValidityPeriod": ["ten"], "ShortenUrls": ["yes"], "ContentSid": ["HX1"], "Colour": ["red"],
           "MaxPrice": ["cheap"], "Body": ["a", "b"]}  # fmt: skip
    problems = form_problems(MESSAGES, "post", bad)
    assert sorted({problem.split(":")[0] for problem in problems}) == [
        "Body", "Colour", "ContentSid", "MaxPrice", "ShortenUrls", "ValidityPeriod",
    ]  # fmt: skip
    assert "ContentSid: 'HX1' does not match '^HX[0-9a-fA-F]{32}$'" in problems
