"""The emulator behaves as Twilio documents: list filters, paging errors, live updates, the clock, segments,
signatures over the wire URL, idempotency tokens, the documented webhook parameters, DELETE and other methods."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import get_settings
from tests.emulator.webapp import WebApp
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tools.emulator.callflow import CallScript
from tools.emulator.progress import CallbackPlan, Simulator
from tools.emulator.resources import num_segments, rfc2822
from tools.emulator.rest import TwilioEmulator

FROM, TO = "+15005550006", "+15558675310"
UTC = datetime.timezone.utc
EVENTS = ["initiated", "ringing", "answered", "completed"]
LOCATION = [side + field for side in ("From", "To") for field in ("City", "State", "Zip", "Country")]


@pytest.fixture
def emulator(start_emulator) -> TwilioEmulator:
    return start_emulator(timeout=5)


@pytest.fixture
def client(emulator: TwilioEmulator) -> Client:
    return build_client(get_settings())


@pytest.fixture
def app() -> Iterator[WebApp]:
    with WebApp({"/status": lambda p: "", "/twiml": lambda p: "<Response><Say>Hi</Say></Response>"}) as web:
        yield web


def raw(emulator: TwilioEmulator, method: str, path: str, **kw) -> requests.Response:
    url = f"{emulator.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/{path}"
    return requests.request(method, url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5, **kw)


def twilio_error(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["status"] == response.status_code
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    return body


# --- list filters ------------------------------------------------------------------------------------------
def test_call_time_and_parent_filters(client: Client, emulator: TwilioEmulator) -> None:
    days = {}
    for day in (1, 2, 3):
        sid = client.calls.create(to=TO, from_=FROM, twiml="<Response/>").sid
        start = datetime.datetime(2026, 3, day, 12, 0, tzinfo=UTC)
        emulator.update_resource("calls", sid, start_time=rfc2822(start), end_time=rfc2822(start.replace(hour=13)))
        days[day] = sid
    child = client.calls.create(to=TO, from_=FROM, twiml="<Response/>").sid
    emulator.update_resource("calls", child, parent_call_sid=days[2])

    def sids(**filters) -> set[str]:
        return {str(c.sid) for c in client.calls.list(**filters)}

    march = datetime.date
    assert sids(start_time=march(2026, 3, 2)) == {days[2]}
    assert sids(start_time_after=march(2026, 3, 2)) == {days[2], days[3]}  # on or after that day
    assert sids(start_time_before=march(2026, 3, 2)) == {days[1]}  # on or before midnight of that day
    assert sids(start_time_before=march(2026, 3, 3)) == {days[1], days[2]}
    assert sids(start_time_after=datetime.datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)) == {days[3]}
    assert sids(start_time_before=datetime.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) == {days[1], days[2]}
    assert sids(end_time=march(2026, 3, 3)) == {days[3]}
    assert sids(parent_call_sid=days[2]) == {child}
    # The documented wire form `StartTime>=YYYY-MM-DD` is the parameter `StartTime>`.
    answer = raw(emulator, "GET", "Calls.json?StartTime>=2026-03-03&StartTime<=2026-03-04")
    assert [c["sid"] for c in answer.json()["calls"]] == [days[3]]


def test_dial_legs_are_child_calls_listed_by_parent(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    app.routes["/after"] = lambda p: "<Response/>"
    twiml = (
        f'<Response><Dial action="{app.url("/after")}" callerId="+15005550006">'
        "<Number>+15558675311</Number><Number>+15558675312</Number></Dial></Response>"
    )
    with Simulator(emulator) as simulator:
        sid = client.calls.create(to=TO, from_=FROM, twiml=twiml).sid
        assert simulator.wait_idle(20)
    children = {c.to: c for c in client.calls.list(parent_call_sid=sid)}
    assert set(children) == {"+15558675311", "+15558675312"}
    winner, other = children["+15558675311"], children["+15558675312"]
    [after] = app.posts_to("/after")
    assert after.params["DialCallSid"] == winner.sid
    assert (winner.status, winner.direction, winner.parent_call_sid) == ("completed", "outbound-dial", sid)
    assert winner.duration == after.params["DialCallDuration"] == "10"
    assert other.status == "canceled"  # simulring: the first to answer wins, the others stop ringing
    assert client.calls(sid).fetch().parent_call_sid is None
    assert {c.sid for c in client.calls.list(parent_call_sid=winner.sid)} == set()


def test_message_date_sent_filters(client: Client, emulator: TwilioEmulator) -> None:
    sent = {}
    for day in (10, 11):
        sid = client.messages.create(to=TO, from_=FROM, body=f"day {day}").sid
        emulator.update_resource("messages", sid, date_sent=rfc2822(datetime.datetime(2026, 4, day, 9, tzinfo=UTC)))
        sent[day] = sid
    unsent = client.messages.create(to=TO, from_=FROM, body="not yet sent").sid

    def sids(**filters) -> set[str]:
        return {str(m.sid) for m in client.messages.list(**filters)}

    assert sids() == {sent[10], sent[11], unsent}
    assert sids(date_sent=datetime.date(2026, 4, 10)) == {sent[10]}
    assert sids(date_sent_after=datetime.date(2026, 4, 11)) == {sent[11]}
    assert sids(date_sent_before=datetime.date(2026, 4, 11)) == {sent[10]}
    assert sids(date_sent_before=datetime.datetime(2026, 4, 11, 9, tzinfo=UTC)) == {sent[10], sent[11]}
    assert sids(date_sent_before=datetime.date(2026, 4, 9)) == set()


def test_a_bad_filter_date_is_a_twilio_400(emulator: TwilioEmulator) -> None:
    answer = raw(emulator, "GET", "Calls.json?StartTime>=yesterday")
    assert answer.status_code == 400
    assert twilio_error(answer)["code"] == 20001


# --- paging ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["PageSize=abc", "PageSize=0", "PageSize=1001", "Page=-1", "Page=x", "PageSize=2.5"])
def test_bad_paging_values_are_twilio_400s(emulator: TwilioEmulator, query: str) -> None:
    for kind in ("Calls", "Messages"):
        answer = raw(emulator, "GET", f"{kind}.json?{query}")
        assert answer.status_code == 400
        body = twilio_error(answer)
        assert body["code"] == 20001
        assert query.split("=", maxsplit=1)[0] in body["message"]


def test_paging_walks_every_page(client: Client, emulator: TwilioEmulator) -> None:
    created = [client.messages.create(to=TO, from_=FROM, body=f"m{i}").sid for i in range(5)]
    assert [m.sid for m in client.messages.list(page_size=2)] == created[::-1]
    page = raw(emulator, "GET", "Messages.json?PageSize=2&Page=2").json()
    assert ([m["sid"] for m in page["messages"]], page["next_page_uri"]) == ([created[0]], None)
    assert page["previous_page_uri"].endswith("Page=1")


def test_sdk_sees_a_paging_error_as_twilios_answer(client: Client) -> None:
    from twilio.base.exceptions import TwilioException

    with pytest.raises(TwilioException) as raised:
        client.calls.page(page_size=5000)
    assert '"code": 20001' in str(raised.value)


# --- live updates ------------------------------------------------------------------------------------------
def test_update_with_twiml_redirects_a_call_in_progress(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    with Simulator(emulator, pace=0.05) as simulator:  # 60 simulated seconds take 3 s
        sid = client.calls.create(
            to=TO, from_=FROM, twiml='<Response><Say>Please hold.</Say><Pause length="60"/></Response>'
        ).sid
        _wait_for(lambda: client.calls(sid).fetch().status == "in-progress")
        updated = client.calls(sid).update(twiml="<Response><Say>Your agent is here.</Say></Response>")
        assert updated.status == "in-progress"
        assert simulator.wait_idle(20)
    transcript = simulator.walks[sid].transcript
    assert transcript[-2:] == ["[updated by REST: new TwiML]", "Say: Your agent is here."]
    final = client.calls(sid).fetch()
    assert final.status == "completed"
    assert int(final.duration) < 60  # the pause was cut short


def test_update_with_url_fetches_the_new_twiml_signed(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    app.routes["/next"] = lambda p: "<Response><Say>Moved on.</Say></Response>"
    with Simulator(emulator, pace=0.05) as simulator:
        sid = client.calls.create(to=TO, from_=FROM, twiml='<Response><Pause length="60"/></Response>').sid
        _wait_for(lambda: client.calls(sid).fetch().status == "in-progress")
        client.calls(sid).update(url=app.url("/next"), method="GET")
        assert simulator.wait_idle(20)
    [fetch] = app.posts_to("/next")
    assert (fetch.method, fetch.params["CallSid"], fetch.signature_valid) == ("GET", sid, True)
    assert simulator.walks[sid].transcript[-1] == "Say: Moved on."


def test_update_of_a_ringing_call_replaces_its_twiml(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    with Simulator(emulator, slow_answer_seconds=1.5) as simulator:
        sid = client.calls.create(to="+15550100004", from_=FROM, url=app.url("/twiml")).sid  # a slow answer
        _wait_for(lambda: client.calls(sid).fetch().status == "ringing")
        client.calls(sid).update(twiml="<Response><Say>Changed before answering.</Say></Response>")
        assert simulator.wait_idle(20)
    assert app.posts_to("/twiml") == []
    assert simulator.walks[sid].transcript[-1] == "Say: Changed before answering."


def test_a_finished_call_cannot_be_updated(client: Client, emulator: TwilioEmulator) -> None:
    with Simulator(emulator) as simulator:
        sid = client.calls.create(to=TO, from_=FROM, twiml="<Response><Say>Hi</Say></Response>").sid
        assert simulator.wait_idle(20)
    for change in ({"twiml": "<Response/>"}, {"url": "https://example.net/x"}, {"status": "completed"}):
        with pytest.raises(TwilioRestException) as raised:
            client.calls(sid).update(**change)
        assert (raised.value.status, raised.value.code) == (400, 21220)


# --- the clock ---------------------------------------------------------------------------------------------
def test_times_and_durations_agree_on_the_emulators_clock(client: Client, emulator: TwilioEmulator, app) -> None:
    with Simulator(emulator) as simulator:
        sid = client.calls.create(
            to=TO, from_=FROM, twiml='<Response><Say>Hold on.</Say><Pause length="30"/></Response>',
            status_callback=app.url("/status"), status_callback_event=EVENTS,
        ).sid  # fmt: skip
        assert simulator.wait_idle(20)
    answer = raw(emulator, "GET", f"Calls/{sid}.json")
    call = answer.json()
    created, start, end, updated = (
        parsedate_to_datetime(call[k]) for k in ("date_created", "start_time", "end_time", "date_updated")
    )
    served_at = parsedate_to_datetime(answer.headers["Date"])
    assert call["duration"] == "31"
    assert created <= start <= end <= updated <= served_at  # no end time after "now"
    assert (end - start).total_seconds() == 31
    stamps = [parsedate_to_datetime(r.params["Timestamp"]) for r in app.posts_to("/status")]
    assert stamps == sorted(stamps)
    assert stamps[-1] >= end
    assert emulator.clock.ahead_seconds >= 29  # the simulated half minute the wall clock did not wait


# --- segments ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
        ("€" * 80, 1), ("€" * 81, 2), ("{" * 77 + "a", 1),  # the extension table counts two
        ("Ж" * 70, 1), ("Ж" * 71, 2), ("Ж" * 84, 2), ("Ж" * 134, 2), ("Ж" * 135, 3),  # UCS-2: 70 / 67
        ("a" * 159 + "😀", 3),  # one emoji makes the whole body UCS-2: 161 UTF-16 units
    ],
)  # fmt: skip
def test_num_segments(body: str, segments: int) -> None:
    assert num_segments(body) == segments


def test_message_resource_reports_segments(client: Client) -> None:
    assert client.messages.create(to=TO, from_=FROM, body="Привет " * 12).num_segments == "2"  # 84 Cyrillic


# --- signatures, tokens and parameters ----------------------------------------------------------------------
def test_signatures_hold_for_urls_the_client_reencodes(client: Client, emulator: TwilioEmulator, app) -> None:
    status = app.url("/status") + "?who=Zoë|Ann&note=a b"
    twiml = app.url("/twiml") + "?city=Malmö|SE"
    with Simulator(emulator) as simulator:
        client.calls.create(to=TO, from_=FROM, url=twiml, method="GET", status_callback=status)
        client.messages.create(to=TO, from_=FROM, body="x", status_callback=status)
        assert simulator.wait_idle(20)
    received = app.posts_to("/status") + app.posts_to("/twiml")
    assert len(received) == 5
    assert all(r.signature_valid for r in received), [r.path for r in received if not r.signature_valid]
    assert any("%7C" in r.path and "Zo%C3%AB" in r.path for r in received)  # re-encoded on the wire
    assert {unquote(r.path.split("?")[1].split("&")[0]) for r in app.posts_to("/status")} == {"who=Zoë|Ann"}


def test_every_webhook_has_an_idempotency_token_kept_across_retries(client, emulator, app) -> None:
    attempts: list[str] = []

    def flaky(params: dict[str, str]) -> tuple[int, str]:
        attempts.append(params["MessageStatus"])
        return (503, "") if len(attempts) == 1 else (200, "")

    app.routes["/sms-status"] = flaky
    plan = CallbackPlan(duplicates=1.0, retry_delay=0.01)
    with Simulator(emulator, plan=plan) as simulator:
        client.calls.create(to=TO, from_=FROM, url=app.url("/twiml"), status_callback=app.url("/status"))
        client.messages.create(to=TO, from_=FROM, body="x", status_callback=app.url("/sms-status"))
        assert simulator.wait_idle(20)
    received = app.received
    tokens = [r.headers.get("I-Twilio-Idempotency-Token") for r in received]
    assert all(tokens), [r.path for r in received if not r.headers.get("I-Twilio-Idempotency-Token")]
    by_event: dict[tuple[str, str], set[str]] = {}
    for r in app.posts_to("/sms-status") + app.posts_to("/status"):
        event = (r.params.get("MessageStatus") or r.params["CallStatus"], r.path)
        by_event.setdefault(event, set()).add(r.headers["I-Twilio-Idempotency-Token"])
    # queued: failed once, retried, then duplicated: three deliveries of one event, one token.
    assert attempts[:3] == ["queued"] * 3
    assert all(len(found) == 1 for found in by_event.values()), by_event
    assert len({next(iter(found)) for found in by_event.values()}) == len(by_event)  # events differ


def test_documented_voice_and_recording_parameters(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    app.routes["/twiml"] = lambda p: (
        '<Response><Say>Leave a message.</Say><Record action="/recorded" recordingStatusCallback="/recording" '
        'transcribeCallback="/transcribed"/></Response>'
    )
    for path in ("/recorded", "/recording", "/transcribed"):
        app.routes[path] = lambda p: "<Response/>"
    scripts = {TO: CallScript(recording_seconds=7)}
    with Simulator(emulator, scripts=scripts) as simulator:
        sid = client.calls.create(
            to=TO, from_=FROM, url=app.url("/twiml"), status_callback=app.url("/status"),
            status_callback_event=EVENTS,
        ).sid  # fmt: skip
        assert simulator.wait_idle(20)
    assert all(r.signature_valid for r in app.received)
    for request in app.posts_to("/twiml") + app.posts_to("/status"):
        assert set(LOCATION) <= set(request.params), request.path
        assert (request.params["FromCountry"], request.params["ToCountry"]) == ("US", "US")
        assert re.fullmatch(r"\S{16,}", request.params["CallToken"])
    [recording] = app.posts_to("/recording")
    assert (recording.params["RecordingTrack"], recording.params["RecordingStatus"]) == ("inbound", "completed")
    call = client.calls(sid).fetch()
    assert call.start_time is not None
    assert call.end_time is not None
    began = parsedate_to_datetime(recording.params["RecordingStartTime"])
    assert call.start_time <= began <= call.end_time - datetime.timedelta(seconds=7)
    [transcribed] = app.posts_to("/transcribed")
    expected = {"From": FROM, "To": TO, "CallStatus": "in-progress", "ApiVersion": "2010-04-01",
                "Direction": "outbound-api", "CallSid": sid, "AccountSid": ACCOUNT_SID}  # fmt: skip
    assert {k: transcribed.params.get(k) for k in expected} == expected


def test_delivered_sms_carries_raw_dlr_done_date(client: Client, emulator: TwilioEmulator, app: WebApp) -> None:
    with Simulator(emulator) as simulator:
        client.messages.create(to=TO, from_=FROM, body="x", status_callback=app.url("/status"))
        assert simulator.wait_idle(20)
    by_status = {r.params["MessageStatus"]: r.params for r in app.posts_to("/status")}
    assert re.fullmatch(r"\d{10}", by_status["delivered"]["RawDlrDoneDate"])
    assert "RawDlrDoneDate" not in by_status["sent"]


# --- DELETE and other methods ------------------------------------------------------------------------------
def test_remove_answers_like_twilio(client: Client, emulator: TwilioEmulator) -> None:
    call = client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    message = client.messages.create(to=TO, from_=FROM, body="x")
    for resource in (client.calls(call.sid), client.messages(message.sid)):
        with pytest.raises(TwilioRestException) as raised:
            resource.delete()  # still queued
        assert (raised.value.status, raised.value.code) == (400, 20009)
    emulator.update_resource("calls", call.sid, status="completed")
    emulator.update_resource("messages", message.sid, status="delivered")
    assert client.calls(call.sid).delete() is True
    assert client.messages(message.sid).delete() is True
    for resource in (client.calls(call.sid), client.messages(message.sid)):
        with pytest.raises(TwilioRestException) as raised:
            resource.fetch()
        assert raised.value.status == 404
    answer = raw(emulator, "DELETE", f"Calls/{call.sid}.json")
    assert (answer.status_code, twilio_error(answer)["code"]) == (404, 20404)


@pytest.mark.parametrize(("method", "path"), [("PUT", "Calls.json"), ("PATCH", "Messages.json"),
                                              ("DELETE", "Calls.json"), ("OPTIONS", "Calls.json")])  # fmt: skip
def test_unsupported_methods_answer_twilio_json(emulator: TwilioEmulator, method: str, path: str) -> None:
    answer = raw(emulator, method, path)
    assert answer.status_code == 405
    assert twilio_error(answer)["code"] == 20004


def test_message_redaction(client: Client, emulator: TwilioEmulator) -> None:
    sid = client.messages.create(to=TO, from_=FROM, body="secret").sid
    with pytest.raises(TwilioRestException) as raised:
        client.messages(sid).update(body="")
    assert raised.value.code == 20009
    emulator.update_resource("messages", sid, status="delivered")
    assert client.messages(sid).update(body="").body == ""


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
