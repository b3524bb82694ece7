"""Pure: SUPPRESS_ON_ERRORS, the delivery error codes that suppress SMS to a number, and for how long (issue 24).

`30003:7d,30005:30d,30006:30d` (the default) or `off`. A duration is a whole number of minutes (m),
hours (h) or days (d). A code must be one of `switchboard.shared.reasons.REASONS`' delivery codes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from switchboard.shared.reasons import REASONS

DEFAULT_SUPPRESS_ON_ERRORS = "30003:7d,30005:30d,30006:30d"
_DURATION = re.compile(r"^([1-9][0-9]{0,4})([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


class SuppressionConfigError(ValueError):
    """SUPPRESS_ON_ERRORS cannot be used; the message names the setting and the part that is wrong."""


def parse_suppress_on_errors(raw: str | None, setting: str = "SUPPRESS_ON_ERRORS") -> dict[str, timedelta]:
    """Code -> how long a delivery failure with it suppresses the number; empty when `off`."""
    text = DEFAULT_SUPPRESS_ON_ERRORS if raw is None or not raw.strip() else raw.strip()
    if text.lower() == "off":
        return {}
    rules: dict[str, timedelta] = {}
    for part in text.split(","):
        code, sep, duration = part.strip().partition(":")
        code = code.strip()
        if not sep:
            raise SuppressionConfigError(f"{setting}: {part.strip()!r} is not <code>:<duration> (e.g. 30006:30d)")
        if code not in REASONS or not code.startswith("30"):
            raise SuppressionConfigError(f"{setting}: {code!r} is no known Twilio delivery error code")
        match = _DURATION.match(duration.strip())
        if not match:
            raise SuppressionConfigError(f"{setting}: {duration.strip()!r} is no duration (e.g. 90m, 12h, 30d)")
        rules[code] = int(match.group(1)) * _UNITS[match.group(2)]
    return rules


def suppressed_until(rules: dict[str, timedelta], code: object, failed_at: datetime) -> datetime | None:
    """When a suppression caused by a delivery failure with `code` at `failed_at` lapses; None: no suppression."""
    span = rules.get(str(code)) if code is not None else None
    return failed_at + span if span else None


def is_suppressed(until: datetime | None, now: datetime) -> bool:
    return until is not None and now < until
