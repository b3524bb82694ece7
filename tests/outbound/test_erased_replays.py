"""Issue 20 point 3: erasure keeps the per-id tombstone, so a redelivered queue message sends nothing again,
and a queue message's keyed fingerprint goes with its record (tests/records/test_tombstones.py has the rest)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from switchboard.records.store import fingerprint

CUSTOMER = "+15558670578"


def _erase(app: Any, number: str) -> dict[str, Any]:
    from tests.support import function, http_request

    url = f"http://127.0.0.1/api/numbers/{number.replace('+', '%2B')}"
    response = function(app, "number_erase")(http_request("DELETE", url, route_params={"number": number}))
    assert response.status_code == 200, response.get_body()
    return dict(json.loads(response.get_body()))


def test_redelivering_an_already_sent_request_after_erasure_sends_nothing(app, twilio) -> None:
    from tests.outbound.conftest import deliver, new_id, record

    request_id = new_id()
    message = {"type": "sms", "id": request_id, "to": CUSTOMER, "body": "Your code is 1234"}
    deliver(app, message)
    assert record(app, request_id)["status"] in ("queued", "sent")
    assert _erase(app, CUSTOMER)["records"] == 1
    deliver(app, message)  # the queue delivers it again (a visibility timeout, a lost delete)
    deliver(app, message, queue="outbound-poison")  # and its poison copy finds no record to re-create
    assert len(twilio.created("messages")) == 1
    from tests.outbound.conftest import get_record

    assert get_record(app, request_id)[0] == 404


def test_a_fingerprint_goes_with_its_record(app, twilio) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings
    from tests.outbound.conftest import deliver, record

    body = json.dumps({"type": "sms", "to": CUSTOMER, "body": "no id " + uuid.uuid4().hex}).encode()
    message_id = uuid.uuid4().hex
    deliver(app, body, message_id=message_id)
    settings = get_settings()
    store = store_for(settings)
    digest = fingerprint(body, settings.fingerprint_key)
    assert store.record_id_for_fingerprint(digest) == message_id
    assert record(app, message_id)["status"] in ("queued", "sent")
    _erase(app, CUSTOMER)
    assert store.record_id_for_fingerprint(digest) is None


def test_a_calls_inline_sms_obeys_the_opt_out(app, twilio) -> None:
    """Issue 20 point 7: a call's inline `<Sms to=…>` (or `<Message>`) bypassed the app-wide opt-out."""
    from datetime import datetime, timezone

    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings
    from tests.outbound.conftest import deliver, new_id, record
    from tests.support import PHONE_NUMBER

    opted = "+15558670579"
    store_for(get_settings()).set_opt_out(opted, True, keyword="STOP", via=PHONE_NUMBER, now=datetime.now(timezone.utc))
    for twiml in (
        f'<Response><Say>Hi</Say><Sms to="{opted}">You are subscribed</Sms></Response>',
        f'<Response><Message to="{opted}">Hello</Message></Response>',
        "<Response><Sms>Hello</Sms></Response>",  # no `to`: the call's own party
    ):
        request_id = new_id()
        to = opted if "<Sms>Hello" in twiml else CUSTOMER
        deliver(app, {"type": "call", "id": request_id, "to": to, "twiml": twiml})
        stored = record(app, request_id)
        assert (stored["status"], stored["reason"]) == ("rejected", "opted_out"), twiml
    assert twilio.created("calls") == []
    plain = new_id()
    deliver(app, {"type": "call", "id": plain, "to": opted, "say": "A call without texts is not an SMS"})
    assert len(twilio.created("calls")) == 1
