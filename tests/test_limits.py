"""OUTBOUND_LIMITS (policies/limits.py): the setting's grammar, its errors, and the counting rule."""

from __future__ import annotations

import pytest

from switchboard.policies.limits import (
    DEFAULT_OUTBOUND_LIMITS,
    Rule,
    Window,
    counted,
    has_room,
    parse_outbound_limits,
    reason,
    retry_after,
    rules_for,
)
from switchboard.settings import Settings, SettingsError

MINIMAL = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token"}


def names(rules: tuple[Rule, ...]) -> list[str]:
    return [rule.name for rule in rules]


def test_the_default_caps_sms_and_calls_per_recipient_and_everything_per_day() -> None:
    assert DEFAULT_OUTBOUND_LIMITS == "sms:per_to=10/1h,30/24h;call:per_to=3/1h;all=5000/24h"
    rules = Settings.from_env(MINIMAL).outbound_limits
    assert names(rules) == ["sms:per_to=10/1h", "sms:per_to=30/24h", "call:per_to=3/1h", "all=5000/24h"]
    assert [(r.kind, r.scope, r.count, r.window_seconds) for r in rules] == [
        ("sms", "per_to", 10, 3600), ("sms", "per_to", 30, 86400), ("call", "per_to", 3, 3600),
        (None, "all", 5000, 86400),
    ]  # fmt: skip
    assert names(rules_for(rules, "call")) == ["call:per_to=3/1h", "all=5000/24h"]
    assert reason(rules[0]) == "limit:sms:per_to=10/1h"


def test_off_disables_every_cap_and_windows_take_seconds_minutes_hours_days() -> None:
    assert parse_outbound_limits("off") == ()
    assert parse_outbound_limits(" OFF ") == ()
    rules = parse_outbound_limits("per_to=5/90s;sms:all=100/30m;call:all=7/2d")
    assert [(r.kind, r.scope, r.count, r.window_seconds) for r in rules] == [
        (None, "per_to", 5, 90), ("sms", "all", 100, 1800), ("call", "all", 7, 172800),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("sms:per_to", "is not [<kind>:]<scope>=<count>/<window>"),
        ("fax:per_to=1/1h", "'fax' is no kind"),
        ("sms:per_day=1/1h", "'per_day' is no scope"),
        ("sms:per_to=10/1w", "'10/1w' is not <count>/<window>"),
        ("sms:per_to=0/1h", "'0/1h' is not <count>/<window>"),
        ("sms:per_to=10/1h,20/60m", "two limits for sms:per_to over 60m"),
        ("sms:per_to=10/400d", "too large"),
        (";", "no limits given"),
    ],
)
def test_a_bad_value_fails_at_start_naming_the_setting(value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(MINIMAL | {"OUTBOUND_LIMITS": value})
    assert str(caught.value).startswith("App setting OUTBOUND_LIMITS: ")
    assert says in str(caught.value)


def test_sms_auto_reply_minutes_defaults_to_10_and_0_turns_the_throttle_off() -> None:
    assert Settings.from_env(MINIMAL).sms_auto_reply_minutes == 10
    assert Settings.from_env(MINIMAL | {"SMS_AUTO_REPLY_MINUTES": "0"}).sms_auto_reply_minutes == 0
    with pytest.raises(SettingsError, match="SMS_AUTO_REPLY_MINUTES"):
        Settings.from_env(MINIMAL | {"SMS_AUTO_REPLY_MINUTES": "-1"})


def test_a_window_opens_with_its_first_count_and_runs_its_length() -> None:
    [rule] = parse_outbound_limits("sms:per_to=2/1h")
    window = None
    for _ in range(2):
        assert has_room(window, rule, 1000.0)
        window = counted(window, rule, 1000.0)
    assert window == Window(1000.0, 2)
    assert not has_room(window, rule, 1000.0 + 3599)
    assert retry_after(window, rule, 1000.0 + 3599) == pytest.approx(1.0)
    assert has_room(window, rule, 1000.0 + 3600)  # the next window opens with the next count
    assert counted(window, rule, 5000.0) == Window(5000.0, 1)
