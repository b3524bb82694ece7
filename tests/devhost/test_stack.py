"""`make run`'s launcher: Azurite, the emulator and the app as processes, wired together, stopped by PID."""

from __future__ import annotations

import os

import pytest
import requests

from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.stack import Stack, emulator_port, uses_real_twilio
from tools.emulator.inbound import inbound_call
from tools.localmachine import PROJECT_ROOT, free_port, port_open

REAL_SID = "AC" + "5f" * 16
TWILIO = "https://api.twilio.com"


@pytest.mark.parametrize(
    ("env", "real"),
    [
        ({"TWILIO_API_BASE_URL": TWILIO, "TWILIO_ACCOUNT_SID": REAL_SID, "TWILIO_AUTH_TOKEN": "t"}, True),
        ({"TWILIO_ACCOUNT_SID": REAL_SID, "TWILIO_AUTH_TOKEN": "t"}, False),  # not asked for explicitly
        ({"TWILIO_API_BASE_URL": "http://127.0.0.1:4011", "TWILIO_ACCOUNT_SID": REAL_SID,
          "TWILIO_AUTH_TOKEN": "t"}, False),
        ({"TWILIO_API_BASE_URL": "https://api.twilio.com", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
          "TWILIO_AUTH_TOKEN": "t"}, False),  # the example's placeholder
        ({"TWILIO_API_BASE_URL": "https://api.twilio.com", "TWILIO_ACCOUNT_SID": REAL_SID,
          "TWILIO_AUTH_TOKEN": "local-dev-auth-token-not-a-secret"}, False),
    ],
)  # fmt: skip
def test_real_twilio_only_when_asked_with_real_credentials(env: dict[str, str], real: bool) -> None:
    assert uses_real_twilio(env) is real


def test_emulator_port_follows_the_base_url() -> None:
    assert emulator_port({"TWILIO_API_BASE_URL": "http://127.0.0.1:4999"}) == 4999
    assert emulator_port({"TWILIO_API_BASE_URL": "https://api.twilio.com"}) == 4011


@pytest.mark.slow
def test_the_stack_runs_the_whole_inbound_path_and_stops_everything(tmp_path, own_azurite) -> None:
    env = dict(os.environ) | {"VOICE_GREETING": "Hello from the stack.", "PUBLIC_BASE_URL": "https://elsewhere.example"}
    log = (tmp_path / "stack.log").open("wb")
    stack = Stack(
        app_port=free_port(), emulator_port=free_port(), azurite=own_azurite.on_free_ports(),
        settings_path=PROJECT_ROOT / "no-such-settings.json", output=log, env=env,
    )  # fmt: skip
    with stack:
        assert [name for name, _ in stack.processes] == ["Twilio emulator", "app"]
        assert stack.child_env()["PUBLIC_BASE_URL"] == stack.app_origin  # callbacks come back to this app
        _, call = inbound_call(
            f"{stack.app_origin}/api/voice/incoming", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
            to=PHONE_NUMBER, from_="+15558675310",
        )  # fmt: skip
        assert call.transcript == ["Say: Hello from the stack.", "Hangup"]
        listed = requests.get(
            f"{stack.emulator_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", auth=(ACCOUNT_SID, AUTH_TOKEN),
            timeout=10,
        )  # fmt: skip
        assert listed.status_code == 200
        # The stack `make run` starts is healthy as it comes: every check passes, storage provisioned.
        health = requests.get(f"{stack.app_origin}/api/health", headers={"x-functions-key": FUNCTION_KEY}, timeout=30)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["queue outbound-poison-poison"]["ok"]
        assert health.json()["checks"]["twilio"]["ok"]
        processes = [process for _, process in stack.processes]
        ports = [stack.app_port, stack.emulator_port or 0, *stack.azurite.ports]
    log.close()
    assert all(process.poll() is not None for process in processes)
    assert not any(port_open(port) for port in ports)


@pytest.mark.slow
def test_beside_core_tools_the_stack_creates_every_queue_table_and_container(tmp_path, own_azurite) -> None:
    """`make run` with Core Tools starts no local host: the launcher provisions storage itself."""
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    from switchboard.adapters.inventory import storage_names
    from switchboard.settings import Settings

    log = (tmp_path / "stack.log").open("wb")
    stack = Stack(
        emulator_port=free_port(), azurite=own_azurite.on_free_ports(), output=log, env=dict(os.environ),
        settings_path=PROJECT_ROOT / "no-such-settings.json", with_app=False,
    )  # fmt: skip
    with stack:
        connection = stack.azurite.connection_string
        queues = {q.name for q in QueueServiceClient.from_connection_string(connection).list_queues()}
        tables = {t.name for t in TableServiceClient.from_connection_string(connection).list_tables()}
        containers = {c.name for c in BlobServiceClient.from_connection_string(connection).list_containers()}
    log.close()
    names = storage_names(Settings.from_env())
    assert set(names.queues) <= queues
    assert set(names.tables) <= tables
    assert set(names.containers) <= containers
    assert os.environ.get("AzureWebJobsStorage") != connection  # the launcher's own environment is left as it was
