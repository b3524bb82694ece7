"""The outbound message contract: the Python validator, and its agreement with the published JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from switchboard.outbound.contract import OutboundRequest, Rejection, parse, validate
from switchboard.outbound.twilio_params import call_params, create_params, sms_params
from tools.localmachine import PROJECT_ROOT

SEED = {"type": "call", "to": "+15558675310", "say": "Hello world."}
SENDER = "+15005550006"
SCHEMA = json.loads((PROJECT_ROOT / "schemas" / "outbound-message.schema.json").read_text())

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
]


@pytest.fixture(scope="module")
def schema() -> Draft202012Validator:
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("message", GOOD)
def test_good_messages_pass_both_validators(message: dict[str, Any], schema: Draft202012Validator) -> None:
    assert list(schema.iter_errors(message)) == []
    parsed = parse(json.dumps(message), default_id="queue-msg-1", default_from=SENDER)
    assert isinstance(parsed, OutboundRequest), parsed


@pytest.mark.parametrize(("message", "reason"), BAD)
def test_bad_messages_fail_both_validators(message: dict[str, Any], reason: str, schema) -> None:
    assert list(schema.iter_errors(message)), f"schema accepted {message}"
    parsed = parse(json.dumps(message), default_id="queue-msg-1", default_from=SENDER)
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason


def test_the_seed_example_is_in_the_schema_and_valid(schema: Draft202012Validator) -> None:
    assert SEED in SCHEMA["examples"]
    for example in SCHEMA["examples"]:
        assert list(schema.iter_errors(example)) == []
        assert isinstance(validate(example, default_id="m", default_from=SENDER), OutboundRequest)


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
