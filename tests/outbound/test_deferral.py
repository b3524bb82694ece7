"""Deferrals: the pure delay rules, and the port that puts a message back on the queue (Azurite)."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from switchboard.outbound import deferral as d
from switchboard.records.model import Record, iso

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
BUDGET = d.Budget(base_seconds=15, cap_seconds=900, hours=6)


def low() -> float:
    return 0.0


def high() -> float:
    return 1.0


def test_backoff_doubles_from_base_to_cap_with_half_of_each_step_random() -> None:
    assert [d.backoff_seconds(hop, base=15, cap=900, rand=high) for hop in range(8)] == [
        15, 30, 60, 120, 240, 480, 900, 900,
    ]  # fmt: skip
    assert [d.backoff_seconds(hop, base=15, cap=900, rand=low) for hop in range(8)] == [
        7.5, 15, 30, 60, 120, 240, 450, 450,
    ]  # fmt: skip
    assert d.backoff_seconds(10_000, base=15, cap=900, rand=high) == 900  # no overflow, however many hops


def test_retry_after_wins_when_it_is_longer_than_the_backoff() -> None:
    assert d.next_delay(0, base=15, cap=900, retry_after=120, rand=high) == 120
    assert d.next_delay(3, base=15, cap=900, retry_after=2, rand=high) == 120  # shorter: the backoff stands
    assert d.next_delay(0, base=15, cap=900, retry_after=30 * 24 * 3600, rand=high) == d.MAX_HOP_SECONDS


def test_delays_are_whole_seconds_from_one_second_to_seven_days() -> None:
    assert d.clamp(0.2) == 1
    assert d.clamp(1.01) == 2
    assert d.clamp(-5) == 1
    assert d.clamp(float("nan")) == 1
    assert d.clamp(8 * 24 * 3600) == 7 * 24 * 3600


def test_the_budget_ends_hours_after_the_first_attempt_and_the_last_wait_stops_at_it() -> None:
    first = NOW - timedelta(hours=6) + timedelta(seconds=40)
    assert d.plan_retry(BUDGET, first_attempt=first, hop=9, now=NOW, rand=high) == 40
    assert d.plan_retry(BUDGET, first_attempt=NOW - timedelta(hours=6), hop=0, now=NOW, rand=high) is None
    assert d.plan_retry(BUDGET, first_attempt=NOW, hop=0, now=NOW, rand=high) == 15


def test_a_long_wait_takes_hops_of_at_most_seven_days() -> None:
    assert d.hop_delay(NOW + timedelta(days=20), NOW) == 7 * 24 * 3600
    assert d.hop_delay(NOW + timedelta(seconds=90.5), NOW) == 91
    assert d.hop_delay(NOW - timedelta(seconds=1), NOW) == 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0), ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
     (None, None), ("", None), ("soon", None), ("-3", None), ("99999999999", float(d.MAX_HOP_SECONDS))],
)  # fmt: skip
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert d.parse_retry_after(header, NOW) == seconds


def test_the_message_put_back_carries_its_request_id() -> None:
    given = '{"type":"sms","id":"r-1","to":"+15558675310","body":"hi"}'
    assert d.requeue_body(given, "r-1") == given  # untouched when it already names its record
    assert json.loads(d.requeue_body(b'{"type":"sms","to":"+15558675310","body":"h\xc3\xa9"}', "q-9")) == {
        "type": "sms", "to": "+15558675310", "body": "hé", "id": "q-9",
    }  # fmt: skip
    with pytest.raises(ValueError, match="JSON object"):
        d.requeue_body("[1]", "x")


def test_a_copy_is_stale_only_while_another_message_carries_a_future_attempt() -> None:
    later, earlier = NOW + timedelta(seconds=30), NOW - timedelta(seconds=1)
    assert d.is_stale_copy(message_id="a", deferred_message_id="b", retry_at=later, now=NOW)
    assert not d.is_stale_copy(message_id="b", deferred_message_id="b", retry_at=later, now=NOW)  # the carrier
    assert not d.is_stale_copy(message_id="a", deferred_message_id="b", retry_at=earlier, now=NOW)  # due: any may try
    assert not d.is_stale_copy(message_id="a", deferred_message_id=None, retry_at=later, now=NOW)


def test_defer_puts_the_message_back_base64_and_invisible_and_the_record_names_it(
    azurite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell's port on the real queue: invisible for the delay, base64 as the host decodes, never expiring."""
    from switchboard.adapters.storage import queue_client
    from switchboard.functions import outbound as shell
    from switchboard.outbound.worker import Origin, defer
    from switchboard.settings import get_settings
    from tests.outbound.conftest import new_id

    # A queue of this test's own: on the shared `outbound` queue other tests' messages can fill every page it
    # reads, so the deferred one was never seen in time under load.
    queue_name = f"outbound-{new_id()[:12].lower()}"
    monkeypatch.setattr(shell, "QUEUE", queue_name)
    deps = shell.deps(get_settings())
    record_id = new_id()
    created = iso(NOW)
    deps.store.insert(Record(id=record_id, type="sms", direction="outbound", status="retrying", created_at=created,
                             updated_at=created, to="+15558675310", attempts=1, first_attempt_at=created))  # fmt: skip
    origin = Origin("q-original", b'{"type":"sms","to":"+15558675310","body":"hi"}')
    before = datetime.now(timezone.utc)
    stored = defer(deps, record_id, origin, 1, event="retry_scheduled", detail="429 from Twilio")

    assert stored.deferred_message_id
    assert stored.hops == 1
    assert stored.status == "retrying"
    assert stored.first_attempt_at == created  # the budget still counts from the first attempt
    assert stored.retry_at is not None
    assert stored.retry_at >= iso(before + timedelta(seconds=1))
    _, events = deps.store.record_with_events(record_id)
    assert [(e["kind"], e.get("detail")) for e in events] == [("retry_scheduled", "429 from Twilio")]

    raw = queue_client(queue_name, base64=False)
    deadline = time.monotonic() + 10
    found = None
    while found is None and time.monotonic() < deadline:
        for message in raw.receive_messages(messages_per_page=32, visibility_timeout=1):
            assert message.id == stored.deferred_message_id  # the queue is this test's alone
            found = message
            raw.delete_message(message)
        time.sleep(0.1)
    assert found is not None, "the deferred message never became visible"
    assert found.dequeue_count == 1  # a new message: the host's dequeue budget starts afresh
    assert found.inserted_on is not None
    assert found.expires_on is not None
    assert found.expires_on - found.inserted_on > timedelta(days=365)  # "never expires"
    assert json.loads(base64.b64decode(found.content, validate=True)) == {
        "type": "sms", "to": "+15558675310", "body": "hi", "id": record_id,
    }  # fmt: skip
    raw.delete_queue()
