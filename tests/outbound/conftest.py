"""Fixtures for outbound and records tests: a Twilio emulator per test, records read through the app."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from tests.support import PUBLIC_BASE_URL, function, http_request, post_signed
from tools.emulator.rest import TwilioEmulator


@pytest.fixture
def twilio(azurite: str, start_emulator) -> TwilioEmulator:
    """The fake Twilio REST server on 127.0.0.1; the app's SDK client points at it with a 1 s timeout."""
    return start_emulator(timeout=1)


def new_id() -> str:
    return "t-" + uuid.uuid4().hex[:16]


def deliver(app, message: Any, *, message_id: str | None = None, dequeue_count: int = 1, queue: str = "outbound"):
    """Run the queue function the way the host does, with a decoded message body."""
    if isinstance(message, dict):
        body = json.dumps(message).encode()
    elif isinstance(message, str):
        body = message.encode()
    else:
        body = message
    name = "outbound_send" if queue == "outbound" else "outbound_poison"
    trigger = QueueMessage(id=message_id or uuid.uuid4().hex, body=body, dequeue_count=dequeue_count)
    return function(app, name)(trigger)


def get_record(app, record_id: str) -> tuple[int, dict[str, Any]]:
    url = f"{PUBLIC_BASE_URL}/api/records/{record_id}"
    response = function(app, "record_get")(http_request("GET", url, route_params={"id": record_id}))
    return response.status_code, json.loads(response.get_body())


def record(app, record_id: str) -> dict[str, Any]:
    status, body = get_record(app, record_id)
    assert status == 200, body
    return body


def callback(app, kind: str, params: dict[str, str], request_id: str | None = None):
    path = "voice/status" if kind == "call" else "sms/status"
    url = f"{PUBLIC_BASE_URL}/api/{path}" + (f"?request_id={request_id}" if request_id else "")
    name = "voice_status" if kind == "call" else "sms_status"
    return post_signed(app, name, url, params)


def one(values: dict[str, list[str]], key: str) -> str:
    assert len(values[key]) == 1, values
    return values[key][0]
