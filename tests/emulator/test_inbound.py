"""Inbound calls and texts against the real app on the local host: the emulator's signatures pass its checks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.host import LocalHost
from tools.emulator.inbound import Reply, inbound_call, inbound_sms
from tools.localmachine import PROJECT_ROOT, free_port, stop_process, wait_for_ports

CALLER = "+15558675310"


@pytest.fixture
def host(app, azurite: str, configure) -> Iterator[str]:
    with LocalHost(app, port=0, queues=False, function_keys=(FUNCTION_KEY,)) as local:
        origin = f"http://127.0.0.1:{local.port}"
        configure(PUBLIC_BASE_URL=origin, VOICE_GREETING="Hello from the test.", SMS_AUTO_REPLY="Thanks!")
        yield origin


def test_inbound_call_is_signed_so_the_app_answers_and_a_wrong_token_gets_403(host: str, configure) -> None:
    url = f"{host}/api/voice/incoming"
    _, good = inbound_call(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER, from_=CALLER)
    assert (good.transcript, good.errors, [e.status for e in good.exchanges]) == (
        ["Say: Hello from the test.", "Hangup"], [], [200],
    )  # fmt: skip
    _, bad = inbound_call(url, account_sid=ACCOUNT_SID, auth_token="wrong-token", to=PHONE_NUMBER, from_=CALLER)
    assert ([e.status for e in bad.exchanges], bad.errors) == ([403], [11200])
    configure(VOICE_FORWARD_TO="+15550100001")
    _, forwarded = inbound_call(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER, from_=CALLER)
    assert forwarded.transcript == ["Say: Hello from the test.", "Dial: +15550100001 -> busy"]


def test_inbound_sms_reply(host: str) -> None:
    url = f"{host}/api/sms/incoming"
    result = inbound_sms(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER, from_=CALLER, body="HI")
    assert (result.status, result.replies, result.error) == (200, [Reply(CALLER, PHONE_NUMBER, "Thanks!")], None)
    refused = inbound_sms(url, account_sid=ACCOUNT_SID, auth_token="nope", to=PHONE_NUMBER, from_=CALLER, body="HI")
    assert (refused.status, refused.replies) == (403, [])


def test_inbound_whatsapp_is_answered_on_whatsapp_and_recorded_with_its_channel(host: str) -> None:
    from tools.emulator.inbound import sms_params

    sender, number = "whatsapp:" + CALLER, "whatsapp:" + PHONE_NUMBER
    params = sms_params(ACCOUNT_SID, "SM" + "1" * 32, number, sender, "Hi")
    assert (params["WaId"], params["ProfileName"]) == (CALLER[1:], "Emulated WhatsApp user")
    assert not any(name.endswith("Country") for name in params)  # no carrier location on WhatsApp
    url = f"{host}/api/sms/incoming"
    result = inbound_sms(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=number, from_=sender, body="Hi")
    assert (result.status, result.replies, result.error) == (200, [Reply(sender, number, "Thanks!")], None)
    answer = requests.get(f"{host}/api/records/{result.message_sid}", headers={"x-functions-key": FUNCTION_KEY},
                          timeout=10)  # fmt: skip
    assert (answer.json()["channel"], answer.json()["from"]) == ("whatsapp", sender)


def test_an_arret_that_twilio_calls_stop_opts_out_gets_no_reply_and_the_next_sms_makes_no_create(
    host: str, app, start_emulator
) -> None:
    """Advanced Opt-Out, as the emulator sends it: `OptOutType=STOP` on a French "ARRET" is Twilio's verdict."""
    import uuid

    from tests.outbound.conftest import deliver, record

    emulator = start_emulator(timeout=1)
    sender = "+1555" + str(uuid.uuid4().int)[-7:]
    url = f"{host}/api/sms/incoming"
    result = inbound_sms(url, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER, from_=sender,
                         body="ARRET", opt_out_type="STOP")  # fmt: skip
    assert (result.status, result.replies, result.error) == (200, [], None)  # Twilio answers it, not the auto-reply
    request_id = "t-" + uuid.uuid4().hex[:16]
    deliver(app, {"type": "sms", "id": request_id, "to": sender, "body": "promo"})
    assert (record(app, request_id)["status"], record(app, request_id)["reason"]) == ("rejected", "opted_out")
    assert emulator.attempts("messages") == []


NO_SETTINGS = str(PROJECT_ROOT / "no-such-settings.json")  # the test's environment only, not local.settings.json


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.emulator", *args, "--settings", NO_SETTINGS],
        capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=False,
    )  # fmt: skip


def test_cli_call_and_sms_as_subprocesses(host: str) -> None:
    call = cli("call", "--url", f"{host}/api/voice/incoming", "--to", PHONE_NUMBER, "--from", CALLER, "--digits", "1")
    assert call.returncode == 0, call.stderr
    assert "  Say: Hello from the test.\n  Hangup\n" in call.stdout
    assert "ended: completed" in call.stdout
    wrong = cli("call", "--url", f"{host}/api/voice/incoming", "--to", PHONE_NUMBER, "--auth-token", "wrong")
    assert wrong.returncode == 1
    assert "[error 11200] HTTP retrieval failure: 403" in wrong.stdout
    sms = cli("sms", "--url", f"{host}/api/sms/incoming", "--to", PHONE_NUMBER, "--from", CALLER, "--body", "Hi there")
    assert sms.returncode == 0, sms.stderr
    assert f"  Reply to {CALLER} from {PHONE_NUMBER}: Thanks!" in sms.stdout


def test_cli_serves_the_rest_api() -> None:
    port = free_port()
    command = [sys.executable, "-m", "tools.emulator", "--port", str(port),
               "--settings", NO_SETTINGS]  # fmt: skip
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_ports([port], process, 30, "the emulator")
        base = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT_SID}"
        created = requests.post(
            f"{base}/Messages.json", data={"To": CALLER, "From": PHONE_NUMBER, "Body": "x"},
            auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10,
        )  # fmt: skip
        assert created.status_code == 201
        assert created.json()["status"] == "queued"
        denied = requests.get(f"{base}/Messages.json", auth=(ACCOUNT_SID, "wrong"), timeout=10)
        assert (denied.status_code, denied.json()["code"]) == (401, 20003)
    finally:
        stop_process(process)
    assert process.returncode == 0
    assert process.stdout is not None
    assert f"on http://127.0.0.1:{port}" in process.stdout.read().decode()
