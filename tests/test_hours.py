from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from switchboard.policies.hours import BusinessHours

AMS = ZoneInfo("Europe/Amsterdam")


def at(text: str, zone: ZoneInfo = AMS) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_office_hours_in_a_zone() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Amsterdam")
    assert hours.zone == "Europe/Amsterdam"
    assert hours.is_open(at("2026-11-27T09:00"))  # a Friday
    assert hours.is_open(at("2026-11-27T16:59"))
    assert not hours.is_open(at("2026-11-27T17:00"))  # the end is exclusive
    assert not hours.is_open(at("2026-11-27T08:59"))
    assert not hours.is_open(at("2026-11-28T12:00"))  # Saturday


def test_clock_in_another_zone_is_converted() -> None:
    hours = BusinessHours.parse("Mon-Fri 09:00-17:00 Europe/Amsterdam")
    # 08:30 UTC on a winter Friday is 09:30 in Amsterdam.
    assert hours.is_open(datetime(2026, 11, 27, 8, 30, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2026, 11, 27, 7, 30, tzinfo=timezone.utc))
    # Summer time: 07:30 UTC is 09:30 in Amsterdam.
    assert hours.is_open(datetime(2026, 7, 3, 7, 30, tzinfo=timezone.utc))


def test_several_rules_lists_wrapping_ranges_and_midnight() -> None:
    hours = BusinessHours.parse("Mon/Wed 08:00-12:00; Fri-Sun 20:00-24:00, Tue 13:00-14:00")
    assert hours.zone == "UTC"
    utc = ZoneInfo("UTC")
    assert hours.is_open(at("2026-11-23T08:00", utc))  # Monday
    assert not hours.is_open(at("2026-11-24T08:00", utc))  # Tuesday morning
    assert hours.is_open(at("2026-11-24T13:30", utc))
    assert hours.is_open(at("2026-11-29T23:59", utc))  # Sunday late
    assert not hours.is_open(at("2026-11-26T21:00", utc))  # Thursday


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Mon-Fri 09:00-17:00 Mars/Olympus", "unknown time zone"),
        ("Mon-Fri 17:00-09:00 UTC", "end time must be after"),
        ("Mon-Fro 09:00-17:00", "unknown day"),
        ("weekdays 9-5", "cannot read"),
        ("Mon-Fri 09:00-25:00", "not a time of day"),
        ("Mon-Fri 09:60-17:00", "not a time of day"),
        ("Europe/Amsterdam", "cannot read"),
        ("  ", "no opening hours"),
    ],
)
def test_bad_text_gives_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        BusinessHours.parse(text)


def test_zone_names_with_digits() -> None:
    hours = BusinessHours.parse("Mon-Sun 09:00-17:00 Etc/GMT-2")  # POSIX sign: two hours ahead of UTC
    assert hours.zone == "Etc/GMT-2"
    assert hours.is_open(datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2026, 11, 27, 6, 59, tzinfo=timezone.utc))


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BusinessHours.parse("Mon 09:00-17:00").is_open(datetime(2026, 11, 23, 10, 0))
