"""The pacing benchmark's harness, small: three hosts with their own clients drain a backlog through the
real worker, Azurite and the emulator; every message is created once and the rate is not beaten."""

from __future__ import annotations

import random

from bench.pacing import measure, windows


def test_three_hosts_drain_a_backlog_at_no_more_than_the_rate(azurite: str) -> None:
    rate, messages = 5.0, 12
    sender = "+1555" + str(random.randrange(10**6, 10**7))  # its own meter row in the session's Azurite
    section = measure(azurite, rate=rate, messages=messages, sender=sender, log=lambda _: None)
    detail = section["detail"]
    assert detail["errors"] == []
    assert detail["creates"] == detail["attempts"] == messages  # each once, none refused by Twilio's queue
    assert detail["put_back"] >= messages - 2  # a backlog: nearly all waited for a slot ahead
    # The first create takes the idle meter's slot at once; every later one happens at or after its own.
    assert detail["rate_kept"] <= rate * 1.02
    rows = {row["key"]: row for row in section["figures"]}
    assert rows["pacing_at_most"]["measured"] == detail["rate_kept"]


def test_windows_counts_the_most_in_any_second() -> None:
    assert windows([]) == 0
    assert windows([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert windows([0.0, 2.0, 4.0]) == 1
