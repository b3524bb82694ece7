"""Pure parts of records: the status state machine, status callbacks, keywords, failure classes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from switchboard.outbound.outcome import classify
from switchboard.records import lifecycle as lc
from switchboard.records.callbacks import StatusUpdate, apply
from switchboard.records.keywords import opt_keyword
from switchboard.records.model import Record, iso, number_row

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
# SIDs in Twilio's documented shape: two letters and 32 hex digits.
CA1, CA2, CA9, SM1 = "CA" + "1" * 32, "CA" + "2" * 32, "CA" + "9" * 32, "SM" + "1" * 32


@pytest.mark.parametrize(
    ("kind", "current", "new", "linked", "expected"),
    [
        ("call", "queued", "ringing", True, True),
        ("call", "ringing", "in-progress", True, True),
        ("call", "completed", "ringing", True, False),
        ("call", "completed", "completed", True, False),
        ("call", "completed", "busy", True, False),
        ("call", "in-progress", "in-progress", True, False),
        ("call", "sending", "initiated", False, True),  # our own "sending": Twilio's word wins
        ("call", "unknown", "ringing", False, True),
        ("call", "rejected", "ringing", False, False),
        ("call", "ringing", "bogus", True, False),
        ("sms", "queued", "sent", True, True),
        ("sms", "sent", "sending", True, False),
        ("sms", "delivered", "sent", True, False),
        ("sms", "delivered", "read", True, True),
        ("sms", "undelivered", "read", True, False),
        ("sms", "failed", "delivered", True, False),
        ("sms", "accepted", "queued", True, True),
    ],
)
def test_status_only_moves_forward(kind: str, current: str, new: str, linked: bool, expected: bool) -> None:
    assert lc.advances(kind, current, new, linked=linked) is expected


def test_worker_may_send_only_before_a_sid_and_a_final_status() -> None:
    assert lc.worker_may_send("pending", None)
    assert lc.worker_may_send("retrying", None)
    assert not lc.worker_may_send("pending", "CA1")
    for final in ("rejected", "failed", "dead_lettered", "unknown", "queued"):
        assert not lc.worker_may_send(final, None)


def _record(**changes) -> Record:
    base = Record(id="r1", type="call", direction="outbound", status="queued", created_at=iso(NOW),
                  updated_at=iso(NOW), sid=CA1)  # fmt: skip
    return base.with_changes(NOW, **changes) if changes else base


def test_a_late_callback_keeps_its_details_but_not_its_status() -> None:
    done = _record(status="completed", duration=42)
    late = StatusUpdate.from_params("call", {"CallSid": CA1, "CallStatus": "ringing"})
    assert late is not None
    assert apply(done, late, NOW) is None
    priced = StatusUpdate.from_params("call", {"CallSid": CA1, "CallStatus": "completed", "Price": "-0.013"})
    assert priced is not None
    updated = apply(done, priced, NOW)
    assert updated is not None
    assert (updated.status, updated.price, updated.duration) == ("completed", "-0.013", 42)


def test_callback_fields_are_stored() -> None:
    update = StatusUpdate.from_params("call", {
        "CallSid": CA1, "CallStatus": "completed", "CallDuration": "17", "AnsweredBy": "human",
        "RecordingUrl": "https://api.twilio.com/rec/RE1", "ErrorCode": "",
    })  # fmt: skip
    assert update is not None
    updated = apply(_record(status="in-progress"), update, NOW)
    assert updated is not None
    assert (updated.status, updated.duration, updated.answered_by) == ("completed", 17, "human")
    assert updated.error_code is None
    assert updated.recording_url == "https://api.twilio.com/rec/RE1"
    sms = StatusUpdate.from_params("sms", {"MessageSid": SM1, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert sms is not None
    assert sms.error_code == 30003
    assert StatusUpdate.from_params("sms", {"MessageStatus": "sent"}) is None


def test_a_callback_for_another_sid_changes_nothing() -> None:
    update = StatusUpdate.from_params("call", {"CallSid": CA2, "CallStatus": "completed"})
    assert update is not None
    assert apply(_record(), update, NOW) is None


def test_a_callback_links_a_record_that_has_no_sid_yet() -> None:
    update = StatusUpdate.from_params("call", {"CallSid": CA9, "CallStatus": "initiated"})
    assert update is not None
    updated = apply(_record(sid=None, status="unknown", reason="doubt"), update, NOW)
    assert updated is not None
    assert (updated.sid, updated.status, updated.reason) == (CA9, "initiated", None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [("STOP", "stop"), (" stop ", "stop"), ("Unsubscribe", "stop"), ("quit.", "stop"), ("StopAll", "stop"),
     ("START", "start"), ("unstop", "start"), ("yes", "start"), ("HELP", "help"),
     ("please stop", None), ("", None), (None, None)],
)  # fmt: skip
def test_opt_keywords(body: str | None, expected: str | None) -> None:
    assert opt_keyword(body) == expected


def test_number_rows_sort_newest_first() -> None:
    later = NOW.replace(second=6)
    assert number_row(later, "b") < number_row(NOW, "a")


def _connection_error(reason: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (TwilioRestException(400, "/Calls.json", "bad To", code=21211), "permanent", 21211),
        (TwilioRestException(404, "/Calls.json", "nope", code=20404), "permanent", 20404),
        (TwilioRestException(429, "/Calls.json", "slow down", code=20429), "transient", 20429),
        # Twilio's 20500: a create that answered 5xx may have been carried out.
        (TwilioRestException(500, "/Calls.json", "oops", code=20500), "ambiguous", 20500),
        (TwilioRestException(503, "/Calls.json", "unavailable"), "ambiguous", None),
        (TwilioServiceException("about:blank", "Bad", 400, 21211, "bad To"), "permanent", 21211),
        (TwilioServiceException("about:blank", "Busy", 503, 20503), "ambiguous", 20503),
        # Queue limits: not now, rather than never.
        (TwilioRestException(400, "/Messages.json", "queue full", code=21611), "transient", 21611),
        (TwilioRestException(400, "/Calls.json", "too many queued", code=22005), "transient", 22005),
        (TwilioRestException(400, "/Messages.json", "queue overflow", code=30001), "transient", 30001),
        (TwilioRestException(201, "/Messages.json", "no body"), "ambiguous", None),
        (TwilioException("odd answer"), "ambiguous", None),
        (requests.ConnectTimeout("connect timed out"), "transient", None),
        (_connection_error(NewConnectionError(None, "refused")), "transient", None),
        (requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())), "ambiguous", None),
        (requests.ReadTimeout("read timed out"), "ambiguous", None),
        (ValueError("garbled JSON"), "ambiguous", None),
    ],
)
def test_failure_classes(error: BaseException, kind: str, code: int | None) -> None:
    failure = classify(error)
    assert (failure.kind, failure.code) == (kind, code)
