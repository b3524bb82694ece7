"""Fixtures for outbound and records tests: a Twilio emulator per test, records read through the app."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from tests.support import PUBLIC_BASE_URL, function, http_request, post_signed
from tools.emulator.rest import TwilioEmulator


@pytest.fixture
def twilio(azurite: str, start_emulator, configure) -> TwilioEmulator:
    """The fake Twilio REST server on 127.0.0.1; the app's SDK client points at it with a 1 s timeout.

    Retries wait one second (the shortest a queue message can be hidden), so a test can take the message
    the worker put back and deliver it, as the host would."""
    emulator = start_emulator(timeout=1)
    configure(OUTBOUND_RETRY_BASE_SECONDS="1", OUTBOUND_RETRY_MAX_SECONDS="1")
    return emulator


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


def tagged(path: str, request_id: str) -> str:
    """`?request_id=<id>&tag=<the app's tag>`, as the worker writes it into a StatusCallback URL."""
    from switchboard.outbound.twilio_params import status_callback_url
    from switchboard.settings import get_settings

    url = status_callback_url(PUBLIC_BASE_URL, path, request_id, get_settings().tag_keys[0])
    assert url is not None
    return "?" + url.split("?", 1)[1]


def callback(app, kind: str, params: dict[str, str], request_id: str | None = None):
    path = "voice/status" if kind == "call" else "sms/status"
    url = f"{PUBLIC_BASE_URL}/api/{path}" + (tagged(f"/api/{path}", request_id) if request_id else "")
    name = "voice_status" if kind == "call" else "sms_status"
    return post_signed(app, name, url, params)


def one(values: dict[str, list[str]], key: str) -> str:
    assert len(values[key]) == 1, values
    return values[key][0]


def take_deferred(record_id: str, timeout: float = 15.0) -> QueueMessage:
    """The message the worker put back on the real `outbound` queue for this record, once it is visible.

    Taken off the queue (as a host would) and returned as the host hands it over: decoded, with its id and
    dequeue count. Other tests' messages are left visible as they were.
    """
    from switchboard.adapters.storage import queue_client
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    stored = store_for(get_settings()).get(record_id)
    assert stored is not None, f"no record {record_id}"
    assert stored.deferred_message_id, f"record {record_id} names no deferred message ({stored.status})"
    raw = queue_client("outbound", base64=False)
    message = take_from_queue(raw, stored.deferred_message_id, timeout)
    assert message is not None, f"the deferred message of {record_id} never became visible"
    body = base64.b64decode(message.content, validate=True)
    return QueueMessage(id=message.id, body=body, dequeue_count=message.dequeue_count)


def take_from_queue(raw: Any, message_id: str, timeout: float) -> Any:
    """Take one message off a real queue by its id, once visible (None when it never was within `timeout`).

    Other messages (earlier tests' leftovers) are held invisible while the search pages past them, then made
    visible again: put back at once, they filled every page read and hid the one wanted behind them.
    """
    held = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in raw.receive_messages(messages_per_page=32, visibility_timeout=max(5, int(timeout) + 5)):
                if message.id == message_id:
                    raw.delete_message(message)
                    return message
                held.append(message)
            time.sleep(0.1)
        return None
    finally:
        for message in held:
            raw.update_message(message, visibility_timeout=0)


def redeliver(app, record_id: str) -> Any:
    """Deliver the message the worker put back for `record_id` once the queue shows it (see take_deferred)."""
    return function(app, "outbound_send")(take_deferred(record_id))
