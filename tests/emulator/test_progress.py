"""Status callbacks as Twilio posts them: order, parameters, signatures the SDK accepts, scripted outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
from twilio.rest import Client

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import get_settings
from tests.emulator.webapp import WebApp
from tests.support import ACCOUNT_SID
from tools.emulator.callflow import CallScript
from tools.emulator.progress import CallbackPlan, Simulator
from tools.emulator.rest import TwilioEmulator

FROM = "+15005550006"
EVENTS = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
def emulator(start_emulator) -> TwilioEmulator:
    return start_emulator(timeout=5)


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return build_client(get_settings())


@pytest.fixture
def app() -> Iterator[WebApp]:
    routes = {
        "/twiml": lambda p: (
            '<Response><Gather numDigits="1" action="/pressed"><Say>Press a key.</Say></Gather></Response>'
        ),
        "/pressed": lambda p: f'<Response><Say>You pressed {p.get("Digits")}.</Say><Pause length="4"/></Response>',
        "/status": lambda p: "",
    }
    with WebApp(routes) as web:
        yield web


def simulate(emulator: TwilioEmulator, **kw) -> Simulator:
    return Simulator(emulator, slow_answer_seconds=0.2, **kw)


def call(client: Client, app: WebApp, to: str, **kw):
    return client.calls.create(
        to=to, from_=FROM, url=app.url("/twiml"), status_callback=app.url("/status"), status_callback_event=EVENTS, **kw
    )


def test_call_callbacks_in_twilios_order_with_twilios_params(client, emulator, app) -> None:
    with simulate(emulator, scripts={"+15558675310": CallScript(digits=("7",))}) as simulator:
        sid = call(client, app, "+15558675310").sid
        assert simulator.wait_idle(20)
    callbacks = list(app.posts_to("/status"))
    assert [c.params["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert [c.params["SequenceNumber"] for c in callbacks] == ["0", "1", "2", "3"]
    assert all(c.signature_valid for c in app.received)  # the SDK's RequestValidator accepts every one
    first, last = callbacks[0].params, callbacks[-1].params
    names = ("CallSid", "AccountSid", "From", "To", "Direction", "ApiVersion", "CallbackSource")
    assert {k: first[k] for k in names} == {
        "CallSid": sid, "AccountSid": ACCOUNT_SID, "From": FROM, "To": "+15558675310",
        "Direction": "outbound-api", "ApiVersion": "2010-04-01", "CallbackSource": "call-progress-events",
    }  # fmt: skip
    assert parsedate_to_datetime(first["Timestamp"]).tzinfo is not None
    assert "CallDuration" not in first
    assert last["CallDuration"] == "6"
    # The TwiML was walked between answered and completed.
    assert [r.params.get("Digits") for r in app.posts_to("/pressed")] == ["7"]
    assert simulator.walks[sid].transcript == [
        "Say: Press a key.", "Gather: pressed 7", "Say: You pressed 7.", "Pause: 4s",
    ]  # fmt: skip
    fetched = client.calls(sid).fetch()
    assert (fetched.status, fetched.duration) == ("completed", "6")
    assert fetched.start_time is not None
    assert fetched.end_time is not None
    assert (fetched.end_time - fetched.start_time).total_seconds() == 6


@pytest.mark.parametrize(
    ("to", "statuses"),
    [
        ("+15550100001", ["initiated", "ringing", "busy"]),
        ("+15550100002", ["initiated", "ringing", "no-answer"]),
        ("+15550100003", ["initiated", "failed"]),
        ("+15550100004", ["initiated", "ringing", "in-progress", "completed"]),
    ],
)
def test_scripted_call_outcomes(client, emulator, app, to: str, statuses: list[str]) -> None:
    with simulate(emulator) as simulator:
        sid = call(client, app, to).sid
        assert simulator.wait_idle(20)
    assert [r.params["CallStatus"] for r in app.posts_to("/status")] == statuses
    assert client.calls(sid).fetch().status == statuses[-1].replace("in-progress", "completed")
    assert (app.posts_to("/twiml") != []) == (statuses[-1] == "completed")


def test_default_events_and_machine_detection(client, emulator, app) -> None:
    with simulate(emulator) as simulator:
        sid = client.calls.create(
            to="+15550100006", from_=FROM, twiml="<Response><Say>Hi</Say></Response>",
            status_callback=app.url("/status"), machine_detection="Enable",
        ).sid  # fmt: skip
        assert simulator.wait_idle(20)
    assert [r.params["CallStatus"] for r in app.posts_to("/status")] == ["completed"]  # Twilio's default
    assert client.calls(sid).fetch().answered_by == "machine_start"


def test_message_callbacks_and_outcomes(client, emulator, app) -> None:
    with simulate(emulator) as simulator:
        sids = {
            to: client.messages.create(to=to, from_=FROM, body="Hi", status_callback=app.url("/status")).sid
            for to in ("+15558675310", "+15550100003", "+15550100005", "+15550100007", "+15550100008", "+15550100009")
        }
        assert simulator.wait_idle(20)
    by_sid: dict[str, list[dict[str, str]]] = {}
    for received in app.posts_to("/status"):
        assert received.signature_valid
        by_sid.setdefault(received.params["MessageSid"], []).append(received.params)
    delivered = by_sid[sids["+15558675310"]]
    assert [p["MessageStatus"] for p in delivered] == ["queued", "sent", "delivered"]
    assert {k: delivered[0][k] for k in ("SmsSid", "SmsStatus", "AccountSid", "From", "To", "ApiVersion")} == {
        "SmsSid": sids["+15558675310"], "SmsStatus": "queued", "AccountSid": ACCOUNT_SID, "From": FROM,
        "To": "+15558675310", "ApiVersion": "2010-04-01",
    }  # fmt: skip
    failed = by_sid[sids["+15550100003"]]
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in failed] == [("queued", None), ("failed", "30008")]
    undelivered = by_sid[sids["+15550100005"]]
    assert [p["MessageStatus"] for p in undelivered] == ["queued", "sent", "undelivered"]
    assert undelivered[-1]["ErrorCode"] == "30003"
    fetched = client.messages(sids["+15550100005"]).fetch()
    assert (fetched.status, fetched.error_code, fetched.date_sent is not None) == ("undelivered", 30003, True)
    assert client.messages(sids["+15558675310"]).fetch().status == "delivered"
    # The numbers SUPPRESS_ON_ERRORS and the 10DLC health warning are tested with (docs/emulator.md).
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in by_sid[sids["+15550100007"]]][-1] == (
        "undelivered",
        "30006",
    )
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in by_sid[sids["+15550100008"]]][-1] == (
        "undelivered",
        "30005",
    )
    assert [(p["MessageStatus"], p.get("ErrorCode")) for p in by_sid[sids["+15550100009"]]] == [
        ("queued", None), ("failed", "30034"),
    ]  # fmt: skip


def test_callbacks_can_be_reordered_and_duplicated(client, emulator, app) -> None:
    with simulate(emulator, plan=CallbackPlan(order="reverse", duplicates=1.0)) as simulator:
        call(client, app, "+15558675310")
        assert simulator.wait_idle(20)
    statuses = [r.params["CallStatus"] for r in app.posts_to("/status")]
    assert statuses == ["completed", "completed", "in-progress", "in-progress", "ringing", "ringing",
                        "initiated", "initiated"]  # fmt: skip


def test_failed_callbacks_are_retried_a_bounded_number_of_times(client, emulator, app) -> None:
    app.routes["/status"] = lambda p: (500, "")
    with simulate(emulator, plan=CallbackPlan(retries=2, retry_delay=0.01)) as simulator:
        client.messages.create(to="+15550100003", from_=FROM, body="x", status_callback=app.url("/status"))
        assert simulator.wait_idle(20)
    assert [r.params["MessageStatus"] for r in app.posts_to("/status")] == ["queued"] * 3 + ["failed"] * 3


def test_a_rest_hangup_ends_the_walk(client, emulator, app) -> None:
    app.routes["/twiml"] = lambda p: "<Response><Pause/><Redirect>/twiml</Redirect></Response>"
    updates: list[str] = []

    def hang_up_on_third_fetch(params: dict[str, str]) -> str:
        if len(app.posts_to("/twiml")) == 3 and not updates:
            updates.append(client.calls(params["CallSid"]).update(status="completed").status)
        return "<Response><Pause/><Redirect>/twiml</Redirect></Response>"

    app.routes["/twiml"] = hang_up_on_third_fetch
    with simulate(emulator) as simulator:
        sid = call(client, app, "+15558675310").sid
        assert simulator.wait_idle(20)
    assert updates == ["completed"]
    assert len(app.posts_to("/twiml")) == 3
    assert simulator.walks[sid].transcript[-1] == "[call ended by a REST update]"
    assert [r.params["CallStatus"] for r in app.posts_to("/status")][-1] == "completed"


def test_progressed_resources_still_match_twilios_schemas(client, emulator, app) -> None:
    from tests.openapi import response_validator

    with simulate(emulator) as simulator:
        call_sid = call(client, app, "+15558675310").sid
        message_sid = client.messages.create(to="+15550100005", from_=FROM, body="x").sid
        assert simulator.wait_idle(20)
    for path, resource in (
        ("/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json", emulator.resources("calls")[call_sid]),
        ("/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json", emulator.resources("messages")[message_sid]),
    ):
        errors = [error.message for error in response_validator(path, "get").iter_errors(resource)]
        assert errors == [], (path, errors)
    assert emulator.resources("calls")[call_sid]["status"] == "completed"
    assert emulator.resources("messages")[message_sid]["error_code"] == 30003
