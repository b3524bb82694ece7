"""The twimlets through the real function: signed requests, 404s, and multi-step flows against Azurite."""

from __future__ import annotations

import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from tests.support import (
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    function,
    http_request,
    signed_form,
    twilio_signature,
    xml_of,
)
from tests.support import XML_DECLARATION as DECL

BASE = f"{PUBLIC_BASE_URL}/api/twiml"
# Behind Azure's front end the worker sees another origin; Twilio signs the public one.
INTERNAL = "http://127.0.0.1:7071/api/twiml"
CALLER = "+15550001111"
CALL = {"CallSid": "CA" + "c" * 32, "From": CALLER, "To": "+15005550006", "CallStatus": "in-progress"}
SORRY = f"{DECL}<Response><Say>Sorry, this number is not set up correctly. Goodbye.</Say><Hangup /></Response>"


def twimlet(app, path_and_query: str, params=None, *, method: str = "POST", token: str = AUTH_TOKEN):
    """Call /api/twiml/<name> as the host would, signed for the public URL Twilio requested."""
    public, internal = f"{BASE}/{path_and_query}", f"{INTERNAL}/{path_and_query}"
    name = path_and_query.split("?", 1)[0]
    if method == "GET":
        headers = {"X-Twilio-Signature": twilio_signature(public)}
        request = http_request("GET", internal, headers=headers, route_params={"name": name})
        return function(app, "twiml_twimlet")(request)
    headers, body = signed_form(internal, params or {}, signed_as=public, token=token)
    request = http_request("POST", internal, headers=headers, body=body, route_params={"name": name})
    return function(app, "twiml_twimlet")(request)


def follow(current: str, url: str) -> str:
    """The path and query Twilio would request next: `url` resolved against the current request URL."""
    absolute = urljoin(f"{BASE}/{current}", url)
    assert absolute.startswith(f"{BASE}/"), absolute
    return absolute[len(BASE) + 1 :]


def stored_call(call_sid: str) -> dict[str, Any]:
    """The call's record as GET /api/records/{id} shows it."""
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    record, events = store_for(get_settings()).record_with_events(call_sid)
    assert record is not None
    return record.to_json(events)


def element(xml: str, tag: str) -> ET.Element:
    found = ET.fromstring(xml.removeprefix(DECL)).find(f".//{tag}")  # noqa: S314 - our own test output
    assert found is not None, (tag, xml)
    return found


def test_the_twimlet_route_is_declared_for_get_and_post(app) -> None:
    from tools.devhost.index import functions_of

    routes = {}
    for fn in functions_of(app):
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        routes[trigger.get("route")] = (trigger.get("methods"), trigger.get("authLevel"))
    assert routes["twiml/{name}"] == (["GET", "POST"], "ANONYMOUS")
    assert routes["twiml/message"] == (["GET", "POST"], "ANONYMOUS")


@pytest.mark.parametrize("name", ["nope", "Forward", "echo", ""])
def test_unknown_twimlets_and_echo_while_off_are_404(app, name: str) -> None:
    response = twimlet(app, f"{name}?Twiml=%3CResponse%2F%3E", CALL)
    assert response.status_code == 404
    assert b"<Response" not in response.get_body()


def test_echo_when_enabled_is_still_signed(app, configure) -> None:
    configure(TWIML_ECHO_ENABLED="true")
    query = "echo?Twiml=%3CResponse%3E%3CSay%3EHi%3C%2FSay%3E%3C%2FResponse%3E"
    assert xml_of(twimlet(app, query)) == "<Response><Say>Hi</Say></Response>"
    unsigned = http_request("POST", f"{BASE}/{query}", route_params={"name": "echo"})
    assert function(app, "twiml_twimlet")(unsigned).status_code == 403


def test_unsigned_and_wrongly_signed_twimlets_are_forbidden(app, configure) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="+1555*")
    url = f"{BASE}/forward?PhoneNumber=%2B15551234567"
    unsigned = http_request("GET", url, route_params={"name": "forward"})
    assert function(app, "twiml_twimlet")(unsigned).status_code == 403
    assert twimlet(app, "forward?PhoneNumber=%2B15551234567", CALL, token="not-our-token").status_code == 403
    assert twimlet(app, "forward?PhoneNumber=%2B15551234567", CALL).status_code == 200


def test_forward_dial_outcome_flow(app, configure) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="+15551234567, +1444*")
    first = "forward?PhoneNumber=%2B15551234567&FailUrl=https%3A%2F%2Fexample.net%2Fbusy"
    xml = xml_of(twimlet(app, first))
    assert xml == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=%2B15551234567&amp;FailUrl=https%3A%2F%2F'
        'example.net%2Fbusy&amp;Stage=dial-result" timeout="20"><Number>+15551234567</Number></Dial></Response>'
    )
    action = follow(first, element(xml, "Dial").attrib["action"])
    busy = xml_of(twimlet(app, action, {**CALL, "DialCallStatus": "busy"}))
    assert busy == f"{DECL}<Response><Redirect>https://example.net/busy</Redirect></Response>"
    answered = xml_of(twimlet(app, action, {**CALL, "DialCallStatus": "completed"}))
    assert answered == f"{DECL}<Response><Hangup /></Response>"


def test_forward_outside_the_allow_list_never_dials(app, configure, caplog) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS=None, VOICE_FORWARD_TO="+15551230000")
    assert xml_of(twimlet(app, "forward?PhoneNumber=%2B19005550123", CALL)) == SORRY
    assert "FORWARD_ALLOWED_DESTINATIONS is unset" in caplog.text
    assert "<Dial" in xml_of(twimlet(app, "forward?PhoneNumber=%2B15551230000", CALL))
    configure(FORWARD_ALLOWED_DESTINATIONS="+1*")  # a whole country, still never its premium-rate numbers
    assert xml_of(twimlet(app, "forward?PhoneNumber=%2B19005550123", CALL)) == SORRY


@pytest.mark.parametrize(
    "query",
    [
        "forward",
        "forward?PhoneNumber=%2B15551234567&CallerId=%00",
        "simulring?PhoneNumbers%5B0%5D=%E2%98%8E",
        "menu?Options%5B%5D=x",
        "conference?Password=%3Cscript%3E",
        "holdmusic?Container=..%2F..",
        "voicemail?Stage=transcription",
        "findme?PhoneNumbers=%2B15551234567&Stage=dial-result&Index=%D9%A3",
    ],
)
def test_bad_parameters_are_an_apology_never_a_500(app, configure, query: str) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="+1555*")
    assert xml_of(twimlet(app, query, CALL)) == SORRY


def test_findme_walks_the_list_then_fails_over(app, configure) -> None:
    configure(FORWARD_ALLOWED_DESTINATIONS="+1555*")
    numbers = "PhoneNumbers%5B%5D=%2B15551234567&PhoneNumbers%5B%5D=%2B15551234568"
    current = f"findme?{numbers}&FailUrl=%2Fapi%2Ftwiml%2Fvoicemail"
    dialled = []
    for _ in range(2):
        xml = xml_of(twimlet(app, current, {**CALL, "DialCallStatus": "no-answer"}))
        dialled.append(element(xml, "Number").text)
        # The callee's leg hears the whisper, which asks for a key before bridging.
        whisper_path = follow(current, element(xml, "Number").attrib["url"])
        whisper = xml_of(twimlet(app, whisper_path, CALL))
        check = follow(whisper_path, element(whisper, "Gather").attrib["action"])
        assert xml_of(twimlet(app, check, {**CALL, "Digits": "1"})) == f"{DECL}<Response />"
        current = follow(current, element(xml, "Dial").attrib["action"])
    assert dialled == ["+15551234567", "+15551234568"]
    assert xml_of(twimlet(app, current, {**CALL, "DialCallStatus": "no-answer"})) == (
        f"{DECL}<Response><Redirect>{BASE}/voicemail</Redirect></Response>"
    )


def test_menu_miss_then_choice(app) -> None:
    first = "menu?Message=Press%201&Options%5B1%5D=https%3A%2F%2Fexample.net%2Fsales"
    xml = xml_of(twimlet(app, first, CALL))
    action = follow(first, element(xml, "Gather").attrib["action"])
    missed = xml_of(twimlet(app, action, {**CALL, "Digits": "7"}))
    assert "<Say>I'm sorry, that wasn't a valid option.</Say>" in missed
    again = follow(action, element(missed, "Gather").attrib["action"])
    assert again.endswith("Stage=choice&Loop=2")
    chosen = xml_of(twimlet(app, again, {**CALL, "Digits": "1"}))
    assert chosen == f"{DECL}<Response><Redirect>https://example.net/sales</Redirect></Response>"


def test_conference_password_retry_then_join(app) -> None:
    first = "conference?Name=Board&Password=2468&Music=classical"
    xml = xml_of(twimlet(app, first, CALL))
    action = follow(first, element(xml, "Gather").attrib["action"])
    wrong = xml_of(twimlet(app, action, {**CALL, "Digits": "1357"}))
    assert "<Say>That password is not correct.</Say>" in wrong
    retry = follow(action, element(wrong, "Gather").attrib["action"])
    joined = xml_of(twimlet(app, retry, {**CALL, "Digits": "2468"}))
    assert joined == (
        f"{DECL}<Response><Say>You are now entering the conference line.</Say><Dial>"
        '<Conference waitMethod="GET" waitUrl="https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical">'
        "Board</Conference></Dial></Response>"
    )


def test_voicemail_recording_and_transcription_land_in_storage_and_the_outbound_queue(app, azurite) -> None:
    from azure.core.exceptions import ResourceExistsError

    from switchboard.adapters.storage import queue_client

    outbound = queue_client("outbound")
    try:
        outbound.create_queue()
    except ResourceExistsError:
        outbound.clear_messages()
    first = "voicemail?Message=Leave%20a%20message&NotifyNumber=%2B15558675310"
    xml = xml_of(twimlet(app, first, CALL))
    record = element(xml, "Record").attrib
    recording = {"CallSid": CALL["CallSid"], "RecordingSid": "RE" + "d" * 32, "RecordingStatus": "completed",
                 "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "d" * 32,
                 "RecordingDuration": "9"}  # fmt: skip
    status_path = follow(first, record["recordingStatusCallback"])
    assert xml_of(twimlet(app, status_path, recording)) == f"{DECL}<Response />"
    stored = stored_call(CALL["CallSid"])
    assert stored["recording_url"] == recording["RecordingUrl"]
    assert stored["recording_duration"] == 9
    assert stored["from"] == CALLER
    assert "transcript" not in stored
    assert list(outbound.peek_messages()) == []  # the notice waits for the transcript

    # As Twilio sends it: the transcript and the recording, but no duration (that comes from the stored row).
    transcribed = {"CallSid": CALL["CallSid"], "RecordingSid": recording["RecordingSid"], "From": CALLER,
                   "RecordingUrl": recording["RecordingUrl"], "TranscriptionSid": "TR" + "d" * 32,
                   "TranscriptionText": "Call me back please.", "TranscriptionStatus": "completed"}  # fmt: skip
    transcription_path = follow(first, record["transcribeCallback"])
    for _ in range(2):  # Twilio retries callbacks; the queue id makes the outbound worker send once
        assert xml_of(twimlet(app, transcription_path, transcribed)) == f"{DECL}<Response />"
    stored = stored_call(CALL["CallSid"])
    assert stored["transcript"] == "Call me back please."
    assert stored["recording_duration"] == 9  # merged, not replaced
    assert [e["detail"] for e in stored["events"] if e["kind"] == "voicemail"] == [
        "recording", "transcription completed",
    ]  # fmt: skip

    link = recording["RecordingUrl"]
    raw = [m.content for m in queue_client("outbound", base64=False).receive_messages(max_messages=32)]
    assert len(raw) == 2
    messages = [json.loads(base64.b64decode(text)) for text in raw]
    assert (
        messages[0]
        == messages[1]
        == {
            "type": "sms",
            "id": "vm-RE" + "d" * 32,
            "to": "+15558675310",
            "body": f'New voicemail from {CALLER} (9 s): "Call me back please." Listen: {link}.mp3',
        }
    )
    after = xml_of(twimlet(app, follow(first, record["action"]), recording))
    assert after == f"{DECL}<Response><Say>Thanks.  Good bye.</Say><Hangup /></Response>"


def test_holdmusic_lists_audio_from_a_blob_container(app, azurite, configure) -> None:
    from azure.core.exceptions import ResourceExistsError

    from switchboard.adapters.storage import blob_service_client

    configure(HOLDMUSIC_CONTAINERS="lobby-music")
    container = blob_service_client().get_container_client("lobby-music")
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    audio = {"jazz/one.mp3": b"ID3-one", "two.WAV": b"RIFF-two", "notes.txt": b"not audio", "cover.jpg": b"jpg"}
    for name, data in audio.items():
        container.upload_blob(name, data, overwrite=True)

    xml = xml_of(twimlet(app, "holdmusic?Container=lobby-music&Message=Please%20hold", CALL))
    root = ET.fromstring(xml.removeprefix(DECL))  # noqa: S314 - our own test output
    plays = [play.text or "" for play in root.iter("Play")]
    assert sorted(url.split("?")[0].rsplit("/lobby-music/", 1)[1] for url in plays) == ["jazz/one.mp3", "two.WAV"]
    assert [child.tag for child in root] == ["Play", "Say", "Play", "Say", "Redirect"]
    assert element(xml, "Redirect").text == "/api/twiml/holdmusic?Container=lobby-music&Message=Please+hold"
    # The links carry a read-only SAS, so Twilio can fetch them from a private container.
    fetched = {requests.get(url, timeout=10).content for url in plays}
    assert fetched == {b"ID3-one", b"RIFF-two"}
    assert requests.get(plays[0].split("?")[0], timeout=10).status_code in (403, 404)

    assert xml_of(twimlet(app, "holdmusic?Container=holdmusic", CALL)) == SORRY  # not in HOLDMUSIC_CONTAINERS


def test_voice_incoming_falls_back_to_the_voicemail_twimlet(app, configure) -> None:
    configure(VOICE_FORWARD_TO="+15551230000", VOICE_VOICEMAIL="true", VOICE_GREETING=None,
              VOICE_VOICEMAIL_GREETING="Please leave a message.",
              VOICE_BUSINESS_HOURS="Mon-Sun 00:00-24:00 UTC")  # fmt: skip
    voice = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    xml = xml_of(post_voice(app, voice, CALL))
    action = element(xml, "Dial").attrib["action"]
    assert action == "/api/voice/incoming?Stage=dial-result"
    fallback = xml_of(post_voice(app, urljoin(voice, action), {**CALL, "DialCallStatus": "busy"}))
    mailbox = element(fallback, "Redirect").text or ""
    assert mailbox == "/api/twiml/voicemail?Message=Please+leave+a+message."
    recorded = xml_of(twimlet(app, follow("voicemail", mailbox), CALL))
    assert element(recorded, "Say").text == "Please leave a message."
    assert element(recorded, "Record").attrib["recordingStatusCallback"] == (
        "/api/twiml/voicemail?Message=Please+leave+a+message.&Stage=recording&VoicemailFrom=%2B15550001111"
    )


def post_voice(app, url: str, params):
    headers, body = signed_form(url, params)
    return function(app, "voice_incoming")(http_request("POST", url, headers=headers, body=body))


def test_twimlets_over_http_through_the_local_host(app, configure) -> None:
    from tools.devhost.host import LocalHost
    from tools.localmachine import free_port

    configure(PUBLIC_BASE_URL=None)

    def get(url: str) -> requests.Response:
        return requests.get(url, headers={"X-Twilio-Signature": twilio_signature(url)}, timeout=10)

    with LocalHost(app, port=free_port(), queues=False) as host:
        first = f"{host.base_url}/twiml/menu?Options%5B1%5D=https%3A%2F%2Fexample.net%2F1"
        signed, empty = signed_form(first, {})
        menu = requests.post(first, headers=signed, data=empty, timeout=10)
        assert menu.status_code == 200
        action = urljoin(first, element(menu.text, "Gather").attrib["action"])
        headers, body = signed_form(action, {"Digits": "1"})
        chosen = requests.post(action, headers=headers, data=body, timeout=10)
        assert chosen.text == f"{DECL}<Response><Redirect>https://example.net/1</Redirect></Response>"
        # message still answers next to the template; unknown names are 404.
        assert get(f"{host.base_url}/twiml/message?Message=Hi").text == f"{DECL}<Response><Say>Hi</Say></Response>"
        assert get(f"{host.base_url}/twiml/unknown").status_code == 404


def test_storage_failure_in_a_callback_is_logged_and_answered_not_a_500(app, configure, caplog) -> None:
    configure(AzureWebJobsStorage="")
    callback = {"CallSid": "CA" + "f" * 32, "RecordingSid": "RE" + "f" * 32, "RecordingUrl": "https://x/r"}
    response = twimlet(app, "voicemail?Transcribe=false&Stage=recording", callback)
    assert xml_of(response) == (
        f"{DECL}<Response><Say>Sorry, we cannot take your call right now. Goodbye.</Say><Hangup /></Response>"
    )
    assert "Missing storage connection AzureWebJobsStorage" in caplog.text


def test_a_twimlet_answering_an_inbound_call_records_it_once(app, azurite) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    inbound = CALL | {"CallSid": "CA" + "e" * 32, "Direction": "inbound", "CallStatus": "ringing"}
    menu = "menu?Message=Press%201&Options%5B1%5D=https%3A%2F%2Fx.example%2Fsales"
    for _ in range(2):  # a later stage of the same call finds its record claimed
        assert xml_of(twimlet(app, menu, inbound)).startswith(f"{DECL}<Response><Gather")
    record, events = store_for(get_settings()).record_with_events(inbound["CallSid"])
    assert record is not None
    assert (record.direction, record.type, record.from_, record.sid) == ("inbound", "call", CALLER, inbound["CallSid"])
    assert [event["kind"] for event in events] == ["incoming"]

    outbound = CALL | {"CallSid": "CA" + "f" * 32, "Direction": "outbound-api"}
    xml_of(twimlet(app, menu, outbound))
    assert store_for(get_settings()).get(outbound["CallSid"]) is None  # its record is the outbound request's
