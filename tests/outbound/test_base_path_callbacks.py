"""The outbound worker behind a gateway: StatusCallback URLs keep PUBLIC_BASE_URL's path."""

from __future__ import annotations

from tests.outbound.conftest import deliver, new_id, one, tagged
from tools.emulator.rest import TwilioEmulator

GATEWAY = "https://gw.example.net/switchboard"


def test_status_callbacks_go_through_the_gateway(app, configure, twilio: TwilioEmulator) -> None:
    configure(PUBLIC_BASE_URL=GATEWAY)
    call_id, sms_id = new_id(), new_id()
    deliver(app, {"type": "call", "id": call_id, "to": "+15558675310", "say": "Hello world."})
    deliver(app, {"type": "sms", "id": sms_id, "to": "+15558675310", "body": "Hi"})
    [call] = twilio.created("calls")
    [sms] = twilio.created("messages")
    assert one(call, "StatusCallback") == f"{GATEWAY}/api/voice/status{tagged('/api/voice/status', call_id)}"
    assert one(sms, "StatusCallback") == f"{GATEWAY}/api/sms/status{tagged('/api/sms/status', sms_id)}"
