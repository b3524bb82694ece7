"""The outbound message contract: the Python validator, and its agreement with the published JSON Schema."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from switchboard.outbound.contract import Allowed, OutboundRequest, Rejection, parse, validate
from switchboard.outbound.twilio_params import call_params, create_params, sms_params
from tools.localmachine import PROJECT_ROOT

SEED = {"type": "call", "to": "+15558675310", "say": "Hello world."}
SENDER = "+15005550006"
SCHEMA = json.loads((PROJECT_ROOT / "schemas" / "outbound-message.schema.json").read_text())
# What an operator may allow: WhatsApp (OUTBOUND_CHANNELS) and an alphanumeric sender (OUTBOUND_ALPHA_SENDERS).
ALLOWED = Allowed(channels=frozenset({"sms", "whatsapp"}), alpha_senders=frozenset({"ACME", "Owl Air"}))
WA, WA_FROM = "whatsapp:+15558675310", "whatsapp:+15005550006"
HX = "HX" + "0123456789abcdef" * 2
MG = "MG" + "a" * 32

GOOD: list[dict[str, Any]] = [
    SEED,
    {"type": "call", "id": "a-1_b.c:d", "to": "+442071838750", "from": "+15005550006", "play": "https://x.io/a.mp3"},
    {"type": "call", "to": "+15558675310", "twiml": "<Response><Say>Hi</Say></Response>", "timeout": 30},
    {"type": "call", "to": "+15558675310", "url": "http://example.com/twiml?x=1", "machine_detection": "Enable"},
    {"type": "call", "to": "+15558675310", "say": "Hi", "voice": "alice", "language": "en-GB", "record": True},
    {"type": "call", "to": "+15558675310", "say": "Hi", "timeout": 30.0},
    {"type": "sms", "to": "+15558675310", "body": "Hello"},
    {"type": "sms", "to": "+15558675310", "media_url": ["https://example.com/cat.png"]},
    {"type": "sms", "to": "+15558675310", "body": "x" * 1600, "messaging_service_sid": "MG" + "a" * 32},
    {"type": "sms", "id": "x" * 64, "to": "+15558675310", "from": "+15005550006", "body": "Hi", "media_url": [
        "https://example.com/1.png", "http://example.com/2.png"]},
    {"type": "sms", "to": WA, "from": WA_FROM, "body": "Hi", "media_url": ["https://example.com/a.png"]},
    {"type": "sms", "to": WA, "messaging_service_sid": MG, "content_sid": HX, "content_variables": {"1": "Ada"}},
    {"type": "sms", "to": WA, "from": WA_FROM, "body": "HQ", "persistent_action": ["geo:37.78789,-122.391664|HQ"]},
    {"type": "sms", "to": "+442071838750", "from": "Owl Air", "body": "Hi", "smart_encoded": True},
    {"type": "sms", "to": "+15558675310", "content_sid": HX},
    {"type": "sms", "to": "+15558675310", "body": "Hi", "validity_period": 36000, "max_price": "0.0525",
     "attempt": 2, "send_as_mms": False},
    {"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": 1},
    {"type": "sms", "to": "+15558675310", "body": "https://x.io/a", "messaging_service_sid": MG, "shorten_urls": True},
    {"type": "sms", "to": "+15558675310", "body": "Hi", "shorten_urls": False},
    {"format": "twilio-binding", "to": "+15558675310", "body": "Hi"},
    {"format": "twilio-binding", "id": "b-1", "to": "+15558675310", "contentSid": HX, "contentVariables": "{}",
     "validityPeriod": 60, "maxPrice": 0.5, "attempt": 1, "smartEncoded": True, "sendAsMms": False,
     "statusCallback": None},
    {"type": "sms", "to": "+15558675310", "body": "Hi", "send_at": "2027-01-05T09:00:00-05:00",
     "expires_at": "2027-01-05T15:30:00.5Z", "quiet_hours": False},
    {"type": "call", "to": "+15558675310", "say": "Hi", "send_at": "2027-01-05t14:00:00z", "quiet_hours": True},
    {"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "sendAt": "2027-01-05T14:00:00Z",
     "scheduleType": "fixed"},
]  # fmt: skip

BAD: list[tuple[dict[str, Any], str]] = [
    ({"to": "+15558675310", "say": "Hi"}, "type"),
    ({"type": "fax", "to": "+15558675310", "say": "Hi"}, "type"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "colour": "red"}, "unknown field"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "say": "Hi"}, "unknown field"),
    ({"type": "call", "to": "5558675310", "say": "Hi"}, "to"),
    ({"type": "call", "to": "+05558675310", "say": "Hi"}, "to"),
    ({"type": "call", "to": "+1555867531099999", "say": "Hi"}, "to"),
    ({"type": "call", "to": 15558675310, "say": "Hi"}, "to"),
    ({"type": "call", "say": "Hi"}, "to"),
    ({"type": "call", "to": "+15558675310", "from": "me", "say": "Hi"}, "from"),
    ({"type": "call", "to": "+15558675310"}, "exactly one"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "url": "https://example.com/t"}, "exactly one"),
    ({"type": "call", "to": "+15558675310", "say": ""}, "say"),
    ({"type": "call", "to": "+15558675310", "say": "x" * 4097}, "say"),
    ({"type": "call", "to": "+15558675310", "play": "ftp://example.com/a.mp3"}, "play"),
    ({"type": "call", "to": "+15558675310", "url": "javascript:alert(1)"}, "url"),
    ({"type": "call", "to": "+15558675310", "url": "https://exa mple.com/"}, "url"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "timeout": 0}, "timeout"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "timeout": 2.5}, "timeout"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "timeout": True}, "timeout"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "record": "yes"}, "record"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "machine_detection": "on"}, "machine_detection"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "language": "english please"}, "language"),
    ({"type": "call", "id": "", "to": "+15558675310", "say": "Hi"}, "id"),
    ({"type": "call", "id": "x" * 65, "to": "+15558675310", "say": "Hi"}, "id"),
    ({"type": "call", "id": "a/b", "to": "+15558675310", "say": "Hi"}, "id"),
    ({"type": "sms", "to": "+15558675310"}, "body"),
    ({"type": "sms", "to": "+15558675310", "body": "x" * 1601}, "body"),
    ({"type": "sms", "to": "+15558675310", "body": "   "}, "body"),
    ({"type": "sms", "to": "+15558675310", "media_url": []}, "media_url"),
    ({"type": "sms", "to": "+15558675310", "media_url": ["file:///etc/passwd"]}, "media_url"),
    ({"type": "sms", "to": "+15558675310", "media_url": "https://example.com/a.png"}, "media_url"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "messaging_service_sid": "MGnope"}, "messaging_service_sid"),
    ({"type": "call", "to": WA, "say": "Hi"}, "to"),
    ({"type": "call", "to": "+15558675310", "from": "ACME", "say": "Hi"}, "from"),
    ({"type": "sms", "to": "WhatsApp:+15558675310", "from": WA_FROM, "body": "Hi"}, "to"),
    ({"type": "sms", "to": WA, "from": "+15005550006", "body": "Hi"}, "from: to and from must be of one channel"),
    ({"type": "sms", "to": "+15558675310", "from": WA_FROM, "body": "Hi"}, "from: to and from must be of one channel"),
    ({"type": "sms", "to": WA, "body": "Hi"}, 'from: a WhatsApp message needs "from"'),
    ({"type": "sms", "to": "+442071838750", "from": "ACME!", "body": "Hi"}, "from: must be"),
    ({"type": "sms", "to": "+442071838750", "from": "ACMEACMEACME", "body": "Hi"}, "from: must be"),
    ({"type": "sms", "to": "+442071838750", "from": "12345", "body": "Hi"}, "from: must be"),
    ({"type": "sms", "to": WA, "from": WA_FROM, "media_url": ["https://x.io/a.png", "https://x.io/b.png"]},
     "media_url: a WhatsApp message carries 1"),
    ({"type": "sms", "to": "+15558675310", "content_sid": "HX123"}, "content_sid: must be HX"),
    ({"type": "sms", "to": "+15558675310", "content_sid": "MG" + "0" * 32}, "content_sid: must be HX"),
    ({"type": "sms", "to": "+15558675310", "content_sid": HX, "body": "Hi"}, "content_sid: a Content template"),
    ({"type": "sms", "to": "+15558675310", "content_sid": HX, "media_url": ["https://x.io/a.png"]},
     "content_sid: a Content template"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "content_variables": {"1": "x"}}, "needs content_sid"),
    ({"type": "sms", "to": "+15558675310", "content_sid": HX, "content_variables": ["x"]}, "content_variables"),
    ({"type": "sms", "to": "+15558675310", "content_sid": HX, "content_variables": {"1": 2}}, "must be a string"),
    ({"type": "sms", "to": "+15558675310", "content_sid": HX,
      "content_variables": {str(n): "x" for n in range(101)}}, "at most 100 variables"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "shorten_urls": True}, "shorten_urls: needs messaging"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "shorten_urls": "true"}, "shorten_urls: must be true or"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "smart_encoded": 1}, "smart_encoded: must be true or"),
    ({"type": "sms", "to": WA, "from": WA_FROM, "body": "Hi", "send_as_mms": True}, "send_as_mms: only for SMS"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": 0}, "max_price"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": "-1"}, "max_price"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": "1e3"}, "max_price"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": "0.12345"}, "max_price"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "max_price": True}, "max_price"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "validity_period": 0}, "validity_period"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "validity_period": 36001}, "validity_period"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "attempt": 0}, "attempt"),
    ({"type": "sms", "to": WA, "from": WA_FROM, "body": "Hi", "persistent_action": ["https://x.io/"]},
     "persistent_action: must be geo:"),
    ({"type": "sms", "to": WA, "from": WA_FROM, "body": "Hi", "persistent_action": ["geo:1,2", "geo:3,4"]},
     "persistent_action: must be a list of 1"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "persistent_action": ["geo:1,2"]},
     "persistent_action: only for WhatsApp"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "format": "twilio-binding "}, "unknown field"),
    ({"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "type": "sms"}, "unknown field"),
    ({"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "statusCallback": "https://x.io/s"},
     "statusCallback: not supported"),
    ({"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "colour": "red"}, "unknown field"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "send_at": "2027-01-05T09:00:00"}, "send_at: has no UTC"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "send_at": "2027-01-05"}, "send_at: must be an RFC 3339"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "expires_at": 1767225600}, "expires_at: must be an RFC"),
    ({"type": "sms", "to": "+15558675310", "body": "Hi", "quiet_hours": "no"}, "quiet_hours: must be true or false"),
    ({"type": "call", "to": "+15558675310", "say": "Hi", "validity_period": 60}, "unknown field"),
    ({"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "sendAt": "2027-01-05T14:00:00Z",
      "scheduleType": "later"}, "scheduleType: must be fixed"),
]  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> Draft202012Validator:
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("message", GOOD)
def test_good_messages_pass_both_validators(message: dict[str, Any], schema: Draft202012Validator) -> None:
    assert list(schema.iter_errors(message)) == []
    parsed = parse(json.dumps(message), default_id="queue-msg-1", default_from=SENDER, allowed=ALLOWED)
    assert isinstance(parsed, OutboundRequest), parsed


@pytest.mark.parametrize(("message", "reason"), BAD)
def test_bad_messages_fail_both_validators(message: dict[str, Any], reason: str, schema) -> None:
    assert list(schema.iter_errors(message)), f"schema accepted {message}"
    parsed = parse(json.dumps(message), default_id="queue-msg-1", default_from=SENDER, allowed=ALLOWED)
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason


def test_the_seed_example_is_in_the_schema_and_valid(schema: Draft202012Validator) -> None:
    assert SEED in SCHEMA["examples"]
    for example in SCHEMA["examples"]:
        assert list(schema.iter_errors(example)) == []
        assert isinstance(validate(example, default_id="m", default_from=SENDER, allowed=ALLOWED), OutboundRequest)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"hello"', "JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"type": "call", "timeout": ' + b"1" * 5000 + b"}", "not valid JSON"),  # over int's 4300 digits
    ],
)
def test_messages_that_do_not_parse_are_rejected_with_their_text(raw: bytes, reason: str) -> None:
    parsed = parse(raw, default_id="queue-msg-1", default_from=SENDER)
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason
    assert parsed.id == "queue-msg-1"
    assert not parsed.id_given


def test_the_raw_text_of_a_rejection_is_clipped() -> None:
    parsed = parse("{" + "x" * 10_000, default_id="m", default_from=SENDER)
    assert isinstance(parsed, Rejection)
    assert len(parsed.raw) == 2000
    assert parsed.raw.endswith("…")


def test_a_rejection_keeps_a_usable_id_and_the_numbers() -> None:
    parsed = parse(json.dumps({"type": "sms", "id": "ord-9", "to": "+15558675310", "body": "x", "bcc": 1}),
                   default_id="m", default_from=SENDER)  # fmt: skip
    assert isinstance(parsed, Rejection)
    assert (parsed.id, parsed.id_given, parsed.type, parsed.to) == ("ord-9", True, "sms", "+15558675310")
    bad_id = parse(json.dumps({"type": "sms", "id": "a/b", "to": "+1555"}), default_id="m", default_from=SENDER)
    assert isinstance(bad_id, Rejection)
    assert (bad_id.id, bad_id.id_given) == ("m", False)


@pytest.mark.parametrize(
    "number", ["+15558675310\n", "+1555867531\u0663", "+1 5558675310", " +15558675310", "+1555-867-5310"]
)
def test_e164_is_strict(number: str) -> None:
    message = {"type": "sms", "to": number, "body": "x"}
    assert isinstance(parse(json.dumps(message), default_id="m", default_from=SENDER), Rejection)


@pytest.mark.parametrize(
    ("twiml", "reason"),
    [
        ("<Response><Say>Hi</Say>", "well-formed"),
        ("<Say>Hi</Say>", "<Response>"),
        ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>', "DTD"),
        ("<!doctype Response><Response/>", "DTD"),
        ("plain text", "well-formed"),
    ],
)
def test_twiml_must_parse_with_a_response_root(twiml: str, reason: str) -> None:
    parsed = parse(json.dumps({"type": "call", "to": "+15558675310", "twiml": twiml}), default_id="m")
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason


def test_from_defaults_to_the_phone_number_setting_and_is_required_without_it() -> None:
    request = validate(SEED, default_id="m", default_from=SENDER)
    assert (request.id, request.from_, request.id_given) == ("m", SENDER, False)
    with pytest.raises(ValueError, match="TWILIO_PHONE_NUMBER"):
        validate(SEED, default_id="m", default_from=None)
    service = {"type": "sms", "to": "+15558675310", "body": "x", "messaging_service_sid": "MG" + "0" * 32}
    assert validate(service, default_id="m", default_from=None).from_ is None


def test_call_params_send_say_inline_with_status_callbacks() -> None:
    request = validate({**SEED, "id": "r1", "voice": "alice"}, default_id="m", default_from=SENDER)
    assert call_params(request, "https://sb.example.net") == {
        "to": "+15558675310",
        "from_": SENDER,
        "twiml": '<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice">Hello world.</Say></Response>',
        "status_callback": "https://sb.example.net/api/voice/status?request_id=r1",
        "status_callback_method": "POST",
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
    }


def test_call_params_for_play_url_and_twiml() -> None:
    play = validate({"type": "call", "to": "+15558675310", "play": "https://x.io/a.mp3", "timeout": 20},
                    default_id="m", default_from=SENDER)  # fmt: skip
    params = call_params(play, None)
    assert params["twiml"].endswith("<Response><Play>https://x.io/a.mp3</Play></Response>")
    assert params["timeout"] == 20
    assert "status_callback" not in params
    url = validate({"type": "call", "to": "+15558675310", "url": "https://x.io/t"}, default_id="m", default_from=SENDER)
    assert create_params(url, None)["url"] == "https://x.io/t"
    twiml = "<Response><Hangup/></Response>"
    inline = validate({"type": "call", "to": "+15558675310", "twiml": twiml}, default_id="m", default_from=SENDER)
    assert call_params(inline, None)["twiml"] == twiml


def test_sms_params() -> None:
    request = validate(
        {"type": "sms", "id": "s1", "to": "+15558675310", "body": "Hi", "media_url": ["https://x.io/a.png"]},
        default_id="m", default_from=SENDER,
    )  # fmt: skip
    assert sms_params(request, "https://sb.example.net/") == {
        "to": "+15558675310",
        "from_": SENDER,
        "body": "Hi",
        "media_url": ["https://x.io/a.png"],
        "status_callback": "https://sb.example.net/api/sms/status?request_id=s1",
    }


def test_whatsapp_and_alphanumeric_senders_are_the_operators_choice() -> None:
    whatsapp = {"type": "sms", "to": WA, "from": WA_FROM, "body": "Hi"}
    refused = parse(json.dumps(whatsapp), default_id="m", default_from=SENDER)
    assert isinstance(refused, Rejection)
    assert refused.reason == "to: a whatsapp: address needs OUTBOUND_CHANNELS to include whatsapp"
    assert (refused.to, refused.from_) == (WA, WA_FROM)
    alpha = {"type": "sms", "to": "+442071838750", "from": "ACME", "body": "Hi"}
    unlisted = parse(json.dumps(alpha), default_id="m", default_from=SENDER)
    assert isinstance(unlisted, Rejection)
    assert unlisted.reason == "from: the alphanumeric sender 'ACME' is not in OUTBOUND_ALPHA_SENDERS"
    assert validate(alpha, default_id="m", allowed=ALLOWED).from_ == "ACME"
    case = parse(json.dumps({**alpha, "from": "acme"}), default_id="m", allowed=ALLOWED)
    assert isinstance(case, Rejection)  # sender IDs are listed as they are shown
    for home in ("+15558675310", "+14165550123"):  # the US, Canada
        nowhere = parse(json.dumps({**alpha, "to": home}), default_id="m", allowed=ALLOWED)
        assert isinstance(nowhere, Rejection)
        assert "cannot send to the US or Canada" in nowhere.reason


def test_content_variables_are_at_most_16_kib_as_json() -> None:
    message = {"type": "sms", "to": "+15558675310", "content_sid": HX}
    fits = {"1": "x" * (16 * 1024 - len('{"1":""}'))}
    assert validate(
        {**message, "content_variables": fits}, default_id="m", default_from=SENDER
    ).content_variables == json.dumps(fits, separators=(",", ":"))
    over = {"1": "x" * (16 * 1024 - len('{"1":""}') + 1)}
    with pytest.raises(ValueError, match="longer than 16 KiB"):
        validate({**message, "content_variables": over}, default_id="m", default_from=SENDER)
    wide = {"1": "é" * (8 * 1024)}  # counted in UTF-8 bytes, not characters
    with pytest.raises(ValueError, match="longer than 16 KiB"):
        validate({**message, "content_variables": wide}, default_id="m", default_from=SENDER)


def test_the_binding_format_maps_onto_the_same_request() -> None:
    native = validate(
        {"type": "sms", "id": "b-1", "to": "+15558675310", "body": "Hi", "validity_period": 60, "max_price": "0.05",
         "smart_encoded": True, "media_url": ["https://x.io/a.png"]},
        default_id="m", default_from=SENDER,
    )  # fmt: skip
    converted = validate(
        {"format": "twilio-binding", "id": "b-1", "TO": "+15558675310", "Body": "Hi", "validityPeriod": "60",
         "maxPrice": 0.05, "smartEncoded": "TRUE", "mediaurl": ["https://x.io/a.png"], "sendAt": None,
         "statusCallback": ""},
        default_id="m", default_from=SENDER,
    )  # fmt: skip
    assert converted == replace(native, format="twilio-binding")
    assert converted.summary() == {**native.summary(), "format": "twilio-binding"}


@pytest.mark.parametrize(
    ("given", "field", "value"),
    [
        ({"to": 15558675310}, "to", None),  # a number's text, as JToken.Value<string>, then not E.164
        ({"validityPeriod": "+600"}, "validity_period", 600),
        ({"validityPeriod": 600.0}, "validity_period", 600),
        ({"attempt": " 7 "}, "attempt", 7),
        ({"smartEncoded": " false "}, "smart_encoded", False),
        ({"smartEncoded": 2}, "smart_encoded", True),  # Convert.ToBoolean: not zero
        ({"smartEncoded": 0}, "smart_encoded", False),
        ({"maxPrice": "0.050"}, "max_price", "0.050"),  # .NET's decimal keeps its scale
        ({"maxPrice": 2}, "max_price", "2"),
        ({"body": 1234}, "body", "1234"),
    ],
)
def test_binding_values_convert_as_the_converter_converts_them(given: dict[str, Any], field: str, value) -> None:
    message = {"format": "twilio-binding", "to": "+15558675310", "body": "Hi", **given}
    parsed = parse(json.dumps(message), default_id="m", default_from=SENDER)
    if value is None:
        assert isinstance(parsed, Rejection)
        assert parsed.reason.startswith(f"{field}: must be an E.164")
    else:
        assert isinstance(parsed, OutboundRequest), parsed
        assert getattr(parsed, field) == value


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"validityPeriod": "ten"}, "validityPeriod: must be a whole number"),
        ({"ValidityPeriod": 2**31}, "ValidityPeriod: must be a whole number that fits in 32 bits"),
        ({"smartEncoded": "yes"}, "smartEncoded: must be true or false"),
        ({"maxPrice": "1,5"}, "maxPrice: must be a decimal number"),
        ({"maxPrice": "0.00001"}, "maxPrice: must be a positive decimal of at most 4 places"),
        ({"body": True}, "body: must be a string"),
        ({"persistentAction": "geo:1,2"}, "persistentAction: must be an array of strings"),
        ({"mediaUrl": [None]}, "mediaUrl: must be an array of strings"),
        ({"Attempt": 0}, "Attempt: must be between 1 and 1000"),
        ({"scheduleType": "fixed"}, "scheduleType: needs sendAt"),
        ({"scheduleType": "later", "sendAt": "2030-01-01T00:00:00Z"}, "scheduleType: must be fixed"),
        ({"SendAt": "2030-01-01T00:00:00"}, "SendAt: has no UTC offset"),
        ({"body": "Hi", "Body": "Ho"}, "body: given twice (body, Body)"),
        ({"id": "a/b"}, "id: must be 1-64 characters"),
        ({"Id": "x"}, "unknown field for the twilio-binding format: Id"),
    ],
)
def test_binding_refusals_name_the_option_as_given(given: dict[str, Any], reason: str) -> None:
    parsed = parse(json.dumps({"format": "twilio-binding", "to": "+15558675310", "body": "Hi", **given}),
                   default_id="m", default_from=SENDER)  # fmt: skip
    assert isinstance(parsed, Rejection)
    assert parsed.reason.startswith(reason), parsed.reason
    assert (parsed.type, parsed.to) == ("sms", "+15558675310")


def test_sms_params_carry_every_option_and_count_the_workers_attempts_on() -> None:
    request = validate(
        {"type": "sms", "id": "s2", "to": WA, "messaging_service_sid": MG, "content_sid": HX,
         "content_variables": {"1": "Ada"}, "shorten_urls": True, "smart_encoded": False, "max_price": "0.5",
         "validity_period": 600, "attempt": 2},
        default_id="m", default_from=SENDER, allowed=ALLOWED,
    )  # fmt: skip
    assert sms_params(request, None, attempts=3) == {
        "to": WA, "messaging_service_sid": MG, "content_sid": HX, "content_variables": '{"1":"Ada"}',
        "shorten_urls": True, "smart_encoded": False, "max_price": "0.5", "validity_period": 600, "attempt": 4,
    }  # fmt: skip
    assert sms_params(request, None)["attempt"] == 2
    located = validate({"type": "sms", "to": WA, "from": WA_FROM, "body": "HQ", "persistent_action": ["geo:1,2|HQ"]},
                       default_id="m", allowed=ALLOWED)  # fmt: skip
    assert sms_params(located, None)["persistent_action"] == ["geo:1,2|HQ"]
    assert located.summary()["persistent_action"] == ["geo:1,2|HQ"]
    assert (located.channel, located.number) == ("whatsapp", "+15558675310")


def test_event_grid_and_cloudevents_envelopes_are_refused_naming_the_envelope() -> None:
    from cloudevents.v1.conversion import to_structured
    from cloudevents.v1.http import CloudEvent

    from switchboard.outbound.contract import Rejection, parse

    request = {"type": "sms", "to": "+15558675310", "body": "hi"}
    _, structured = to_structured(CloudEvent({"type": "com.example.sms", "source": "/orders"}, request))
    event_grid = {
        "id": "evt-1", "eventType": "Example.Sms", "subject": "orders/1", "dataVersion": "1.0",
        "eventTime": "2026-12-07T09:00:00Z", "data": request,
    }  # fmt: skip
    for body, named in ((structured, "CloudEvents 1.0 envelope"), (json.dumps(event_grid).encode(), "Event Grid")):
        result = parse(body, default_id="queue-message-1")
        assert isinstance(result, Rejection)
        assert named in result.reason
        assert result.id == "queue-message-1"
