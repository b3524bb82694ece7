"""GET /api/health over HTTP on the local stack: Azurite, the Twilio emulator and the local host.

The local host provisions every queue, table and container at start, as infra/ does in Azure; each test
then breaks one thing (a setting, a queue, the credentials, the storage account) and reads what health says.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from switchboard.adapters.inventory import storage_names
from switchboard.settings import Settings
from tests.support import API_SECRET, AUTH_TOKEN, FUNCTION_KEY
from tools.devhost.host import LocalHost

KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-example.vault.azure.net/secrets/twilio-auth-token)"


def get_health(served: LocalHost, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(f"{served.base_url}/health", headers={"x-functions-key": FUNCTION_KEY, **(headers or {})},
                        timeout=30)  # fmt: skip


@pytest.fixture
def local_stack(served: LocalHost, start_emulator, configure) -> LocalHost:
    """The app as `make run` wires it: Twilio is the emulator, PUBLIC_BASE_URL the local host's origin."""
    emulator = start_emulator(timeout=5)
    origin = served.base_url.removesuffix("/api")
    configure(PUBLIC_BASE_URL=origin)
    wire_number(emulator, origin)
    return served


def wire_number(emulator: Any, origin: str) -> None:
    """What azd's postprovision hook does in Azure: `python -m switchboard twilio configure`."""
    from switchboard.__main__ import main

    assert main(["twilio", "configure", "--app-url", origin]) == 0


def body_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    data: dict[str, Any] = response.json()
    return data


def test_health_is_ok_on_the_local_stack(local_stack: LocalHost) -> None:
    response = get_health(local_stack)
    body = body_of(response)
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failing"] == []
    names = storage_names(Settings.from_env())
    expected = {"settings", "public_base_url", "storage", "twilio", "twilio_number", "sender"}
    expected |= {f"queue {n}" for n in names.queues} | {f"table {n}" for n in names.tables}
    expected |= {f"container {n}" for n in names.containers}
    assert set(body["checks"]) == expected
    assert {"queue outbound-poison-poison", "table records", "container holdmusic"} <= expected
    assert all(check["ok"] for check in body["checks"].values())
    assert "credentials accepted" in body["checks"]["twilio"]["detail"]
    assert AUTH_TOKEN not in response.text
    assert API_SECRET not in response.text
    assert FUNCTION_KEY not in response.text


def test_health_needs_the_function_key(served: LocalHost) -> None:
    assert requests.get(f"{served.base_url}/health", timeout=10).status_code == 401


def test_health_names_each_broken_setting(local_stack: LocalHost, configure) -> None:
    """The auth token's Key Vault reference did not resolve, and the API key has no secret."""
    configure(TWILIO_AUTH_TOKEN=KEY_VAULT_REFERENCE, TWILIO_API_SECRET=None)
    response = get_health(local_stack)
    body = body_of(response)
    assert response.status_code == 503
    assert body["status"] == "failing"
    assert {"settings", "setting TWILIO_AUTH_TOKEN", "setting TWILIO_API_SECRET", "twilio"} <= set(body["failing"])
    token = body["checks"]["setting TWILIO_AUTH_TOKEN"]["problem"]
    assert "unresolved Key Vault reference" in token
    assert "Key Vault Secrets User" in token
    assert "restart" in token
    unpaired = body["checks"]["setting TWILIO_API_SECRET"]["problem"]
    assert "TWILIO_API_KEY is set but TWILIO_API_SECRET is not" in unpaired
    assert "TWILIO_AUTH_TOKEN" in body["checks"]["settings"]["problem"]
    assert body["checks"]["twilio"]["problem"].startswith("not checked")
    assert body["checks"]["queue outbound"]["ok"]  # storage is still checked
    assert "kv-example" not in response.text  # the reference's text is not echoed


def test_health_names_a_missing_required_setting(local_stack: LocalHost, configure) -> None:
    configure(TWILIO_ACCOUNT_SID=None)
    body = body_of(get_health(local_stack))
    assert "setting TWILIO_ACCOUNT_SID" in body["failing"]
    assert "Missing required app setting TWILIO_ACCOUNT_SID" in body["checks"]["setting TWILIO_ACCOUNT_SID"]["problem"]


def test_health_compares_public_base_url_with_the_host_that_served_the_request(
    local_stack: LocalHost, configure
) -> None:
    configure(PUBLIC_BASE_URL="https://func-api-abc.azurewebsites.net")
    response = get_health(local_stack)
    body = body_of(response)
    assert response.status_code == 503
    assert body["failing"] == ["public_base_url", "twilio_number"]  # the number follows PUBLIC_BASE_URL too
    problem = body["checks"]["public_base_url"]["problem"]
    assert "https://func-api-abc.azurewebsites.net" in problem
    assert f"127.0.0.1:{local_stack.port}" in problem
    # Behind a proxy (or Azure's front end), the host the client used is in X-Forwarded-Host.
    forwarded = get_health(local_stack, {"X-Forwarded-Host": "func-api-abc.azurewebsites.net",
                                         "X-Forwarded-Proto": "https"})  # fmt: skip
    assert forwarded.json()["checks"]["public_base_url"]["ok"], forwarded.text
    assert forwarded.json()["failing"] == ["twilio_number"]  # still wired to the local origin, not this one


def test_health_reports_a_missing_queue(local_stack: LocalHost) -> None:
    from switchboard.adapters.storage import queue_client
    from tools.devhost.host import provision_storage

    queue_client("outbound-poison-poison").delete_queue()
    try:
        response = get_health(local_stack)
        body = body_of(response)
        assert response.status_code == 503
        assert body["failing"] == ["queue outbound-poison-poison"]
        assert "does not exist" in body["checks"]["queue outbound-poison-poison"]["problem"]
        assert body["checks"]["storage"]["ok"]
    finally:
        assert "queue outbound-poison-poison" in provision_storage()
    assert get_health(local_stack).status_code == 200


def test_health_reports_refused_twilio_credentials(served: LocalHost, start_emulator, configure) -> None:
    configure(TWILIO_AUTH_TOKEN="another-token-0123456789abcdef", TWILIO_API_KEY=None, TWILIO_API_SECRET=None)
    start_emulator(timeout=5)  # knows the new token
    configure(TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=None)  # the app signs with the old one
    response = get_health(served)
    body = body_of(response)
    assert response.status_code == 503
    assert body["failing"] == ["twilio", "twilio_number"]
    problem = body["checks"]["twilio"]["problem"]
    assert "refused the credentials (401, code 20003)" in problem
    assert "TWILIO_AUTH_TOKEN" in problem
    assert AUTH_TOKEN not in response.text


def test_health_reports_unreachable_storage_and_twilio_within_bounds(served: LocalHost, configure) -> None:
    from tools.localmachine import DEV_ACCOUNT, DEV_KEY, free_port

    closed = free_port()
    configure(
        AzureWebJobsStorage=f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{closed}/{DEV_ACCOUNT};QueueEndpoint=http://127.0.0.1:{closed}/{DEV_ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{closed}/{DEV_ACCOUNT};",
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{closed}",
        PUBLIC_BASE_URL=None,
    )
    started = time.monotonic()
    response = get_health(served)
    elapsed = time.monotonic() - started
    body = body_of(response)
    assert response.status_code == 503
    assert "could not be reached" in body["checks"]["storage"]["problem"]
    assert not body["checks"]["queue outbound"]["ok"]
    assert body["checks"]["twilio"]["problem"].startswith(f"no answer from http://127.0.0.1:{closed}")
    assert elapsed < 15, elapsed  # the overall deadline is 10 s; a refused connection is much quicker
    assert DEV_KEY not in response.text


@pytest.mark.parametrize(
    ("url", "headers", "public", "same"),
    [
        ("https://app.azurewebsites.net/api/health", {}, "https://app.azurewebsites.net", True),
        ("http://app.azurewebsites.net/api/health", {}, "https://APP.azurewebsites.net/", True),  # TLS ended earlier
        ("https://app.azurewebsites.net:443/api/health", {}, "https://app.azurewebsites.net", True),
        ("http://127.0.0.1:7071/api/health", {}, "http://127.0.0.1:7071", True),
        ("http://127.0.0.1:7071/api/health", {}, "http://127.0.0.1:7072", False),
        ("http://127.0.0.1:7071/api/health", {}, "https://app.azurewebsites.net", False),
        ("http://10.0.0.4/api/health", {"X-Forwarded-Host": "sb.example.com, 10.0.0.4"}, "https://sb.example.com",
         True),
        ("https://app.azurewebsites.net/api/health", {}, "https://sb.example.com", False),  # a custom domain
    ],
)  # fmt: skip
def test_public_base_url_is_compared_by_host_and_port(url: str, headers: dict[str, str], public: str, same: bool):
    from switchboard.health.checks import Origin, public_url_check

    check = public_url_check({"PUBLIC_BASE_URL": public}, Origin.of_request(url, headers))
    assert check.ok is same, check.detail


def test_health_names_twilio_number_after_a_manual_change(local_stack: LocalHost, start_emulator) -> None:
    """Someone repoints the number's Voice URL in the Console: 503, naming the field and the fix."""
    from switchboard.settings import Settings

    settings = Settings.from_env()
    assert get_health(local_stack).status_code == 200
    import requests as http

    numbers = http.get(f"{settings.api_base_url}/2010-04-01/Accounts/{settings.account_sid}/IncomingPhoneNumbers.json",
                       params={"PhoneNumber": settings.phone_number}, auth=(settings.api_key, settings.api_secret),
                       timeout=10).json()["incoming_phone_numbers"]  # fmt: skip
    http.post(f"{settings.api_base_url}{numbers[0]['uri']}", data={"VoiceUrl": "https://elsewhere.example.com/voice"},
              auth=(settings.api_key, settings.api_secret), timeout=10).raise_for_status()  # fmt: skip
    response = get_health(local_stack)
    body = body_of(response)
    assert response.status_code == 503
    assert body["failing"] == ["twilio_number"]
    problem = body["checks"]["twilio_number"]["problem"]
    assert "VoiceUrl is https://elsewhere.example.com/voice, not " in problem
    assert "python -m switchboard twilio configure" in problem
    assert settings.phone_number
    assert settings.phone_number not in response.text  # the number is masked


UNREGISTERED = "+15550100009"  # the emulator fails an SMS to it with 30034 (docs/emulator.md)


def test_health_warns_when_the_us_long_code_sender_recently_failed_with_30034(local_stack: LocalHost, app) -> None:
    """A warning, not a failure: 200, `ok`, the check named under `warnings` with the remedy."""
    import dataclasses
    from datetime import timedelta

    from switchboard.health.checks import is_us_long_code, sender_check
    from tests.outbound.conftest import deliver, new_id, record
    from tests.support import signed_form
    from tools.emulator.outcomes import message_outcome

    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": UNREGISTERED, "body": "hello"})
    sid, outcome = record(app, request_id)["sid"], message_outcome(UNREGISTERED)
    params = {"MessageSid": sid, "MessageStatus": outcome.status, "ErrorCode": str(outcome.error_code)}
    status_url = f"{local_stack.base_url}/sms/status"  # Twilio's delivery callback, signed for the local host
    headers, form = signed_form(status_url, params)
    assert requests.post(status_url, headers=headers, data=form, timeout=10).status_code == 200
    assert record(app, request_id)["error_remedy"] == "register a brand and campaign and add the number to it"

    response = get_health(local_stack)
    body = body_of(response)
    assert (response.status_code, body["status"], body["failing"], body["warnings"]) == (200, "ok", [], ["sender"])
    warning = body["checks"]["sender"]["warning"]  # other tests on this storage account send from it too
    assert re.fullmatch(
        r"\+1500\*\*\*0006 is a US long code and [1-9][0-9]* of its [1-9][0-9]* latest SMS in the last 24 h failed "
        r"with 30034 \(US A2P 10DLC: unregistered number: register a brand and campaign and add the number to it\)",
        warning,
    ), warning

    # A day later it has lapsed; a toll-free or non-US sender is not checked at all.
    settings = Settings.from_env()
    later = sender_check(settings, now=datetime.now(timezone.utc) + timedelta(hours=25))
    assert (later.ok, later.warning) == (True, False)
    assert is_us_long_code("+14155550123")
    assert is_us_long_code("+15005550006")
    assert not any(map(is_us_long_code, ("+18005550100", "+16135550123", "+447700900123", "whatsapp:+14155550123")))
    elsewhere = sender_check(dataclasses.replace(settings, phone_number="+447700900123"))
    assert (elsewhere.ok, elsewhere.warning, elsewhere.detail) == (
        True, False, "not checked: TWILIO_PHONE_NUMBER is not a US long code",
    )  # fmt: skip


def test_checks_still_waiting_for_a_thread_at_the_deadline_say_so_and_do_not_fail_the_page() -> None:
    """More probes than threads, all hung: the ones never started are cancelled, and answer like the hung ones."""
    import threading

    from switchboard.health.checks import Check, run_probes

    release = threading.Event()

    def hung(name: str):
        def probe() -> Check:
            release.wait(30)
            return Check(name, True, "late")

        return probe

    probes = {f"table t{n}": hung(f"table t{n}") for n in range(12)}  # the pool has 8 threads
    try:
        results = run_probes(probes, 0.2)
    finally:
        release.set()
    assert sorted(results) == sorted(probes)
    assert {(check.ok, check.detail) for check in results.values()} == {(False, "no answer within 0 s")}
