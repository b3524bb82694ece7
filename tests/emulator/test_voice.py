"""The call walker over real HTTP: signed fetches with Twilio's parameters, a whole multi-step call, bounds."""

from __future__ import annotations

from tests.emulator.webapp import WebApp
from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tools.emulator.callflow import CallScript
from tools.emulator.voice import CallParty, walk_call

PARTY = CallParty(ACCOUNT_SID, AUTH_TOKEN, "CA" + "1" * 32, "+15558675310", "+15005550006", "inbound")


def test_a_whole_call_gather_dial_record_hangup() -> None:
    routes = {
        "/start": lambda p: '<Response><Gather numDigits="1" action="/choice"><Say>Press 1.</Say></Gather></Response>',
        "/choice": lambda p: (
            f"<Response><Say>You pressed {p['Digits']}.</Say>"
            '<Dial action="/dialed" method="GET"><Number>+15550100002</Number></Dial></Response>'
        ),
        "/dialed": lambda p: (
            f"<Response><Say>Dial said {p['DialCallStatus']}.</Say>"
            '<Record action="/recorded" recordingStatusCallback="/recording-status"/></Response>'
        ),
        "/recorded": lambda p: f"<Response><Say>Got {p['RecordingDuration']} seconds.</Say><Hangup/></Response>",
        "/recording-status": lambda p: "",
    }
    with WebApp(routes) as app:
        result = walk_call(PARTY, CallScript(digits=("1",)), url=app.url("/start"), first_status="ringing")
        received = list(app.received)
    assert result.transcript == [
        "Say: Press 1.", "Gather: pressed 1", "Say: You pressed 1.", "Dial: +15550100002 -> no-answer",
        "Say: Dial said no-answer.", "Record: beep",
        f"Record: 5s -> {received[4].params['RecordingUrl']}",
        "Say: Got 5 seconds.", "Hangup",
    ]  # fmt: skip
    assert (result.status, result.errors) == ("completed", [])
    paths = [r.path.split("?")[0] for r in received]
    assert paths == ["/start", "/choice", "/dialed", "/recording-status", "/recorded"]
    assert all(r.signature_valid for r in received)
    first, choice, dialed = received[0].params, received[1].params, received[2].params
    assert {k: first[k] for k in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion")} == {
        "CallSid": PARTY.call_sid, "AccountSid": ACCOUNT_SID, "From": "+15558675310", "To": "+15005550006",
        "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
    }  # fmt: skip
    assert (choice["Digits"], choice["CallStatus"]) == ("1", "in-progress")
    assert received[2].method == "GET"
    assert dialed["DialCallStatus"] == "no-answer"
    assert received[3].params["RecordingStatus"] == "completed"
    assert received[4].params["RecordingUrl"] == received[3].params["RecordingUrl"]


def test_a_redirect_loop_is_bounded() -> None:
    with WebApp({"/loop": lambda p: "<Response><Pause/><Redirect>/loop</Redirect></Response>"}) as app:
        result = walk_call(PARTY, CallScript(), url=app.url("/loop"), max_documents=7)
        assert len(app.received) == 7
    assert result.transcript[-1] == "[error] 7 documents without an end: Twilio hangs up"


def test_fetch_failures_end_the_call_with_twilios_codes() -> None:
    with WebApp({"/bad": lambda p: "<Response><Say>oops"}) as app:
        refused = walk_call(PARTY, CallScript(), url=app.url("/missing"))
        broken = walk_call(PARTY, CallScript(), url=app.url("/bad"))
        wrong_token = walk_call(
            CallParty(ACCOUNT_SID, "wrong-token", "CA" + "2" * 32, "+15558675310", "+15005550006"),
            CallScript(), url=app.url("/bad"),
        )  # fmt: skip
    assert refused.errors == [11200]
    assert "404" in refused.transcript[-1]
    assert broken.errors == [12100]
    assert wrong_token.errors == [11200]
    assert "403" in wrong_token.transcript[-1]


def test_inline_twiml_needs_no_fetch() -> None:
    result = walk_call(PARTY, CallScript(), twiml="<Response><Say>Hello world.</Say></Response>")
    assert (result.transcript, result.exchanges, result.seconds) == (["Say: Hello world."], [], 1)
