"""WhatsApp and alphanumeric senders end to end: the destination policy, opt-outs, the records API and erasure
on the number of a `whatsapp:` address; inbound WhatsApp on the messaging webhook; OUTBOUND_ALPHA_SENDERS."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.outbound.conftest import deliver, get_record, new_id, record
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL, XML_DECLARATION, function, http_request, post_signed, xml_of
from tools.emulator.rest import TwilioEmulator

SENDER = "whatsapp:+15005550006"
SMS_URL = f"{PUBLIC_BASE_URL}/api/sms/incoming"


def fresh_number() -> str:
    """A US number of the fictional 555 range that no other test uses."""
    return "+1555" + str(uuid.uuid4().int)[:7]


def whatsapp(number: str) -> str:
    return "whatsapp:" + number


@pytest.fixture
def channels(configure) -> None:
    configure(OUTBOUND_CHANNELS="sms,whatsapp")


def inbound(app, sender: str, body: str, to: str = SENDER) -> tuple[str, str]:
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": to,
              "Body": body, "NumMedia": "0", "WaId": sender.removeprefix("whatsapp:+")}  # fmt: skip
    return sid, xml_of(post_signed(app, "sms_incoming", SMS_URL, params))


def records_of(app, number: str) -> list[dict[str, Any]]:
    url = f"{PUBLIC_BASE_URL}/api/records?number={number.replace('+', '%2B')}"
    answer = function(app, "records_list")(http_request("GET", url))
    assert answer.status_code == 200, answer.get_body()
    return list(json.loads(answer.get_body())["records"])


def test_a_whatsapp_message_is_sent_with_its_channel(app, twilio: TwilioEmulator, channels) -> None:
    number, request_id = fresh_number(), new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": whatsapp(number), "from": SENDER, "body": "Your code: 1234"})
    [form] = twilio.created("messages")
    assert (form["To"], form["From"], form["Body"]) == ([whatsapp(number)], [SENDER], ["Your code: 1234"])
    stored = record(app, request_id)
    assert (stored["status"], stored["channel"], stored["to"]) == ("queued", "whatsapp", whatsapp(number))
    assert [found["id"] for found in records_of(app, number)] == [request_id]  # found by its number


def test_a_whatsapp_address_outside_the_allowed_countries_is_refused(app, twilio: TwilioEmulator, channels) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": "whatsapp:+442071838750", "from": SENDER, "body": "Hi"})
    stored = record(app, request_id)
    assert stored["status"] == "rejected"
    assert stored["reason"] == (
        "destination not allowed: to: +4420***8750 is outside US and not in OUTBOUND_ALLOWED_DESTINATIONS"
    )
    premium = new_id()
    deliver(app, {"format": "twilio-binding", "id": premium, "to": "whatsapp:+19005550123", "from": SENDER,
                  "body": "Hi"})  # fmt: skip
    assert record(app, premium)["reason"].startswith("destination not allowed: to: +1900***0123 is a premium-rate")
    assert twilio.attempts("messages") == []


def test_a_listed_country_opens_whatsapp_there_too(app, twilio: TwilioEmulator, configure) -> None:
    configure(OUTBOUND_CHANNELS="whatsapp", OUTBOUND_ALLOWED_DESTINATIONS="+44*")
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": "whatsapp:+442071838750", "from": SENDER, "body": "Hi"})
    assert record(app, request_id)["status"] == "queued"
    sms = new_id()  # OUTBOUND_CHANNELS without sms: plain numbers are refused
    deliver(app, {"type": "sms", "id": sms, "to": "+442071838750", "body": "Hi"})
    assert "OUTBOUND_CHANNELS to include sms" in record(app, sms)["reason"]
    assert len(twilio.created("messages")) == 1


def test_whatsapp_needs_the_channel_setting(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": whatsapp(fresh_number()), "from": SENDER, "body": "Hi"})
    stored = record(app, request_id)
    assert (stored["status"], stored["reason"]) == (
        "rejected", "to: a whatsapp: address needs OUTBOUND_CHANNELS to include whatsapp",
    )  # fmt: skip
    assert stored["channel"] == "whatsapp"
    assert twilio.attempts("messages") == []


def test_the_http_face_refuses_a_whatsapp_address_abroad(app, channels) -> None:
    from tools.devhost.invoke import Out

    out = Out()
    payload = {"type": "sms", "to": "whatsapp:+442071838750", "from": SENDER, "body": "Hi"}
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/outbound", body=json.dumps(payload).encode())
    answer = function(app, "outbound_enqueue")(request, out)
    assert answer.status_code == 400
    assert json.loads(answer.get_body())["reason"] == "destination_not_allowed"
    assert out.get() is None


def test_an_unlisted_alphanumeric_sender_is_rejected(app, twilio: TwilioEmulator, configure) -> None:
    configure(OUTBOUND_ALPHA_SENDERS="ACME, Owl Air", OUTBOUND_ALLOWED_DESTINATIONS="+44*")
    unlisted = new_id()
    deliver(app, {"type": "sms", "id": unlisted, "to": "+442071838750", "from": "Other", "body": "Hi"})
    stored = record(app, unlisted)
    assert (stored["status"], stored["reason"]) == (
        "rejected", "from: the alphanumeric sender 'Other' is not in OUTBOUND_ALPHA_SENDERS",
    )  # fmt: skip
    to_us = new_id()
    deliver(app, {"type": "sms", "id": to_us, "to": "+15558675310", "from": "ACME", "body": "Hi"})
    assert "cannot send to the US or Canada" in record(app, to_us)["reason"]
    assert twilio.attempts("messages") == []
    listed = new_id()
    deliver(app, {"format": "twilio-binding", "id": listed, "to": "+442071838750", "from": "Owl Air", "body": "Hi"})
    assert record(app, listed)["status"] == "queued"
    [form] = twilio.created("messages")
    assert form["From"] == ["Owl Air"]


def test_a_stop_on_whatsapp_opts_the_number_out_on_every_channel(app, twilio: TwilioEmulator, channels) -> None:
    number = fresh_number()
    _, answer = inbound(app, whatsapp(number), "STOP")
    assert answer == f"{XML_DECLARATION}<Response />"
    over_whatsapp, over_sms = new_id(), new_id()
    deliver(app, {"type": "sms", "id": over_whatsapp, "to": whatsapp(number), "from": SENDER, "body": "promo"})
    deliver(app, {"type": "sms", "id": over_sms, "to": number, "body": "promo"})
    for request_id in (over_whatsapp, over_sms):
        stored = record(app, request_id)
        assert (stored["status"], stored["reason"]) == ("rejected", "opted_out")
    assert twilio.attempts("messages") == []


def test_inbound_whatsapp_is_recorded_with_its_channel_and_answered_by_whatsapps_rules(azurite, app, configure) -> None:
    configure(SMS_AUTO_REPLY="Thanks, we will reply soon.", SMS_FORWARD_TO="+15551230000")
    number = fresh_number()
    sid, answer = inbound(app, whatsapp(number), "Is my order ready?")
    # The reply answers inside the 24-hour window the message opened; the forward is an SMS from our number.
    assert answer == (
        f"{XML_DECLARATION}<Response><Message>Thanks, we will reply soon.</Message>"
        f'<Message from="{PHONE_NUMBER}" to="+15551230000">From {whatsapp(number)}: Is my order ready?</Message>'
        "</Response>"
    )
    stored = record(app, sid)
    assert (stored["direction"], stored["channel"], stored["from"], stored["to"]) == (
        "inbound", "whatsapp", whatsapp(number), SENDER,
    )  # fmt: skip
    assert [found["id"] for found in records_of(app, number)] == [sid]
    configure(TWILIO_PHONE_NUMBER=None)
    _, unforwarded = inbound(app, whatsapp(number), "Hello?")
    assert unforwarded == f"{XML_DECLARATION}<Response><Message>Thanks, we will reply soon.</Message></Response>"


def test_erasure_of_a_number_removes_its_whatsapp_records(app, twilio: TwilioEmulator, channels) -> None:
    number, other = fresh_number(), fresh_number()
    received, _ = inbound(app, whatsapp(number), "Hi")
    sent = new_id()
    deliver(app, {"type": "sms", "id": sent, "to": whatsapp(number), "from": SENDER, "body": "Hello"})
    texted = new_id()
    deliver(app, {"type": "sms", "id": texted, "to": number, "body": "Hello by SMS"})
    kept, _ = inbound(app, whatsapp(other), "Hi")
    assert {found["id"] for found in records_of(app, number)} == {received, sent, texted}

    url = f"{PUBLIC_BASE_URL}/api/numbers/{number.replace('+', '%2B')}"
    answer = function(app, "number_erase")(http_request("DELETE", url, route_params={"number": number}))
    assert answer.status_code == 200, answer.get_body()
    result = json.loads(answer.get_body())
    assert (result["records"], result["complete"]) == (3, True)
    for gone in (received, sent, texted):
        assert get_record(app, gone) == (404, {"error": "no such record"})
    assert records_of(app, number) == []
    assert record(app, kept)["from"] == whatsapp(other)  # another number's WhatsApp record stays
