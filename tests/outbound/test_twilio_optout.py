"""Opt-out from Twilio's own state (issue 24), over the emulator: OptOutType and a 21610 on create."""

from __future__ import annotations

from tests.outbound.conftest import deliver, new_id, record
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL
from tools.emulator.rest import TwilioEmulator

UNSUBSCRIBED = "+15005550004"  # the emulator answers a create to it 400, 21610 (docs/emulator.md)


def test_arret_with_opt_out_type_stop_rejects_the_next_sms_before_twilio(app, twilio: TwilioEmulator) -> None:
    from tests.support import post_signed

    number = "+1555" + new_id()[-7:].translate(str.maketrans("abcdef", "123456"))
    inbound = {"MessageSid": "SM" + "e" * 32, "From": number, "To": PHONE_NUMBER, "Body": "ARRET", "OptOutType": "STOP"}
    assert post_signed(app, "sms_incoming", f"{PUBLIC_BASE_URL}/api/sms/incoming", inbound).status_code == 200
    stopped = new_id()
    deliver(app, {"type": "sms", "id": stopped, "to": number, "body": "promo"})
    body = record(app, stopped)
    assert (body["status"], body["reason"]) == ("rejected", "opted_out")
    assert twilio.attempts("messages") == []


def test_a_create_answered_21610_opts_the_number_out_and_the_next_makes_no_create(app, twilio: TwilioEmulator) -> None:
    first = new_id()
    deliver(app, {"type": "sms", "id": first, "to": UNSUBSCRIBED, "body": "hello"})
    body = record(app, first)
    assert (body["status"], str(body["error_code"])) == ("failed", "21610")
    assert len(twilio.attempts("messages")) == 1
    second = new_id()
    deliver(app, {"type": "sms", "id": second, "to": UNSUBSCRIBED, "body": "hello again"})
    body = record(app, second)
    assert (body["status"], body["reason"]) == ("rejected", "opted_out")
    assert len(twilio.attempts("messages")) == 1
