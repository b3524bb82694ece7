"""End to end through the local host: a real Azurite queue, the host's queue trigger, the read API over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from switchboard.adapters.storage import queue_client
from tests.support import FUNCTION_KEY
from tools.devhost.host import LocalHost
from tools.emulator.rest import TwilioEmulator
from tools.localmachine import free_port

pytestmark = pytest.mark.slow
SEED = '{"type":"call","to":"+15558675310","say":"Hello world."}'


def _wait_for_record(base_url: str, record_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        response = requests.get(f"{base_url}/records/{record_id}", params={"code": FUNCTION_KEY}, timeout=5)
        last = (response.status_code, response.text)
        if response.status_code == 200 and response.json()["status"] not in ("pending", "sending", "retrying"):
            return dict(response.json())
        time.sleep(0.2)
    raise AssertionError(f"record {record_id} not final within {timeout}s: {last}")


def test_the_seed_message_through_the_local_host(app, twilio: TwilioEmulator) -> None:
    overrides = {"visibility_timeout": 0.0, "max_polling_interval": 0.2}
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), config_overrides=overrides) as host:
        sent = queue_client("outbound").send_message(SEED)  # base64, as the Functions host expects
        body = _wait_for_record(host.base_url, sent.id)
        assert (body["type"], body["status"], body["to"]) == ("call", "queued", "+15558675310")
        assert body["sid"] in twilio.resources("calls")

        # An HTTP producer: POST /api/outbound, then the same record API.
        twilio.faults.add("messages", status=500, times=1)  # and one retry on the way
        response = requests.post(
            f"{host.base_url}/outbound",
            json={"type": "sms", "to": "+15558675310", "body": "Hello from HTTP"},
            headers={"x-functions-key": FUNCTION_KEY},
            timeout=5,
        )
        assert response.status_code == 202
        body = _wait_for_record(host.base_url, response.json()["id"])
        assert (body["type"], body["status"], body["attempts"]) == ("sms", "queued", 2)
        assert requests.get(f"{host.base_url}/records/{sent.id}", timeout=5).status_code == 401
    # Other tests may leave their own messages on the shared queue: count only ours.
    hello = [c for c in twilio.created("calls") if "Hello world." in c.get("Twiml", [""])[0]]
    assert len(hello) == 1
    assert len([m for m in twilio.created("messages") if m.get("Body") == ["Hello from HTTP"]]) == 1
