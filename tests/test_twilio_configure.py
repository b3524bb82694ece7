"""`python -m switchboard twilio configure` against the emulator's IncomingPhoneNumber resource, and Twilio's
fallback behaviour: with the app's host stopped, a call to the number hears the fallback TwiML, fetched with GET
from a static server standing in for the storage account's static website."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.__main__ import main
from tests.support import PHONE_NUMBER, serving

ROOT = Path(__file__).resolve().parents[1]
FALLBACK = ROOT / "infra" / "fallback"


class StaticSite(http.server.SimpleHTTPRequestHandler):
    """GET and HEAD only, as a storage static website answers; POST gets 405."""

    extensions_map = {".xml": "text/xml"}  # noqa: RUF012 (the base class's own attribute)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(FALLBACK), **kwargs)

    def do_POST(self) -> None:
        self.send_error(405)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaticSite)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}/"


def test_the_fallback_files_are_what_the_twiml_builders_write() -> None:
    from twilio.twiml.messaging_response import MessagingResponse
    from twilio.twiml.voice_response import VoiceResponse

    voice = VoiceResponse()
    voice.say("Sorry, we cannot take your call right now. Please try again later.")
    voice.hangup()
    assert (FALLBACK / "voice-fallback.xml").read_text(encoding="utf-8") == str(voice)
    assert (FALLBACK / "sms-fallback.xml").read_text(encoding="utf-8") == str(MessagingResponse())


def test_configure_sets_the_urls_prints_them_and_is_then_a_no_op(start_emulator, capsys, static_site) -> None:
    emulator = start_emulator(timeout=5)
    app = "https://func-api-example.azurewebsites.net"
    assert main(["twilio", "configure", "--app-url", app, "--fallback-url", static_site]) == 0
    printed = capsys.readouterr().out
    number = emulator.numbers.by_number(PHONE_NUMBER)
    assert number["voice_url"] == f"{app}/api/voice/incoming"
    assert number["sms_url"] == f"{app}/api/sms/incoming"
    assert number["status_callback"] == f"{app}/api/voice/status"
    assert (number["voice_method"], number["sms_method"], number["status_callback_method"]) == ("POST",) * 3
    assert number["voice_fallback_url"] == f"{static_site}voice-fallback.xml"
    assert number["sms_fallback_url"] == f"{static_site}sms-fallback.xml"
    assert (number["voice_fallback_method"], number["sms_fallback_method"]) == ("GET", "GET")
    assert f"{PHONE_NUMBER} voice_url: (unset) -> {app}/api/voice/incoming" in printed
    assert "status_callback: (unset) -> " in printed
    assert main(["twilio", "configure", "--app-url", app, "--fallback-url", static_site]) == 0
    assert "already configured" in capsys.readouterr().out


def test_configure_refuses_a_number_that_points_elsewhere_unless_forced(start_emulator, capsys) -> None:
    emulator = start_emulator(timeout=5)
    sid = emulator.numbers.by_number(PHONE_NUMBER)["sid"]
    emulator.numbers.update(sid, {"VoiceUrl": ["https://other-app.example.com/voice"]})
    app = "https://func-api-example.azurewebsites.net"
    assert main(["twilio", "configure", "--app-url", app]) == 1
    assert "refused" in capsys.readouterr().err
    assert emulator.numbers.get(sid)["voice_url"] == "https://other-app.example.com/voice"
    assert main(["twilio", "configure", "--app-url", app, "--dry-run", "--force"]) == 0
    assert emulator.numbers.get(sid)["voice_url"] == "https://other-app.example.com/voice"
    assert main(["twilio", "configure", "--app-url", app, "--force"]) == 0
    assert emulator.numbers.get(sid)["voice_url"] == f"{app}/api/voice/incoming"


def test_configure_says_what_is_wrong(start_emulator, capsys, configure) -> None:
    start_emulator(timeout=5)
    assert main(["twilio", "configure", "--app-url", "https://x.example.com", "--number", "+15558675399"]) == 1
    assert "is not a number of Twilio account" in capsys.readouterr().err
    assert main(["twilio", "configure", "--app-url", "http://x.example.com"]) == 1
    assert "https://" in capsys.readouterr().err
    configure(TWILIO_API_SECRET="wrong-secret-0123456789abcdef")
    assert main(["twilio", "configure", "--app-url", "https://x.example.com"]) == 2
    assert "answered 401" in capsys.readouterr().err


def test_the_emulators_number_resource_has_twilios_fields(start_emulator) -> None:
    import json

    spec_path = ROOT.parent / "shared" / "twilio-oai" / "twilio_api_v2010.json"
    if not spec_path.exists():
        pytest.skip("Twilio's OpenAPI description is not in ../shared/twilio-oai")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    fields = set(spec["components"]["schemas"]["api.v2010.account.incoming_phone_number"]["properties"])
    update = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"]["post"]
    settable = set(update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"])
    emulator = start_emulator(timeout=5)
    resource = emulator.numbers.by_number(PHONE_NUMBER)
    assert set(resource) == fields
    from switchboard.shared.numberwiring import FIELDS
    from tools.emulator.numbers import UPDATABLE

    assert set(FIELDS.values()) <= set(UPDATABLE) <= settable
    assert set(FIELDS) <= fields


def test_a_call_hears_the_fallback_while_the_app_is_down(app, azurite, start_emulator, static_site, configure) -> None:
    from tests.support import FUNCTION_KEY
    from tools.devhost.host import LocalHost
    from tools.emulator.inbound import call_number, text_number
    from tools.localmachine import free_port

    emulator = start_emulator(timeout=5)
    host = LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False, provision=True).start()
    origin = host.base_url.removesuffix("/api")
    configure(PUBLIC_BASE_URL=origin)  # signatures are checked against the URL Twilio was given
    try:
        assert main(["twilio", "configure", "--app-url", origin, "--fallback-url", static_site]) == 0
        up = call_number(emulator, to=PHONE_NUMBER, from_="+15558675310")
        assert not up.fallback
        assert up.result.exchanges[0].status == 200
    finally:
        host.stop()
    down = call_number(emulator, to=PHONE_NUMBER, from_="+15558675310")
    assert down.fallback
    assert "[VoiceFallbackUrl]" in down.result.transcript
    fetched = [exchange for exchange in down.result.exchanges if exchange.url.startswith(static_site)]
    assert [(e.method, e.status) for e in fetched] == [("GET", 200)]
    assert any("Sorry, we cannot take your call right now" in line for line in down.result.transcript)
    reply, used = text_number(emulator, to=PHONE_NUMBER, from_="+15558675310", body="hello")
    assert used
    assert reply.status == 200
    assert reply.replies == []
