"""switchboard.client: messages that match the published contract, base64 on a real (Azurite) queue."""

from __future__ import annotations

import base64
import importlib
import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from switchboard import client

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "outbound-message.schema.json"


def contract_validator() -> Any:
    if not SCHEMA_PATH.exists():
        pytest.skip(f"{SCHEMA_PATH.name} is not in this checkout yet (it is published with the outbound worker)")
    # Imported by name: jsonschema ships without type stubs.
    draft202012 = importlib.import_module("jsonschema").Draft202012Validator
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    draft202012.check_schema(schema)
    return draft202012(schema)


MESSAGES = [
    pytest.param(client.call_message("+15558675310", say="Hello world."), id="hello-world-call"),
    pytest.param(
        client.call_message(
            "+15558675310",
            play="https://example.com/a.mp3",
            from_="+15005550006",
            request_id="c-1",
            voice="alice",
            language="en-US",
            timeout=30,
            machine_detection="Enable",
            record=True,
        ),
        id="call-all-options",
    ),
    pytest.param(client.call_message("+15558675310", twiml="<Response><Hangup/></Response>"), id="call-twiml"),
    pytest.param(client.call_message("+15558675310", url="https://example.com/twiml"), id="call-url"),
    pytest.param(client.sms_message("+15558675310", body="Your order has shipped."), id="sms"),
    pytest.param(
        client.sms_message(
            "+15558675310",
            media_url=["https://example.com/a.png"],
            request_id="order-1234:shipped",
            messaging_service_sid="MG" + "0" * 32,
        ),
        id="mms-service",
    ),
    pytest.param(
        client.sms_message(
            "whatsapp:+15558675310", from_="whatsapp:+15005550006", content_sid="HX" + "0" * 32,
            content_variables={"1": "1234"}, validity_period=600, max_price="0.05", attempt=1,
        ),
        id="whatsapp-template",
    ),
    pytest.param(
        client.sms_message("whatsapp:+15558675310", from_="whatsapp:+15005550006", body="HQ",
                           persistent_action=["geo:37.787890,-122.391664|375 Beale St"]),
        id="whatsapp-location",
    ),
    pytest.param(client.sms_message("+442071838750", from_="Owl Air", body="Hi", smart_encoded=True), id="alpha"),
    pytest.param(
        client.sms_message("+15558675310", body="https://example.com/x", messaging_service_sid="MG" + "0" * 32,
                           shorten_urls=True, send_as_mms=False),
        id="shortened",
    ),
    pytest.param(
        client.sms_message("+15558675310", body="See you at 9", send_at="2027-01-05T08:00:00-05:00",
                           expires_at=datetime(2027, 1, 5, 14, 0, tzinfo=timezone.utc), quiet_hours=False),
        id="scheduled",
    ),
    pytest.param(client.call_message("+15558675310", say="Hi", send_at="2027-01-05T13:00:00Z"), id="scheduled-call"),
]  # fmt: skip


@pytest.mark.parametrize("message", MESSAGES)
def test_messages_validate_against_the_contract(message: dict[str, Any]) -> None:
    errors = [e.message for e in contract_validator().iter_errors(message)]
    assert not errors
    assert client._REQUEST_ID.match(message["id"])


def test_the_hello_world_call_is_one_line_of_json() -> None:
    message = client.call_message("+15558675310", say="Hello world.", request_id="hello")
    assert json.dumps(message) == '{"type": "call", "id": "hello", "to": "+15558675310", "say": "Hello world."}'


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: client.call_message("+15558675310"), "exactly one of say, play, twiml, url"),
        (lambda: client.call_message("+15558675310", say="a", url="https://x.test"), "exactly one"),
        (lambda: client.call_message("5558675310", say="a"), "to must be an E.164 number"),
        (lambda: client.call_message("+15558675310", play="ftp://x.test/a.mp3"), "play must be an http"),
        (lambda: client.sms_message("+15558675310"), "body and/or media_url"),
        (lambda: client.sms_message("+15558675310", body="x" * 1601), "1600"),
        (lambda: client.sms_message("+15558675310", body="hi", from_="0800"), "from must be an E.164"),
        (lambda: client.sms_message("+15558675310", body="hi", request_id="has space"), "request_id must be"),
        (
            lambda: client.sms_message("whatsapp:+15558675310", body="hi", from_="+15005550006"),
            "from must be a whatsapp",
        ),
        (lambda: client.sms_message("+15558675310", body="hi", from_="whatsapp:+15005550006"), "from must be"),
        (lambda: client.sms_message("+15558675310", body="hi", from_="ACME!"), "from must be"),
        (lambda: client.sms_message("+15558675310", body="hi", content_sid="HX" + "0" * 32), "no body or media_url"),
        (lambda: client.sms_message("+15558675310", content_sid="HX1"), "content_sid must be HX"),
        (lambda: client.sms_message("+15558675310", body="hi", content_variables={"1": "x"}), "needs a content_sid"),
        (lambda: client.call_message("whatsapp:+15558675310", say="a"), "to must be an E.164 number"),
        (lambda: client.call_message("+15558675310", say="a", from_="ACME"), "from must be an E.164"),
        (lambda: client.sms_message("+15558675310", body="hi", send_at="2027-01-05T08:00:00"), "send_at must be RFC"),
        (lambda: client.sms_message("+15558675310", body="hi", expires_at=datetime(2027, 1, 5)), "timezone-aware"),
    ],
)
def test_mistakes_are_caught_before_anything_is_sent(build, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        build()


def test_a_rejected_message_also_fails_the_contract() -> None:
    """The client's early checks and the schema agree on what is wrong."""
    validator = contract_validator()
    assert list(validator.iter_errors({"type": "call", "to": "+15558675310"}))
    assert list(validator.iter_errors({"type": "sms", "to": "+15558675310", "body": "hi", "colour": "red"}))


@pytest.fixture
def queue(azurite: str):
    name = "outbound-" + uuid.uuid4().hex[:10]
    queue = client.outbound_queue(azurite, queue_name=name)
    queue.create_queue()
    yield queue
    queue.delete_queue()


def test_send_sms_puts_base64_json_on_the_queue(azurite: str, queue) -> None:
    from azure.storage.queue import QueueClient

    request_id = client.send_sms(queue, "+15558675310", body="Your order has shipped. ✓")
    raw = QueueClient.from_connection_string(azurite, queue.queue_name).receive_message()
    assert raw is not None
    decoded = json.loads(base64.b64decode(raw.content).decode("utf-8"))
    assert decoded == {"type": "sms", "id": request_id, "to": "+15558675310", "body": "Your order has shipped. ✓"}
    assert not list(contract_validator().iter_errors(decoded))


def test_send_call_keeps_the_given_request_id(queue) -> None:
    assert client.send_call(queue, "+15558675310", say="Hello world.", request_id="order-7:call") == "order-7:call"
    received = queue.receive_message()
    assert received is not None
    assert json.loads(received.content) == {
        "type": "call",
        "id": "order-7:call",
        "to": "+15558675310",
        "say": "Hello world.",
    }


def test_a_queue_client_without_base64_is_refused(azurite: str, queue) -> None:
    from azure.storage.queue import QueueClient

    plain = QueueClient.from_connection_string(azurite, queue.queue_name)
    with pytest.raises(ValueError, match="base64"):
        client.send_sms(plain, "+15558675310", body="hi")
    assert queue.peek_messages() == []


def test_outbound_queue_needs_somewhere_to_send() -> None:
    with pytest.raises(ValueError, match="connection string or an account_url"):
        client.outbound_queue()
    by_identity = client.outbound_queue(
        account_url="https://stswitchboard.queue.core.windows.net", credential="sv=x&sig=y"
    )
    assert by_identity.url.split("?")[0] == "https://stswitchboard.queue.core.windows.net/outbound"


def test_the_client_needs_only_the_queue_sdk_and_the_standard_library() -> None:
    import ast
    import sys

    source = Path(client.__file__).read_text(encoding="utf-8")
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module)
    third_party = {name for name in roots if name.split(".")[0] not in sys.stdlib_module_names}
    assert third_party == {"azure.storage.queue"}, third_party


def test_the_binding_format_is_enqueued_as_given_with_an_id(azurite: str, queue) -> None:
    from azure.storage.queue import QueueClient

    message = {"format": "twilio-binding", "to": "+15558675310", "body": "Hi", "validityPeriod": 600}
    request_id = client.enqueue(queue, message)
    raw = QueueClient.from_connection_string(azurite, queue.queue_name).receive_message()
    assert raw is not None
    decoded = json.loads(base64.b64decode(raw.content).decode("utf-8"))
    assert decoded == {**message, "id": request_id}
    assert "id" not in message  # the caller's dict is left as it was
    assert not list(contract_validator().iter_errors(decoded))


def test_a_scheduled_message_carries_its_times_as_rfc_3339_with_the_offset() -> None:
    message = client.sms_message("+15558675310", body="hi", request_id="s", quiet_hours=False,
                                 send_at=datetime(2027, 1, 5, 13, 0, tzinfo=timezone.utc))  # fmt: skip
    assert message == {"type": "sms", "id": "s", "to": "+15558675310", "body": "hi",
                       "send_at": "2027-01-05T13:00:00+00:00", "quiet_hours": False}  # fmt: skip
