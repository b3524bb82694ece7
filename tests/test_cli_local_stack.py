"""The CLI end to end: `send sms --wait` through the local host, the outbound worker, the Twilio emulator
and a signed status callback, until the records API shows the final status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from switchboard.settings import Settings
from tests.support import FUNCTION_KEY, PUBLIC_BASE_URL, signed_form
from tools.devhost.host import LocalHost
from tools.emulator.rest import TwilioEmulator
from tools.localmachine import PROJECT_ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def twilio(azurite: str, start_emulator) -> TwilioEmulator:
    return start_emulator(timeout=2)


@pytest.fixture
def host(app, twilio: TwilioEmulator) -> Iterator[LocalHost]:
    overrides = {"visibility_timeout": 0.0, "max_polling_interval": 0.2}
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), config_overrides=overrides) as served:
        yield served


def start_cli(azurite: str, origin: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "AzureWebJobsStorage"))}
    environment |= {
        "AzureWebJobsStorage": azurite, "PYTHONPATH": str(PROJECT_ROOT),
        "SWITCHBOARD_API_URL": origin, "SWITCHBOARD_FUNCTION_KEY": FUNCTION_KEY,
    }  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard", "send", *args, "--wait", "--poll-interval=0.2", "--wait-timeout=40"],
        cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_sid(api: str, request_id: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(f"{api}/records/{request_id}", headers={"x-functions-key": FUNCTION_KEY}, timeout=5)
        if response.status_code == 200 and response.json().get("sid"):
            return str(response.json()["sid"])
        time.sleep(0.1)
    raise AssertionError(f"{request_id} got no SID within {timeout}s")


def test_send_sms_wait_ends_with_the_delivered_callback(
    azurite: str, host: LocalHost, twilio: TwilioEmulator, tmp_path: Path
) -> None:
    request_id = "cli-" + uuid.uuid4().hex[:12]
    origin = host.base_url.removesuffix("/api")
    cli = start_cli(azurite, origin, "sms", "--to", "+15558675310", "--body", "Your order has shipped.",
                    "--id", request_id, cwd=tmp_path)  # fmt: skip
    try:
        sid = wait_for_sid(host.base_url, request_id)
        assert sid in twilio.resources("messages")
        # Twilio reports delivery to the public URL it was given; we sign exactly that.
        params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": Settings.from_env().account_sid,
                  "To": "+15558675310", "From": "+15005550006"}  # fmt: skip
        headers, body = signed_form(
            f"{host.base_url}/sms/status", params, signed_as=f"{PUBLIC_BASE_URL}/api/sms/status"
        )
        assert requests.post(f"{host.base_url}/sms/status", headers=headers, data=body, timeout=5).status_code < 300
        out, err = cli.communicate(timeout=45)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)
    assert cli.returncode == 0, err
    assert out.splitlines() == [request_id, f"delivered sid={sid}"]
    assert err.splitlines()[-1] == "delivered"


def test_send_call_wait_ends_failed_on_a_permanent_twilio_error(azurite: str, host: LocalHost, tmp_path: Path) -> None:
    # The emulator answers calls to Twilio's magic "invalid number" with error 21211, as Twilio does.
    cli = start_cli(azurite, host.base_url.removesuffix("/api"), "call", "--to", "+15005550001", "--say", "Hi",
                    cwd=tmp_path)  # fmt: skip
    try:
        out, err = cli.communicate(timeout=45)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)
    assert cli.returncode == 1, err
    assert out.splitlines()[1].startswith("failed error_code=21211"), out
