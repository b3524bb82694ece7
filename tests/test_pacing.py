"""The pure pacing rule (switchboard/policies/pacing.py): leased slots, never closer than one interval."""

from __future__ import annotations

import itertools
import random

import pytest

from switchboard.policies.pacing import TOLERANCE_SECONDS, interval_for, meter_key, next_slot, wait_seconds


def test_an_idle_meter_gives_now_and_moves_one_interval_on() -> None:
    first = next_slot(None, 100.0, 0.5)
    assert (first.slot, first.next_free) == (100.0, 100.5)
    # Idle since: the slot is now, not the old next_free (no burst saved up from idle time).
    later = next_slot(100.5, 250.0, 0.5)
    assert (later.slot, later.next_free) == (250.0, 250.5)


def test_a_busy_meter_gives_the_next_free_slot_ahead() -> None:
    claim = next_slot(107.0, 100.0, 1.0)
    assert (claim.slot, claim.next_free) == (107.0, 108.0)


def test_a_backlog_gets_consecutive_slots_at_exactly_the_rate() -> None:
    interval, now, next_free = interval_for(4), 1000.0, None
    slots = []
    for _ in range(400):  # 400 claims within the same second: the slots stretch ahead without a gap
        claim = next_slot(next_free, now, interval)
        slots.append(claim.slot)
        next_free = claim.next_free
        now += 0.001
    assert slots == sorted(slots)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.25)
    assert max(gaps) == pytest.approx(0.25)
    assert (len(slots) - 1) / (slots[-1] - slots[0]) == pytest.approx(4.0)


def test_claims_at_random_moments_never_come_closer_than_one_interval() -> None:
    rand = random.Random(27)
    interval, now, next_free = interval_for(3), 0.0, None
    slots = []
    for _ in range(2_000):
        now += rand.expovariate(2.5)  # sometimes faster than the rate, sometimes idle
        claim = next_slot(next_free, now, interval)
        assert claim.slot >= now
        slots.append(claim.slot)
        next_free = claim.next_free
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= interval - 1e-9
    # In any window, at most rate x length + 1 slots.
    for start in range(0, int(slots[-1]), 7):
        inside = [slot for slot in slots if start <= slot < start + 10]
        assert len(inside) <= 3 * 10 + 1


def test_a_slot_within_the_tolerance_is_now() -> None:
    assert wait_seconds(10.0, 10.0) == 0
    assert wait_seconds(9.0, 10.0) == 0  # late: send at once
    assert wait_seconds(10.0 + TOLERANCE_SECONDS / 2, 10.0) == 0
    assert wait_seconds(12.5, 10.0) == pytest.approx(2.5)


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan")])
def test_a_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        interval_for(rate)
    with pytest.raises(ValueError, match="positive"):
        next_slot(None, 0.0, rate)


def test_meter_keys_name_the_sender_or_the_account() -> None:
    assert meter_key("message", "+15005550006") == "message:+15005550006"
    assert meter_key("message", "whatsapp:+15005550006") == "message:whatsapp:+15005550006"
    assert meter_key("message", "MG" + "0" * 32) == "message:MG" + "0" * 32
    assert meter_key("call", "AC123") == "call:AC123"
    assert meter_key("message", "a/b#c?d\\e\x01") == "message:a_b_c_d_e_"  # what a table key cannot hold
    with pytest.raises(ValueError, match="no meter"):
        meter_key("fax", "+15005550006")
