"""Caps through the app (issue 23): the worker rejects what is over OUTBOUND_LIMITS before any claim and nothing
reaches Twilio; POST /api/outbound answers 429 with Retry-After; the SMS auto-reply is throttled per sender."""

from __future__ import annotations

import json
import random

from switchboard.shared.phones import mask
from tests.outbound.conftest import deliver, new_id, record
from tests.support import PUBLIC_BASE_URL, XML_DECLARATION, function, http_request, post_signed, xml_of
from tools.emulator.rest import TwilioEmulator

SMS_URL = f"{PUBLIC_BASE_URL}/api/sms/incoming"


def own_number() -> str:
    """A recipient no other test counts against: the counters outlive a test in the session's Azurite."""
    return "+1555" + str(random.randrange(10**6, 10**7))


def sms(to: str, request_id: str | None = None) -> dict[str, str]:
    return {"type": "sms", "id": request_id or new_id(), "to": to, "body": "Your code is 1234"}


def test_sms_over_the_per_recipient_cap_are_rejected_and_never_reach_twilio(
    app, twilio: TwilioEmulator, configure, caplog
) -> None:
    configure(OUTBOUND_LIMITS="sms:per_to=3/1h")
    to = own_number()
    messages = [sms(to) for _ in range(5)]
    for message in messages:
        deliver(app, message)
    statuses = [record(app, message["id"]) for message in messages]
    assert [body["status"] for body in statuses] == ["queued"] * 3 + ["rejected"] * 2
    over = statuses[3]
    assert (over["reason"], over["sid"], over.get("attempts", 0)) == ("limit:sms:per_to=3/1h", None, 0)
    assert [(event["kind"], event["detail"]) for event in over["events"]] == [("rejected", "limit:sms:per_to=3/1h")]
    assert len(twilio.attempts("messages")) == 3
    assert to not in caplog.text  # the log names the rule, and the number masked
    assert f"to {mask(to)} is over limit:sms:per_to=3/1h" in caplog.text

    # A redelivered admitted message counts no second unit and sends nothing again; a call has its own cap.
    deliver(app, messages[0], dequeue_count=2)
    assert len(twilio.attempts("messages")) == 3
    deliver(app, {"type": "call", "id": (call := new_id()), "to": to, "say": "Hello."})
    assert record(app, call)["status"] == "queued"


def test_a_message_admitted_before_a_crash_is_still_sent_when_the_window_is_full(
    app, twilio: TwilioEmulator, configure
) -> None:
    import time

    from switchboard.functions.outbound import deps
    from switchboard.settings import get_settings

    configure(OUTBOUND_LIMITS="sms:per_to=1/1h")
    to = own_number()
    first = sms(to)
    settings = get_settings()
    counters = deps(settings).limits
    assert counters is not None
    # A host counted it, then died before its claim: the window is full, and only by this request.
    assert counters.admit(settings.outbound_limits, first["id"], to, time.time(), key=settings.limits_key).allowed
    deliver(app, first)
    assert record(app, first["id"])["status"] == "queued"
    deliver(app, second := sms(to))
    assert record(app, second["id"])["reason"] == "limit:sms:per_to=1/1h"
    assert len(twilio.attempts("messages")) == 1


def _post(app, payload: dict[str, object]):
    from tools.devhost.invoke import Out

    out = Out()
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/outbound", headers={"Content-Type": "application/json"},
                           body=json.dumps(payload).encode())  # fmt: skip
    response = function(app, "outbound_enqueue")(request, out)
    return response, out.get()


def test_post_outbound_answers_429_with_retry_after_once_the_recipient_is_over_a_cap(
    app, twilio: TwilioEmulator, configure
) -> None:
    configure(OUTBOUND_LIMITS="sms:per_to=2/1h")
    to = own_number()
    for _ in range(2):
        response, queued = _post(app, sms(to))
        assert response.status_code == 202
        deliver(app, json.loads(queued))
    response, queued = _post(app, sms(to))
    assert response.status_code == 429
    assert queued is None  # nothing was enqueued
    retry_after = int(response.headers["Retry-After"])
    assert 3500 <= retry_after <= 3600
    body = json.loads(response.get_body())
    assert (body["reason"], body["retry_after"]) == ("limit:sms:per_to=2/1h", retry_after)
    # Another recipient, and a call to this one, are not held up.
    assert _post(app, sms(own_number()))[0].status_code == 202
    assert _post(app, {"type": "call", "to": to, "say": "Hi"})[0].status_code == 202


def test_off_sends_everything(app, twilio: TwilioEmulator, configure) -> None:
    configure(OUTBOUND_LIMITS="off")
    to = own_number()
    messages = [sms(to) for _ in range(12)]
    for message in messages:
        deliver(app, message)
    assert {record(app, message["id"])["status"] for message in messages} == {"queued"}


def inbound(sender: str, body: str = "hello") -> dict[str, str]:
    sid = "SM" + "".join(random.choice("0123456789abcdef") for _ in range(32))
    return {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body}


REPLY = f"{XML_DECLARATION}<Response><Message>Thanks!</Message></Response>"
NO_REPLY = f"{XML_DECLARATION}<Response />"


def test_the_auto_reply_answers_one_sender_once_per_window(app, azurite: str, configure) -> None:
    configure(SMS_AUTO_REPLY="Thanks!", SMS_AUTO_REPLY_MINUTES="10")
    sender, other = own_number(), own_number()
    replies = [xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(sender))) for _ in range(3)]
    assert replies == [REPLY, NO_REPLY, NO_REPLY]
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(other))) == REPLY
    # STOP gets no reply of ours, and spends nothing of the window.
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(third := own_number(), "STOP"))) == NO_REPLY
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(third, "START"))) == NO_REPLY
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(third))) == REPLY


def test_the_auto_reply_never_answers_a_short_code_or_an_alphanumeric_sender(app, configure) -> None:
    configure(SMS_AUTO_REPLY="Thanks!", SMS_AUTO_REPLY_MINUTES="0")
    for sender in ("22395", "+22395", "ACME", "Owl Air"):
        assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound(sender))) == NO_REPLY, sender
    assert xml_of(post_signed(app, "sms_incoming", SMS_URL, inbound("whatsapp:+15558675310"))) == REPLY


def test_a_waiting_request_is_not_dropped_by_a_cap_set_while_it_waited(app, twilio: TwilioEmulator, configure) -> None:
    """A request taken before the cap was set (so not counted) comes back from the queue once the window is full:
    its record decides, and it is sent; a cap never swallows a deferral's copy."""
    from tests.outbound.conftest import redeliver

    configure(OUTBOUND_LIMITS="off", OUTBOUND_MESSAGES_PER_SECOND="1")
    to, sender = own_number(), own_number()
    first, second = sms(to), sms(to)
    deliver(app, first | {"from": sender})
    deliver(app, second | {"from": sender})
    assert record(app, second["id"])["status"] == "paced"  # back on the queue for its slot
    configure(OUTBOUND_LIMITS="sms:per_to=1/1h")
    deliver(app, third := sms(to))  # fills the window
    assert record(app, third["id"])["status"] == "queued"
    redeliver(app, second["id"])
    assert record(app, second["id"])["status"] == "queued"
    assert len(twilio.created("messages")) == 3
    deliver(app, fourth := sms(to))
    assert record(app, fourth["id"])["reason"] == "limit:sms:per_to=1/1h"
