"""Pacing across hosts: the meter in Table Storage (Azurite), and the worker waiting on the queue for its slot."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
import uuid

import pytest

from switchboard.adapters.meter import TABLE, TableMeter
from switchboard.policies.pacing import interval_for
from switchboard.records.model import parse_iso
from tests.outbound.conftest import deliver, new_id, one, record, redeliver
from tools.emulator.rest import TwilioEmulator

TO = "+15558675310"


def own_sender() -> str:
    """A sender no other test paces: the meter rows outlive a test in the session's Azurite."""
    return "+1555" + str(random.randrange(10**6, 10**7))


def host_meter(connection: str) -> TableMeter:
    """One host's meter: its own TableClient (its own connections), its own cached row."""
    from azure.core.exceptions import ResourceExistsError
    from azure.data.tables import TableClient

    table = TableClient.from_connection_string(connection, TABLE)
    with contextlib.suppress(ResourceExistsError):  # made by another host first
        table.create_table()
    return TableMeter(table)


@pytest.mark.parametrize("rate", [10.0, 2.5])
def test_three_hosts_claiming_one_sender_never_share_a_slot_nor_beat_the_rate(azurite: str, rate: float) -> None:
    key = f"message:test-{uuid.uuid4().hex[:8]}"
    interval = interval_for(rate)
    per_host = 12
    slots: list[float] = []
    lock = threading.Lock()
    hosts = [host_meter(azurite) for _ in range(3)]
    start = threading.Barrier(len(hosts))

    def run(meter: TableMeter) -> None:
        start.wait(timeout=10)
        for _ in range(per_host):  # a backlog: each host claims as fast as the meter lets it
            slot = meter.claim(key, interval, time.time())
            assert slot is not None, "the meter stayed busy for 8 attempts"
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=run, args=(meter,)) for meter in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(slots) == 3 * per_host
    ordered = sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= interval - 1e-6, "two claims in one slot"
    achieved = (len(ordered) - 1) / (ordered[-1] - ordered[0])
    assert achieved <= rate * 1.0001
    assert achieved >= rate * 0.9  # a backlog leaves no gaps between slots


def two_from_one_sender(app, configure) -> tuple[str, str, str]:
    """At 1 message per second, two SMS from one sender at once: the first is created, the second waits."""
    configure(OUTBOUND_MESSAGES_PER_SECOND="1")
    sender = own_sender()
    first, second = new_id(), new_id()
    deliver(app, {"type": "sms", "id": first, "to": TO, "from": sender, "body": "one"})
    deliver(app, {"type": "sms", "id": second, "to": TO, "from": sender, "body": "two"})
    return sender, first, second


def test_a_message_over_its_senders_pace_waits_on_the_queue_for_its_slot(
    app, twilio: TwilioEmulator, configure
) -> None:
    sender, first, second = two_from_one_sender(app, configure)
    assert record(app, first)["status"] == "queued"
    waiting = record(app, second)
    # Not sent yet, not an attempt, not a retry: the record says it waits for its slot.
    assert (waiting["status"], waiting["attempts"], waiting["sid"]) == ("paced", 0, None)
    assert ("first_attempt_at" not in waiting and "hops" not in waiting) or waiting.get("hops") in (None, 0)
    [event] = waiting["events"]
    assert (event["kind"], event["status"]) == ("paced", "paced")
    assert "1 message(s) per second" in event["detail"]
    assert sender not in event["detail"]  # the sender is masked
    due = parse_iso(waiting["retry_at"])
    assert 0.5 <= (due - parse_iso(waiting["updated_at"])).total_seconds() <= 1.5
    assert len(twilio.attempts("messages")) == 1

    redeliver(app, second)
    body = record(app, second)
    assert (body["status"], body["attempts"]) == ("queued", 1)
    assert [event["kind"] for event in body["events"]] == ["paced", "sent"]
    assert [one(form, "Body") for form in twilio.created("messages")] == ["one", "two"]


def test_messages_from_different_senders_do_not_wait_for_each_other(app, twilio: TwilioEmulator, configure) -> None:
    configure(OUTBOUND_MESSAGES_PER_SECOND="0.2")
    ids = [new_id() for _ in range(3)]
    for request_id in ids:
        deliver(app, {"type": "sms", "id": request_id, "to": TO, "from": own_sender(), "body": "hi"})
    assert [record(app, request_id)["status"] for request_id in ids] == ["queued"] * 3


def test_a_busy_meter_puts_the_message_back_without_a_slot_and_it_goes_later(
    app, twilio: TwilioEmulator, configure, azurite: str
) -> None:
    import dataclasses
    import json

    from switchboard.functions.outbound import deps
    from switchboard.outbound.worker import handle_message
    from switchboard.settings import get_settings

    configure(OUTBOUND_MESSAGES_PER_SECOND="1")
    request_id, sender = new_id(), own_sender()
    body = json.dumps({"type": "sms", "id": request_id, "to": TO, "from": sender, "body": "busy"}).encode()
    never_wins = host_meter(azurite)
    never_wins.attempts = 0  # as if other hosts won every race for the row
    handle_message(uuid.uuid4().hex, body, 1, dataclasses.replace(deps(get_settings()), pace=never_wins.claim))
    waiting = record(app, request_id)
    assert (waiting["status"], waiting["attempts"]) == ("paced", 0)
    [event] = waiting["events"]
    assert "pace meter was busy" in event["detail"]
    assert twilio.attempts("messages") == []
    redeliver(app, request_id)  # the app's own meter: the slot is free
    assert record(app, request_id)["status"] == "queued"


def test_a_slot_is_held_for_one_attempt_only_a_retry_leases_a_new_one(
    app, twilio: TwilioEmulator, configure, azurite: str
) -> None:
    from azure.data.tables import TableClient

    from switchboard.policies.pacing import meter_key

    sender, _first, second = two_from_one_sender(app, configure)
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    stored = store_for(get_settings()).get(second)
    assert stored is not None
    assert stored.pace_slot is not None
    held = parse_iso(stored.pace_slot)
    twilio.faults.add("messages", status=429, times=1)
    redeliver(app, second)  # its slot: the create is tried, and Twilio answers 429
    assert record(app, second)["status"] == "retrying"
    redeliver(app, second)
    body = record(app, second)
    assert (body["status"], body["attempts"]) == ("queued", 2)
    assert [event["kind"] for event in body["events"]] == ["paced", "retry_scheduled", "sent"]
    # Three slots leased in all: the retry (a second after the 429) did not reuse the one its first attempt held,
    # which would have left the row one interval after that slot.
    row = TableClient.from_connection_string(azurite, TABLE).get_entity(meter_key("message", sender), "meter")
    assert row["NextFree"] >= held.timestamp() + 2 - 0.01


def test_messages_are_metered_per_sender_and_calls_per_account() -> None:
    from switchboard.outbound.contract import validate
    from switchboard.outbound.pacing import meter_for
    from switchboard.settings import Settings

    settings = Settings.from_env({
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token", "OUTBOUND_MESSAGES_PER_SECOND": "0.5",
        "OUTBOUND_CALLS_PER_SECOND": "4",
    })  # fmt: skip
    sms = validate({"type": "sms", "to": TO, "from": "+15005550006", "body": "hi"}, default_id="a")
    service = validate(
        {"type": "sms", "to": TO, "messaging_service_sid": "MG" + "2" * 32, "body": "hi"}, default_id="b"
    )
    call = validate({"type": "call", "to": TO, "from": "+15005550006", "say": "hi"}, default_id="c")
    assert meter_for(sms, settings)[:2] == ("message:+15005550006", 2.0)
    assert "from +1500***0006" in meter_for(sms, settings)[2]
    assert meter_for(service, settings)[:2] == ("message:MG" + "2" * 32, 2.0)
    assert meter_for(call, settings)[:2] == ("call:AC" + "1" * 32, 0.25)
