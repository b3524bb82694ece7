"""The emulator's REST side, driven by the real twilio SDK over HTTP, checked against Twilio's OpenAPI description."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from email.utils import parsedate_to_datetime

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import get_settings
from tests.openapi import request_parameters, response_validator
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tools.emulator.rest import TwilioEmulator

CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
CALL = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
TO, FROM = "+15558675310", "+15005550006"


@pytest.fixture
def emulator(start_emulator) -> TwilioEmulator:
    return start_emulator(timeout=1)


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return build_client(get_settings())


def test_call_create_fetch_list_update(client: Client, emulator: TwilioEmulator) -> None:
    call = client.calls.create(to=TO, from_=FROM, url="https://app.example.net/api/twiml/message?Message=Hi")
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert call.status == "queued"
    assert call.direction == "outbound-api"
    assert parsedate_to_datetime(emulator.resources("calls")[call.sid]["date_created"]).tzinfo is not None
    assert client.calls(call.sid).fetch().to == TO
    assert [c.sid for c in client.calls.list(to=TO)] == [call.sid]
    assert client.calls.list(to="+15550000000") == []
    assert client.calls(call.sid).update(status="completed").status == "completed"
    assert emulator.created("calls")[0]["Url"] == ["https://app.example.net/api/twiml/message?Message=Hi"]


def test_message_create_fetch_list(client: Client, emulator: TwilioEmulator) -> None:
    message = client.messages.create(
        to=TO, from_=FROM, body="Hello", status_callback="https://x.example/api/sms/status"
    )
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert (message.status, message.body, message.num_segments) == ("queued", "Hello", "1")
    assert client.messages(message.sid).fetch().body == "Hello"
    later = client.messages.create(to=TO, from_=FROM, body="Second")
    assert [m.sid for m in client.messages.list(to=TO, from_=FROM)] == [later.sid, message.sid]
    assert emulator.created("messages")[0]["StatusCallback"] == ["https://x.example/api/sms/status"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "+15005550001", "from_": FROM, "body": "x"}, 21211),
        ({"to": "+15005550002", "from_": FROM, "body": "x"}, 21612),
        ({"to": "+15005550004", "from_": FROM, "body": "x"}, 21610),
        ({"to": "+15005550009", "from_": FROM, "body": "x"}, 21614),
        ({"to": TO, "from_": "+15005550001", "body": "x"}, 21212),
        ({"to": TO, "from_": "+15005550007", "body": "x"}, 21606),
        ({"to": "12345", "from_": FROM, "body": "x"}, 21211),
        ({"to": TO, "from_": FROM}, 21602),
        ({"to": TO, "from_": FROM, "body": "x" * 1601}, 21617),
    ],
)
def test_message_errors_are_twilios(client: Client, emulator: TwilioEmulator, kwargs, code: int) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**kwargs)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert emulator.created("messages") == []
    assert len(emulator.attempts("messages")) == 1


def test_call_errors_are_twilios(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=TO, from_=FROM, url="ftp://nope")
    assert raised.value.code == 21205
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=TO, from_="+15005550007", twiml="<Response/>")
    assert raised.value.code == 21210


def test_wrong_credentials_get_20003(emulator: TwilioEmulator) -> None:
    response = requests.post(
        f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": TO, "From": FROM, "Body": "x"}, auth=(ACCOUNT_SID, "wrong"), timeout=5,
    )  # fmt: skip
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    ok = requests.get(
        f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    )
    assert ok.status_code == 200


def test_rate_limit_answers_429_20429(client: Client, emulator: TwilioEmulator) -> None:
    emulator.rate_limits["messages"] = 2
    outcomes = []
    for _ in range(3):
        try:
            client.messages.create(to=TO, from_=FROM, body="x")
            outcomes.append("ok")
        except TwilioRestException as error:
            outcomes.append(f"{error.status}/{error.code}")
    assert outcomes == ["ok", "ok", "429/20429"]


def test_scripted_faults(client: Client, emulator: TwilioEmulator) -> None:
    emulator.faults.add("messages", status=500, times=1)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=TO, from_=FROM, body="x")
    assert (raised.value.status, raised.value.code) == (500, 20500)
    emulator.faults.add("*", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(to=TO, from_=FROM, body="x")
    assert emulator.created("messages") == []
    emulator.faults.add("messages", slow=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(to=TO, from_=FROM, body="slow")
    assert [m["Body"] for m in emulator.created("messages")] == [["slow"]]  # created, answer lost
    assert client.messages.create(to=TO, from_=FROM, body="fine").status == "queued"
    assert emulator.faults.injected == {"500": 1, "drop": 1, "slow": 1}


def test_a_500_after_create_has_created_and_can_carry_retry_after(client: Client, emulator: TwilioEmulator) -> None:
    emulator.faults.add("messages", status=500, created=True)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=TO, from_=FROM, body="carried out")
    assert (raised.value.status, raised.value.code) == (500, 20500)
    [sid] = emulator.resources("messages")  # Twilio has it, although it said 500
    assert client.messages(sid).fetch().body == "carried out"
    emulator.faults.add("calls", status=429, retry_after=7)
    answer = requests.post(f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
                           auth=(ACCOUNT_SID, AUTH_TOKEN), data={"To": TO, "From": FROM, "Twiml": "<Response/>"},
                           timeout=5)  # fmt: skip
    assert (answer.status_code, answer.headers["Retry-After"], answer.json()["code"]) == (429, "7", 20429)
    assert emulator.resources("calls") == {}
    assert emulator.faults.injected == {"500 after create": 1, "429": 1}
    with pytest.raises(ValueError, match="go with a status"):
        emulator.faults.add("calls", drop=True, created=True)


def test_a_storm_refuses_every_create_until_it_ends(client: Client, emulator: TwilioEmulator) -> None:
    emulator.faults.storm(60)
    with pytest.raises(TwilioRestException) as sms:
        client.messages.create(to=TO, from_=FROM, body="x")
    with pytest.raises(TwilioRestException) as call:
        client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    assert {(e.value.status, e.value.code) for e in (sms, call)} == {(429, 20429)}
    assert emulator.faults.storming
    assert client.messages.list(limit=1) == []  # reads are not part of it
    emulator.faults.storm(0)
    assert not emulator.faults.storming
    assert client.messages.create(to=TO, from_=FROM, body="after").status == "queued"


def test_requests_above_the_api_concurrency_get_429(client: Client, emulator: TwilioEmulator) -> None:
    """Twilio's concurrency limit: requests of the account in flight at once; a slow create holds its slot."""

    emulator.concurrency = 1
    released = threading.Event()
    emulator.faults.add("messages", hold=released)  # held until the second request is answered, however long
    slow = threading.Thread(target=lambda: _ignore_timeout(client, "held"))
    slow.start()
    try:
        _wait_until_created(emulator, 1)  # the held create is in (created, not yet answered)
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to=TO, from_=FROM, body="refused")
    finally:
        released.set()
    assert (raised.value.status, raised.value.code) == (429, 20429)
    slow.join()
    assert client.messages.create(to=TO, from_=FROM, body="after").status == "queued"
    assert emulator.refused_for_concurrency == 1
    assert [m["Body"] for m in emulator.created("messages")] == [["held"], ["after"]]


def test_a_held_create_is_created_then_answered_when_released(client: Client, emulator: TwilioEmulator) -> None:
    released = threading.Event()
    emulator.faults.add("messages", hold=released)
    answers: list[str] = []
    held = threading.Thread(target=lambda: answers.append(client.messages.create(to=TO, from_=FROM, body="x").status))
    held.start()
    try:
        _wait_until_created(emulator, 1)
        assert answers == []  # created, and not answered while held
    finally:
        released.set()
    held.join(timeout=30)
    assert answers == ["queued"]
    assert emulator.faults.injected == {"hold": 1}
    with pytest.raises(ValueError, match="exactly one of"):
        emulator.faults.add("messages", hold=released, slow=1)


def _wait_until_created(emulator: TwilioEmulator, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(emulator.created("messages")) < count:
        assert time.monotonic() < deadline, "the create never arrived"
        time.sleep(0.01)


def _ignore_timeout(client: Client, body: str) -> None:
    with contextlib.suppress(requests.exceptions.ReadTimeout):
        client.messages.create(to=TO, from_=FROM, body=body)


def test_random_fault_rates_are_seeded() -> None:
    from tools.emulator.faults import FaultPlan

    def draws(seed: int) -> list[str]:
        plan = FaultPlan()
        plan.rates(error_500=0.3, error_429=0.2, drop=0.1, seed=seed)
        return [repr(plan.next("calls")) for _ in range(200)]

    assert draws(7) == draws(7)
    outcomes = draws(7)
    assert 40 <= sum("status=500" in o for o in outcomes) <= 80
    assert 20 <= sum("drop=True" in o for o in outcomes) + sum("status=429" in o for o in outcomes) <= 80


def test_responses_match_twilios_openapi_schemas(client: Client, emulator: TwilioEmulator) -> None:
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    base = f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}"
    call = client.calls.create(to=TO, from_=FROM, twiml="<Response><Say>Hi</Say></Response>")
    message = client.messages.create(to=TO, from_=FROM, body="Hi", media_url=["https://x.example/a.png"])
    checks = [
        (CALLS, "post", requests.get(f"{base}/Calls/{call.sid}.json", auth=auth, timeout=5).json()),
        (CALL, "get", requests.get(f"{base}/Calls/{call.sid}.json", auth=auth, timeout=5).json()),
        (CALLS, "get", requests.get(f"{base}/Calls.json", auth=auth, timeout=5).json()),
        (MESSAGES, "post", requests.get(f"{base}/Messages/{message.sid}.json", auth=auth, timeout=5).json()),
        (MESSAGE, "get", requests.get(f"{base}/Messages/{message.sid}.json", auth=auth, timeout=5).json()),
        (MESSAGES, "get", requests.get(f"{base}/Messages.json", auth=auth, timeout=5).json()),
    ]
    for path, method, payload in checks:
        errors = [error.message for error in response_validator(path, method).iter_errors(payload)]
        assert errors == [], (path, method, errors)
        documented = set(response_validator(path, method).schema.get("properties", {}))
        assert set(payload) == documented, (path, method, set(payload) ^ documented)


def test_sdk_requests_use_only_documented_parameters(client: Client, emulator: TwilioEmulator) -> None:
    client.calls.create(
        to=TO, from_=FROM, url="https://x.example/t", status_callback="https://x.example/s",
        status_callback_event=["initiated", "ringing", "answered", "completed"], machine_detection="Enable",
    )  # fmt: skip
    client.messages.create(to=TO, from_=FROM, body="x", media_url=["https://x.example/a.png"])
    assert set(emulator.created("calls")[0]) <= request_parameters(CALLS, "post")
    assert set(emulator.created("messages")[0]) <= request_parameters(MESSAGES, "post")


ACCOUNT = "/2010-04-01/Accounts/{Sid}.json"


def test_account_fetch_is_the_cheap_authenticated_read(client: Client, emulator: TwilioEmulator) -> None:
    account = client.api.v2010.accounts(ACCOUNT_SID).fetch()
    assert (account.sid, account.status, account.type) == (ACCOUNT_SID, "active", "Full")
    payload = requests.get(f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}.json",
                           auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).json()  # fmt: skip
    assert AUTH_TOKEN not in str(payload)
    errors = [error.message for error in response_validator(ACCOUNT, "get").iter_errors(payload)]
    assert errors == []
    assert set(payload) == set(response_validator(ACCOUNT, "get").schema["properties"])
    with pytest.raises(TwilioRestException) as refused:
        Client(ACCOUNT_SID, "wrong-token-0123456789", http_client=client.http_client).api.v2010.accounts(
            ACCOUNT_SID
        ).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    other = "AC" + "f" * 32
    with pytest.raises(TwilioRestException) as missing:
        client.api.v2010.accounts(other).fetch()
    assert missing.value.status in (401, 404)


HX = "HX" + "0123456789abcdef" * 2
MG = "MG" + "0" * 32
WA_TO, WA_FROM = "whatsapp:+15558675310", "whatsapp:+15005550006"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": WA_TO, "from_": FROM, "body": "x"}, 21910),  # a WhatsApp address with a number
        ({"to": TO, "from_": WA_FROM, "body": "x"}, 21910),
        ({"to": TO, "from_": "ACME", "body": "x"}, 21612),  # an alphanumeric sender to the US
        ({"to": "+14165550123", "from_": "ACME", "body": "x"}, 21612),  # ... or Canada
        ({"to": TO, "from_": "ACME!", "body": "x"}, 21212),
        ({"to": TO, "from_": FROM, "content_sid": "HX123"}, 21655),
        ({"to": TO, "from_": FROM, "body": "x", "content_variables": '{"1": "a"}'}, 21654),
        ({"to": TO, "from_": FROM, "content_sid": HX, "content_variables": "[1]"}, 21656),
        ({"to": TO, "from_": FROM, "content_sid": HX, "body": "x"}, 20001),
        ({"to": TO, "from_": FROM, "media_url": [f"https://x.example/{n}.png" for n in range(11)]}, 21623),
        ({"to": TO, "from_": FROM, "body": "x", "validity_period": 36001}, 90007),
        ({"to": TO, "from_": FROM, "body": "x", "validity_period": 0}, 90007),
        ({"to": TO, "from_": FROM, "body": "x", "shorten_urls": True}, 20001),
        ({"to": TO, "from_": FROM, "body": "x", "max_price": "cheap"}, 20001),
    ],
)
def test_message_option_errors_are_twilios(client: Client, emulator: TwilioEmulator, kwargs, code: int) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**kwargs)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert emulator.created("messages") == []


def test_message_options_are_echoed_on_the_resource_and_rest_keeps_twilios_shape(
    client: Client, emulator: TwilioEmulator
) -> None:
    template = client.messages.create(
        to=WA_TO, from_=WA_FROM, content_sid=HX, content_variables='{"1": "Ada"}', validity_period=600,
        max_price="0.05", attempt=2, smart_encoded=True, provide_feedback=False,
    )  # fmt: skip
    located = client.messages.create(to=WA_TO, from_=WA_FROM, body="HQ", persistent_action=["geo:1,2|HQ"])
    shortened = client.messages.create(to=TO, messaging_service_sid=MG, body="https://x.example/a", shorten_urls=True,
                                       send_as_mms=True)  # fmt: skip
    alpha = client.messages.create(to="+442071838750", from_="Owl Air", body="Hi")
    kept = emulator.resources("messages")
    assert {key: kept[template.sid][key] for key in ("content_sid", "content_variables", "validity_period",
                                                    "max_price", "attempt", "smart_encoded", "provide_feedback")} == {
        "content_sid": HX, "content_variables": '{"1": "Ada"}', "validity_period": 600, "max_price": "0.05",
        "attempt": 2, "smart_encoded": True, "provide_feedback": False,
    }  # fmt: skip
    assert (kept[template.sid]["to"], kept[template.sid]["from"]) == (WA_TO, WA_FROM)
    assert kept[located.sid]["persistent_action"] == ["geo:1,2|HQ"]
    assert (kept[shortened.sid]["shorten_urls"], kept[shortened.sid]["send_as_mms"]) == (True, True)
    assert kept[alpha.sid]["from"] == "Owl Air"
    # Twilio's message JSON has none of them: the REST answers keep its documented shape.
    documented = set(response_validator(MESSAGE, "get").schema["properties"])
    auth, base = (ACCOUNT_SID, AUTH_TOKEN), f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}"
    for sid in (template.sid, located.sid, shortened.sid):
        fetched = requests.get(f"{base}/Messages/{sid}.json", auth=auth, timeout=5).json()
        assert set(fetched) == documented
        assert [error.message for error in response_validator(MESSAGE, "get").iter_errors(fetched)] == []
    listed = requests.get(f"{base}/Messages.json", auth=auth, timeout=5).json()["messages"]
    assert all(set(item) == documented for item in listed)
    assert set(emulator.created("messages")[0]) <= request_parameters(MESSAGES, "post")
