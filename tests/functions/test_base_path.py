"""PUBLIC_BASE_URL with a path (a gateway such as API Management): every follow-up resolves under it.

Twilio requests `https://gw.example.net/switchboard/api/...`; the gateway forwards `/api/...` to the
app. Each test follows every URL the TwiML hands Twilio (action, url, callbacks, <Redirect>), resolved
as Twilio resolves them against the URL it requested, and calls it through the gateway again.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

import pytest

from tests.support import XML_DECLARATION as DECL
from tests.support import function, http_request, signed_form, xml_of

GATEWAY = "https://gw.example.net/switchboard"
INTERNAL = "http://127.0.0.1:7071"
CALL = {"CallSid": "CA" + "e" * 32, "From": "+15550001111", "To": "+15005550006", "CallStatus": "in-progress"}
URL_ATTRIBUTES = ("action", "url", "recordingStatusCallback", "transcribeCallback", "waitUrl")


@pytest.fixture(autouse=True)
def behind_a_gateway(configure) -> None:
    configure(PUBLIC_BASE_URL=GATEWAY, FORWARD_ALLOWED_DESTINATIONS="+1555*, 415-555-1212")


def gateway(app, public: str, form: dict[str, str]) -> str:
    """Twilio POSTs `public`; the gateway forwards the path after /switchboard to the app."""
    assert public.startswith(GATEWAY + "/api/"), public
    internal = INTERNAL + public[len(GATEWAY) :]
    route = urlsplit(internal).path.removeprefix("/api/")
    headers, body = signed_form(internal, list(form.items()), signed_as=public)
    if route.startswith("twiml/"):
        name = route.removeprefix("twiml/")
        fn = "twiml_message" if name == "message" else "twiml_twimlet"
        request = http_request("POST", internal, headers=headers, body=body, route_params={"name": name})
    else:
        fn = {"voice/incoming": "voice_incoming"}[route]
        request = http_request("POST", internal, headers=headers, body=body)
    return xml_of(function(app, fn)(request))


def follow_ups(current: str, xml: str) -> list[str]:
    """Every URL in the TwiML, resolved against the URL Twilio requested."""
    root = ET.fromstring(xml.removeprefix(DECL))  # noqa: S314 - our own output
    found = [root_el.attrib[a] for root_el in root.iter() for a in URL_ATTRIBUTES if a in root_el.attrib]
    found += [el.text or "" for el in root.iter("Redirect")]
    return [urljoin(current, url) for url in found]


def only(urls: list[str]) -> str:
    assert len(urls) == 1, urls
    return urls[0]


def test_forward_dial_action_comes_back_through_the_gateway(app) -> None:
    first = f"{GATEWAY}/api/twiml/forward?PhoneNumber=415-555-1212&FailUrl=voicemail%3FTranscribe%3Dfalse"
    action = only(follow_ups(first, gateway(app, first, CALL)))
    assert action.startswith(f"{GATEWAY}/api/twiml/forward?")
    # The relative FailUrl resolves, as Twilio resolves it, next to the forward twimlet: under the gateway.
    busy = gateway(app, action, {**CALL, "DialCallStatus": "busy"})
    assert busy == f"{DECL}<Response><Redirect>{GATEWAY}/api/twiml/voicemail?Transcribe=false</Redirect></Response>"
    record = gateway(app, only(follow_ups(action, busy)), CALL)
    for url in follow_ups(f"{GATEWAY}/api/twiml/voicemail?Transcribe=false", record):
        assert url.startswith(f"{GATEWAY}/api/twiml/voicemail?"), url


def test_voicemail_callbacks_and_action_resolve_under_the_gateway(app) -> None:
    first = f"{GATEWAY}/api/twiml/voicemail?Message=Leave+a+message"
    urls = follow_ups(first, gateway(app, first, CALL))
    assert len(urls) == 3  # the <Record> action, recordingStatusCallback, transcribeCallback
    for url in urls:
        assert url.startswith(f"{GATEWAY}/api/twiml/voicemail?Message=Leave+a+message&Stage="), url
    action = next(url for url in urls if "Stage=recorded" in url)
    assert gateway(app, action, CALL) == f"{DECL}<Response><Say>Thank you. Goodbye.</Say><Hangup /></Response>"


def test_conference_password_stages_resolve_under_the_gateway(app) -> None:
    first = f"{GATEWAY}/api/twiml/conference?Name=Board&Password=4321"
    stage = only(follow_ups(first, gateway(app, first, CALL)))
    assert stage.startswith(f"{GATEWAY}/api/twiml/conference?Name=Board&Password=4321&Stage=password")
    joined = gateway(app, stage, {**CALL, "Digits": "4321"})
    assert "<Conference>Board</Conference>" in joined


def test_simulring_whisper_and_its_key_press_resolve_under_the_gateway(app) -> None:
    first = f"{GATEWAY}/api/twiml/simulring?PhoneNumbers%5B0%5D=415-555-1212"
    urls = follow_ups(first, gateway(app, first, CALL))
    whisper = next(url for url in urls if "/whisper" in url)
    assert whisper == f"{GATEWAY}/api/twiml/whisper"
    check = only(follow_ups(whisper, gateway(app, whisper, CALL)))
    assert check == f"{GATEWAY}/api/twiml/whisper?Stage=human-check"
    assert gateway(app, check, {**CALL, "Digits": "1"}) == f"{DECL}<Response />"


def test_menu_and_holdmusic_loops_resolve_under_the_gateway(app) -> None:
    menu = f"{GATEWAY}/api/twiml/menu?Message=Hi&Options%5B1%5D=voicemail"
    urls = follow_ups(menu, gateway(app, menu, CALL))
    assert urls
    assert all(url.startswith(f"{GATEWAY}/api/twiml/menu?") for url in urls), urls
    chosen = gateway(app, urls[0], {**CALL, "Digits": "1"})
    assert chosen == f"{DECL}<Response><Redirect>{GATEWAY}/api/twiml/voicemail</Redirect></Response>"
    music = f"{GATEWAY}/api/twiml/holdmusic?Url=song.mp3&Shuffle=false"
    xml = gateway(app, music, CALL)
    assert f"<Play>{GATEWAY}/api/twiml/song.mp3</Play>" in xml
    assert only(follow_ups(music, xml)) == music


def test_the_default_voice_flow_reaches_voicemail_under_the_gateway(app, configure) -> None:
    configure(VOICE_FORWARD_TO="+15551234567", VOICE_VOICEMAIL="true")
    incoming = f"{GATEWAY}/api/voice/incoming"
    action = only(follow_ups(incoming, gateway(app, incoming, CALL)))
    assert action == f"{GATEWAY}/api/voice/incoming?Stage=dial-result"
    mailbox = only(follow_ups(action, gateway(app, action, {**CALL, "DialCallStatus": "no-answer"})))
    assert mailbox.startswith(f"{GATEWAY}/api/twiml/voicemail?Message=")
    for url in follow_ups(mailbox, gateway(app, mailbox, CALL)):
        assert url.startswith(f"{GATEWAY}/api/twiml/voicemail?"), url


def test_outbound_status_callbacks_carry_the_gateway_path() -> None:
    from switchboard.outbound.contract import validate
    from switchboard.outbound.twilio_params import create_params

    call = validate({"type": "call", "id": "r1", "to": "+15558675310", "say": "Hi"}, default_id="m",
                    default_from="+15005550006")  # fmt: skip
    sms = validate({"type": "sms", "id": "s1", "to": "+15558675310", "body": "Hi"}, default_id="m",
                   default_from="+15005550006")  # fmt: skip
    assert create_params(call, GATEWAY)["status_callback"] == f"{GATEWAY}/api/voice/status?request_id=r1"
    assert create_params(sms, GATEWAY + "/")["status_callback"] == f"{GATEWAY}/api/sms/status?request_id=s1"
