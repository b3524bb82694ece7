"""Issue 11 point 8: every message ends in a record under its own id, however large its fields."""

from __future__ import annotations

import json

import pytest

from tests.outbound.conftest import deliver, new_id, record
from tools.emulator.rest import TwilioEmulator


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_storable_clips_to_utf16_units_and_replaces_lone_surrogates() -> None:
    from switchboard.records.model import Record, storable

    assert storable("short") == "short"
    emoji = "😀" * 40_000  # two UTF-16 units each
    clipped = storable(emoji, 1_000)
    assert _units(clipped) <= 1_000
    assert clipped.endswith("…")
    assert storable("a\ud800b") == "a?b"
    huge = Record(id="r", type="sms", direction="outbound", status="rejected", created_at="t", updated_at="t",
                  to="+1" + "5" * 40_000, reason="x" * 100_000, raw="y" * 100_000, body="😀" * 100_000)  # fmt: skip
    entity = huge.to_entity()
    assert all(_units(v) <= 32 * 1024 for v in entity.values() if isinstance(v, str))
    assert sum(len(v.encode("utf-16-le")) for v in entity.values() if isinstance(v, str)) < 1024 * 1024


@pytest.mark.parametrize(
    "message",
    [
        {"type": "sms", "to": "+1" + "5" * 39_998, "body": "x"},  # the 40,000-character `to`
        {"type": "call", "to": "+15558675310", "from": "😀" * 20_000, "say": "x"},
        {"type": "sms", "to": "+15558675310\ud800", "body": "x"},  # a lone surrogate, as JSON allows
        {"type": "x" * 30_000, "to": "+15558675310"},
    ],
)
def test_the_worker_records_an_oversized_message_under_its_id(app, twilio: TwilioEmulator, message) -> None:
    request_id = new_id()
    deliver(app, json.dumps(message | {"id": request_id}))  # must not raise: a raise would loop to poison
    body = record(app, request_id)
    assert body["status"] == "rejected"
    assert len(body["raw"]) <= 4_000
    assert twilio.attempts("calls") == []
    assert twilio.attempts("messages") == []


def test_the_poison_handler_records_an_oversized_message_under_its_id(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    raw = json.dumps({"type": "sms", "id": request_id, "to": "+1" + "5" * 39_998, "body": "x"})
    deliver(app, raw, queue="outbound-poison")
    body = record(app, request_id)
    assert body["status"] == "rejected"
    assert body["reason"].startswith("dead-lettered, never processed: to: must be an E.164")
    assert len(body["to"]) <= 1_000


@pytest.mark.parametrize("queue", ["outbound", "outbound-poison"])
def test_an_integer_too_long_to_parse_is_recorded_not_raised(app, twilio: TwilioEmulator, queue: str) -> None:
    """Python refuses integers over 4,300 digits with ValueError, not JSONDecodeError: still a rejection."""
    message_id = new_id()
    raw = f'{{"type": "call", "to": "+15558675310", "say": "{message_id}", "timeout": {"1" * 5_000}}}'
    deliver(app, raw, message_id=message_id, queue=queue)  # must not raise: a raise would lose the message
    body = record(app, message_id)
    assert body["status"] == "rejected"
    assert "not valid JSON" in body["reason"]
    assert twilio.attempts("calls") == []
