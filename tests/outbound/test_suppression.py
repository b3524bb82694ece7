"""Suppression by error code (issue 24), over the emulator: a delivery callback with an ErrorCode in
SUPPRESS_ON_ERRORS stops SMS to the number for the configured time, before Twilio; it lapses on a frozen
clock; erasure removes it; calls and other codes are not suppressed."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta

from switchboard.functions.outbound import deps
from switchboard.outbound.worker import handle_message
from switchboard.records.model import parse_iso
from switchboard.settings import get_settings
from tests.outbound.conftest import callback, deliver, new_id, record
from tests.support import PUBLIC_BASE_URL, function, http_request
from tools.emulator.outcomes import message_outcome
from tools.emulator.rest import TwilioEmulator

LANDLINE = "+15550100007"  # the emulator delivers an SMS to it undelivered, ErrorCode 30006 (docs/emulator.md)


def erase(app, number: str) -> dict[str, object]:
    url = f"{PUBLIC_BASE_URL}/api/numbers/{number.replace('+', '%2B')}"
    response = function(app, "number_erase")(http_request("DELETE", url, route_params={"number": number}))
    assert response.status_code == 200, response.get_body()
    return dict(json.loads(response.get_body()))


def failed_send(app, number: str, request_id: str) -> None:
    """An SMS Twilio takes, then its delivery callback with the failure the emulator scripts for the number."""
    deliver(app, {"type": "sms", "id": request_id, "to": number, "body": "hello"})
    sid = record(app, request_id)["sid"]
    outcome = message_outcome(number)
    params = {"MessageSid": sid, "MessageStatus": outcome.status, "To": number, "ErrorCode": str(outcome.error_code)}
    assert callback(app, "sms", params, request_id).status_code == 200


def suppression_rows(number: str) -> list[dict[str, object]]:
    from switchboard.functions.glue_records import store_for

    rows = store_for(get_settings()).optouts.query_entities("PartitionKey eq @pk", parameters={"pk": number})
    return [dict(row) for row in rows if row["RowKey"] == "suppression"]


def send_at(app, moment, request: dict[str, str]):
    """The worker handling one queue message with its clock frozen at `moment` (unpaced: a slot leased days
    ahead would hold up the sender in the tests after this one)."""
    frozen = dataclasses.replace(deps(get_settings()), now=lambda: moment, pace=None)
    return handle_message(uuid.uuid4().hex, json.dumps(request).encode(), 1, frozen)


def test_a_30006_suppresses_sms_to_the_number_for_the_configured_time_then_lapses(
    app, twilio: TwilioEmulator, configure
) -> None:
    configure(SUPPRESS_ON_ERRORS="30006:2d")
    erase(app, LANDLINE)  # a clean slate: the tables outlive one test
    first = new_id()
    failed_send(app, LANDLINE, first)
    failed = record(app, first)
    assert (failed["status"], failed["error_code"]) == ("undelivered", 30006)
    assert failed["error_reason"] == "landline or unreachable carrier"
    failed_at = parse_iso(failed["updated_at"])
    assert len(twilio.attempts("messages")) == 1

    second = new_id()
    [row] = suppression_rows(LANDLINE)
    assert (row["code"], row["record_id"]) == ("30006", first)
    deliver(app, {"type": "sms", "id": second, "to": LANDLINE, "body": "again"})
    body = record(app, second)
    assert (body["status"], body["reason"]) == ("rejected", "suppressed:30006")
    until = parse_iso(body["suppressed_until"])
    assert timedelta(days=2) - timedelta(seconds=5) < until - failed_at <= timedelta(days=2)
    assert [e["detail"] for e in body["events"] if e["kind"] == "rejected"] == ["suppressed:30006"]
    assert len(twilio.attempts("messages")) == 1  # no create

    # A call is not suppressed; nor is the SMS once the suppression lapses (the worker's clock frozen either side).
    deliver(app, {"type": "call", "id": new_id(), "to": LANDLINE, "say": "Hi"})
    assert len(twilio.attempts("calls")) == 1
    just_before = send_at(
        app, until - timedelta(seconds=1), {"type": "sms", "id": new_id(), "to": LANDLINE, "body": "x"}
    )
    assert (just_before.status, just_before.reason, just_before.suppressed_until) == (
        "rejected", "suppressed:30006", body["suppressed_until"],
    )  # fmt: skip
    lapsed = send_at(app, until, {"type": "sms", "id": new_id(), "to": LANDLINE, "body": "x"})
    assert (lapsed.status, lapsed.reason, lapsed.sid is not None) == ("queued", None, True)  # Twilio took it
    assert len(twilio.attempts("messages")) == 2
    assert suppression_rows(LANDLINE) == []  # the lapsed row named the number for nothing: that send deleted it


def test_a_replayed_callback_does_not_stretch_the_suppression_and_erasure_removes_it(
    app, twilio: TwilioEmulator
) -> None:
    erase(app, LANDLINE)
    first = new_id()
    failed_send(app, LANDLINE, first)
    blocked = new_id()
    deliver(app, {"type": "sms", "id": blocked, "to": LANDLINE, "body": "x"})
    until = record(app, blocked)["suppressed_until"]
    failed_send_again = {"MessageSid": record(app, first)["sid"], "MessageStatus": "undelivered", "ErrorCode": "30006"}
    assert callback(app, "sms", failed_send_again, first).status_code == 200  # Twilio's retry: a repeat
    again = new_id()
    deliver(app, {"type": "sms", "id": again, "to": LANDLINE, "body": "x"})
    assert record(app, again)["suppressed_until"] == until  # the default, 30 days, counted from the first callback

    result = erase(app, LANDLINE)
    assert (result["suppressions"], result["optouts"]) == (1, 0)
    assert erase(app, LANDLINE)["suppressions"] == 0
    after = new_id()
    deliver(app, {"type": "sms", "id": after, "to": LANDLINE, "body": "x"})
    assert record(app, after)["status"] == "queued"


def test_codes_not_listed_and_off_suppress_nothing(app, twilio: TwilioEmulator, configure) -> None:
    number = "+15550100005"  # undelivered with 30003
    configure(SUPPRESS_ON_ERRORS="30006:30d")
    erase(app, number)
    failed_send(app, number, new_id())
    nxt = new_id()
    deliver(app, {"type": "sms", "id": nxt, "to": number, "body": "x"})
    assert record(app, nxt)["status"] == "queued"
    configure(SUPPRESS_ON_ERRORS="off")
    erase(app, LANDLINE)
    failed_send(app, LANDLINE, new_id())
    after = new_id()
    deliver(app, {"type": "sms", "id": after, "to": LANDLINE, "body": "x"})
    assert record(app, after)["status"] == "queued"
