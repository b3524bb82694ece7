"""Contract tests: the real SDK sends our calls.create / messages.create requests to Prism serving Twilio's own
OpenAPI description, which validates every request against the spec (a 422 means we broke the contract)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from switchboard.adapters.twilio_client import rewrite_url
from switchboard.outbound.contract import Allowed, OutboundRequest, validate
from switchboard.outbound.twilio_params import create_params
from tests.openapi import require_spec
from tests.support import ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER, PUBLIC_BASE_URL
from tools.localmachine import PROJECT_ROOT, free_port, node_binary, stop_process, wait_for_ports

PRISM_START_SECONDS = 60


class PrismHttpClient(TwilioHttpClient):
    """Sends repeated form keys as `Key[]`: Prism's form parser needs that for arrays (stoplightio/prism#2473)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=20)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        data = kwargs.get("data")
        if isinstance(data, dict):
            kwargs["data"] = {(f"{key}[]" if isinstance(value, list) else key): value for key, value in data.items()}
        return super().request(method, rewrite_url(url, self.base_url), *args, **kwargs)


@pytest.fixture(scope="module")
def prism() -> Iterator[str]:
    spec = require_spec()
    try:
        command = node_binary("prism")
    except FileNotFoundError as missing:
        pytest.skip(f"Prism is not installed ({missing})")
    port = free_port()
    process = subprocess.Popen(
        [*command, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT,
    )  # fmt: skip
    try:
        wait_for_ports([port], process, PRISM_START_SECONDS, "Prism")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def client(prism: str) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=PrismHttpClient(prism))


ALLOWED = Allowed(channels=frozenset({"sms", "whatsapp"}), alpha_senders=frozenset({"Owl Air"}))


def _request(message: dict[str, Any]) -> OutboundRequest:
    return validate(message, default_id="contract-1", default_from=PHONE_NUMBER, allowed=ALLOWED)


TO = "+15558675310"
CALLS = [
    {"type": "call", "to": TO, "say": "Hello world."},
    {"type": "call", "to": TO, "play": "https://example.com/a.mp3", "timeout": 30, "machine_detection": "Enable"},
    {"type": "call", "to": TO, "url": "https://example.com/twiml", "record": True},
    {"type": "call", "to": TO, "twiml": "<Response><Hangup/></Response>", "voice": "alice", "language": "en-GB"},
]
MESSAGES = [
    {"type": "sms", "to": TO, "body": "Hello"},
    {"type": "sms", "to": TO, "body": "Look", "media_url": ["https://example.com/a.png", "https://example.com/b.png"]},
    {"type": "sms", "to": TO, "media_url": ["https://example.com/a.png"], "messaging_service_sid": "MG" + "0" * 32},
    {"type": "sms", "to": "whatsapp:" + TO, "from": "whatsapp:" + PHONE_NUMBER, "content_sid": "HX" + "0" * 32,
     "content_variables": {"1": "Ada"}, "validity_period": 600, "max_price": "0.05", "attempt": 2},
    {"type": "sms", "to": "whatsapp:" + TO, "from": "whatsapp:" + PHONE_NUMBER, "body": "HQ",
     "persistent_action": ["geo:37.787890,-122.391664|375 Beale St"]},
    {"type": "sms", "to": TO, "body": "https://example.com/x", "messaging_service_sid": "MG" + "0" * 32,
     "shorten_urls": True, "smart_encoded": True, "send_as_mms": True},
    {"type": "sms", "to": "+442071838750", "from": "Owl Air", "body": "Hi"},
    {"format": "twilio-binding", "to": TO, "body": "Hi", "validityPeriod": "60", "maxPrice": 0.5},
]  # fmt: skip


@pytest.mark.parametrize("message", CALLS)
def test_our_call_requests_satisfy_twilios_spec(client: Client, message: dict[str, Any]) -> None:
    call = client.calls.create(**create_params(_request(message), PUBLIC_BASE_URL))
    assert call.sid is not None


@pytest.mark.parametrize("message", MESSAGES)
def test_our_message_requests_satisfy_twilios_spec(client: Client, message: dict[str, Any]) -> None:
    sent = client.messages.create(**create_params(_request(message), PUBLIC_BASE_URL))
    assert sent.sid is not None


def test_our_reconciliation_lists_satisfy_twilios_spec(client: Client) -> None:
    # The worker reads one page (Prism's example "next page" link is not ours to follow).
    assert list(client.calls.page(to=TO, from_=PHONE_NUMBER, page_size=20))
    assert list(client.messages.page(to=TO, from_=PHONE_NUMBER, page_size=20))
    assert list(client.messages.page(to=TO, page_size=20))


def test_prism_does_refuse_a_request_outside_the_spec(client: Client) -> None:
    """Without this, the tests above would prove nothing."""
    params = create_params(_request(CALLS[0]), PUBLIC_BASE_URL) | {"status_callback_method": "FETCH"}
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(**params)
    assert refused.value.status == 422
