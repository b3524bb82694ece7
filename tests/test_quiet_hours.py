"""Quiet hours (switchboard/policies/quiet.py, switchboard/outbound/schedule.py): pure, with explicit clocks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from switchboard.outbound.contract import validate
from switchboard.outbound.schedule import Expired, Hold, decide
from switchboard.policies.quiet import QuietHours, Window, is_quiet, next_allowed, parse_window, zones_of
from switchboard.settings import Settings, SettingsError

NY = ZoneInfo("America/New_York")
NIGHT = Window.parse("21:00-08:00")
BASE = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token"}


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NY)  # type: ignore[misc]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


@pytest.mark.parametrize(
    ("text", "start", "end"), [("21:00-08:00", 21 * 60, 8 * 60), ("9:30-17:00", 570, 1020), (" 00:00-06:15 ", 0, 375)]
)
def test_a_window_parses_from_hh_mm_to_hh_mm(text: str, start: int, end: int) -> None:
    assert Window.parse(text) == Window(start, end)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("9pm-8am", "expected HH:MM-HH:MM"), ("21:00-24:00", "not a time of day"), ("08:00-08:00", "the same time")],
)
def test_a_bad_window_says_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Window.parse(text)


def test_off_and_unset_mean_no_window() -> None:
    assert parse_window(None) is None
    assert parse_window(" OFF ") is None
    assert parse_window("") is None


def test_a_wrapping_window_holds_from_its_start_up_to_but_not_including_its_end() -> None:
    assert [NIGHT.contains(h * 60) for h in (20, 21, 23, 0, 7)] == [False, True, True, True, True]
    assert not NIGHT.contains(8 * 60)
    day = Window.parse("12:00-13:00")
    assert (day.contains(12 * 60), day.contains(13 * 60), day.contains(11 * 60 + 59)) == (True, False, False)


def test_the_end_of_the_night_in_new_york_is_0800_new_york_time() -> None:
    assert next_allowed(NIGHT, ("America/New_York",), utc(ny(2027, 1, 12, 22, 30, 17))) == utc(ny(2027, 1, 13, 8, 0))
    assert next_allowed(NIGHT, ("America/New_York",), utc(ny(2027, 1, 13, 0, 0))) == utc(ny(2027, 1, 13, 8, 0))
    awake = utc(ny(2027, 1, 13, 12, 0, 5))
    assert next_allowed(NIGHT, ("America/New_York",), awake) == awake  # not quiet: now, to the microsecond
    assert next_allowed(None, ("America/New_York",), awake) == awake


def test_spring_forward_night_ends_at_0800_daylight_time() -> None:
    # 2027-03-14: New York's clocks jump from 02:00 EST to 03:00 EDT; the night is an hour shorter.
    end = next_allowed(NIGHT, ("America/New_York",), utc(ny(2027, 3, 13, 22, 30)))
    assert end == datetime(2027, 3, 14, 12, 0, tzinfo=timezone.utc)  # 08:00 EDT (UTC-4)
    assert end.astimezone(NY).hour == 8
    assert end - utc(ny(2027, 3, 13, 22, 30)) == timedelta(hours=8, minutes=30)


def test_fall_back_night_ends_at_0800_standard_time() -> None:
    # 2027-11-07: 02:00 EDT becomes 01:00 EST; the night is an hour longer.
    end = next_allowed(NIGHT, ("America/New_York",), utc(ny(2027, 11, 6, 22, 30)))
    assert end == datetime(2027, 11, 7, 13, 0, tzinfo=timezone.utc)  # 08:00 EST (UTC-5)
    assert end - utc(ny(2027, 11, 6, 22, 30)) == timedelta(hours=10, minutes=30)


def test_an_end_inside_the_spring_forward_gap_is_reached_when_the_clock_jumps_past_it() -> None:
    window = Window.parse("01:00-02:30")  # 02:30 never happens on 2027-03-14 in New York
    end = next_allowed(window, ("America/New_York",), utc(ny(2027, 3, 14, 1, 10)))
    assert end == datetime(2027, 3, 14, 7, 0, tzinfo=timezone.utc)  # 03:00 EDT, the first minute past 02:30
    assert end.astimezone(NY).strftime("%H:%M %Z") == "03:00 EDT"


def test_the_repeated_hour_after_the_fall_back_is_judged_by_its_wall_clock() -> None:
    window = Window.parse("00:00-01:30")
    first = next_allowed(window, ("America/New_York",), utc(ny(2027, 11, 7, 0, 10)))
    assert first.astimezone(NY).strftime("%H:%M %Z") == "01:30 EDT"
    # 01:10 EST, the second time the clock shows 01:10: quiet again until 01:30 EST.
    second = datetime(2027, 11, 7, 6, 10, tzinfo=timezone.utc)
    assert second.astimezone(NY).strftime("%H:%M %Z") == "01:10 EST"
    assert next_allowed(window, ("America/New_York",), second).astimezone(NY).strftime("%H:%M %Z") == "01:30 EST"


def test_a_number_in_several_zones_must_be_outside_quiet_hours_in_all_of_them() -> None:
    zones = ("America/New_York", "America/Los_Angeles")
    # 08:00 in New York is 05:00 in Los Angeles: wait for 08:00 there.
    end = next_allowed(NIGHT, zones, utc(ny(2027, 1, 12, 22, 30)))
    assert end == datetime(2027, 1, 13, 16, 0, tzinfo=timezone.utc)
    # 19:00 in New York is 16:00 in Los Angeles; 22:00 in New York is quiet there.
    assert is_quiet(NIGHT, zones, utc(ny(2027, 1, 13, 22, 0)))
    assert not is_quiet(NIGHT, zones, utc(ny(2027, 1, 13, 19, 0)))


def test_a_russian_mobile_number_waits_for_the_hours_every_one_of_its_zones_is_awake() -> None:
    zones = zones_of("+79161234567")
    assert {"Europe/Moscow", "Asia/Kamchatka"} <= set(zones)
    end = next_allowed(NIGHT, zones, datetime(2027, 1, 5, 12, 0, tzinfo=timezone.utc))
    assert not is_quiet(NIGHT, zones, end)
    assert end == datetime(2027, 1, 6, 6, 0, tzinfo=timezone.utc)  # 08:00 in the westernmost listed zone


def test_zones_whose_waking_hours_never_overlap_fall_back_to_the_first_zone() -> None:
    zones = ("Pacific/Kiritimati", "Pacific/Pago_Pago")  # UTC+14 and UTC-11: the same wall clock, a day apart
    short_day = Window.parse("10:00-09:00")  # awake 09:00-10:00 only
    end = next_allowed(short_day, zones, datetime(2027, 1, 5, 12, 0, tzinfo=timezone.utc))
    assert end.astimezone(ZoneInfo("Pacific/Kiritimati")).strftime("%H:%M") == "09:00"


def test_zones_come_from_the_number_and_an_unknown_one_from_the_setting() -> None:
    assert zones_of("+12125550123") == ("America/New_York",)
    assert zones_of("+14155551212") == ("America/Los_Angeles",)
    assert zones_of("+15558675310") == ()  # 555: no zone
    request = validate({"type": "sms", "to": "+15558675310", "from": "+15005550006", "body": "x"}, default_id="a")
    quiet = QuietHours(calls=None, sms=NIGHT, zone="Europe/Amsterdam")
    decision = decide(request, quiet, datetime(2027, 1, 12, 22, 0, tzinfo=timezone.utc))  # 23:00 in Amsterdam
    assert isinstance(decision, Hold)
    assert decision.due == datetime(2027, 1, 13, 7, 0, tzinfo=timezone.utc)
    assert "in Europe/Amsterdam" in decision.detail


def test_decide_takes_the_later_of_send_at_and_the_end_of_quiet_hours_and_expiry_first() -> None:
    quiet = QuietHours(calls=NIGHT, sms=None)
    now = utc(ny(2027, 1, 12, 12, 0))
    call = {"type": "call", "to": "+12125550123", "from": "+15005550006", "say": "Hi"}
    # send_at 22:00 New York time falls in the night: 08:00 the next day.
    later = validate({**call, "send_at": "2027-01-12T22:00:00-05:00"}, default_id="a")
    decision = decide(later, quiet, now)
    assert isinstance(decision, Hold)
    assert (decision.due, decision.wake) == (utc(ny(2027, 1, 13, 8, 0)), utc(ny(2027, 1, 13, 8, 0)))
    assert "send_at" in decision.detail
    assert "quiet hours 21:00-08:00 in America/New_York" in decision.detail
    # An SMS has no window here; a call with quiet_hours false skips it.
    assert decide(validate({**call, "quiet_hours": False}, default_id="b"), quiet, utc(ny(2027, 1, 12, 23))) is None
    # expires_at before the end of the night: it comes back at expires_at, to expire then.
    short = validate({**call, "send_at": "2027-01-12T22:00:00-05:00", "expires_at": "2027-01-12T23:00:00-05:00"},
                     default_id="c")  # fmt: skip
    decision = decide(short, quiet, now)
    assert isinstance(decision, Hold)
    assert decision.wake == utc(ny(2027, 1, 12, 23, 0))
    assert isinstance(decide(short, quiet, utc(ny(2027, 1, 12, 23, 0))), Expired)


def test_settings_read_the_quiet_hours_per_kind_and_refuse_bad_values_by_name() -> None:
    both = Settings.from_env(BASE | {"OUTBOUND_QUIET_HOURS": "21:00-08:00"}).outbound_quiet_hours
    assert both == QuietHours(calls=NIGHT, sms=NIGHT, zone="UTC")
    split = Settings.from_env(BASE | {"OUTBOUND_QUIET_HOURS": "21:00-08:00", "OUTBOUND_QUIET_HOURS_CALLS": "off",
                                      "OUTBOUND_QUIET_HOURS_SMS": "22:00-07:00",
                                      "OUTBOUND_QUIET_HOURS_ZONE": "America/Chicago"}).outbound_quiet_hours  # fmt: skip
    assert split == QuietHours(calls=None, sms=Window.parse("22:00-07:00"), zone="America/Chicago")
    assert Settings.from_env(BASE).outbound_quiet_hours is None
    assert Settings.from_env(BASE | {"OUTBOUND_QUIET_HOURS": "off"}).outbound_quiet_hours is None
    for name, value in [("OUTBOUND_QUIET_HOURS", "9pm-8am"), ("OUTBOUND_QUIET_HOURS_SMS", "25:00-07:00"),
                        ("OUTBOUND_QUIET_HOURS_ZONE", "Mars/Olympus_Mons")]:  # fmt: skip
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(BASE | {"OUTBOUND_QUIET_HOURS": "21:00-08:00", name: value})
