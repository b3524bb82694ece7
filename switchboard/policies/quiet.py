"""Pure: quiet hours in the recipient's time zone, and the first instant a create may happen.

`OUTBOUND_QUIET_HOURS` is a local wall-clock window such as `21:00-08:00` (it may wrap midnight; the start
is inclusive, the end exclusive), `off` or unset for none. `OUTBOUND_QUIET_HOURS_CALLS` and
`OUTBOUND_QUIET_HOURS_SMS` override it for one kind. The window is read in the recipient's zones, from
the number (phonenumbers' timezone data, by prefix): a number whose prefix spans several zones must be
outside quiet hours in all of them. A number with no known zone uses `OUTBOUND_QUIET_HOURS_ZONE`.

`next_allowed` walks forward on whole UTC minutes (every window edge is HH:MM and every zone offset a
whole number of minutes, so nothing changes between them), jumping close to the nearest end first; the
wall clock is read at each step, so both daylight-saving changes come out right (an end that falls in
the spring-forward gap is reached when the clock jumps past it; after the fall-back it is not repeated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^(?P<sh>\d{1,2}):(?P<sm>\d{2})-(?P<eh>\d{1,2}):(?P<em>\d{2})$")
DAY = 24 * 60
# How far ahead a common allowed minute is looked for; past it (zones so far apart that their allowed
# hours never overlap) the number is treated as being in its first zone alone.
HORIZON = timedelta(days=8)
# The jump towards a zone's end leaves this much slack for a daylight-saving change on the way.
SLACK_MINUTES = 61
UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers for a prefix it has no zone for


@dataclass(frozen=True)
class Window:
    """Quiet from `start` to `end`, minutes after local midnight; `start > end` wraps midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """Raise ValueError with a readable reason when `text` is not `HH:MM-HH:MM`."""
        found = _WINDOW.match(text.strip())
        if found is None:
            raise ValueError(f"expected HH:MM-HH:MM such as 21:00-08:00 (or off), not {text.strip()[:40]!r}")
        start = _minutes(found["sh"], found["sm"])
        end = _minutes(found["eh"], found["em"])
        if start == end:
            raise ValueError("the start and end are the same time: quiet all day would never send")
        return cls(start, end)

    def contains(self, minute_of_day: int) -> bool:
        if self.start < self.end:
            return self.start <= minute_of_day < self.end
        return minute_of_day >= self.start or minute_of_day < self.end

    def minutes_to_end(self, minute_of_day: int) -> int:
        """Wall-clock minutes from `minute_of_day` to the window's end (inside the window)."""
        return (self.end - minute_of_day) % DAY

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def _minutes(hours: str, minutes: str) -> int:
    hour, minute = int(hours), int(minutes)
    if hour > 23 or minute > 59:
        raise ValueError(f"{hours}:{minutes} is not a time of day (00:00-23:59)")
    return hour * 60 + minute


@dataclass(frozen=True)
class QuietHours:
    """The quiet windows per kind (None: none for that kind) and the zone of numbers with no known zone."""

    calls: Window | None
    sms: Window | None
    zone: str = "UTC"

    def window(self, kind: Literal["call", "sms"] | str) -> Window | None:
        return self.calls if kind == "call" else self.sms


def parse_window(text: str | None) -> Window | None:
    """A window, or None for unset, empty or `off`."""
    if text is None or not text.strip() or text.strip().lower() == "off":
        return None
    return Window.parse(text)


def check_zone(name: str) -> str:
    """An IANA zone name zoneinfo knows; else ValueError."""
    from zoneinfo import ZoneInfoNotFoundError

    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name[:60]!r} (use an IANA name such as America/New_York)") from None
    return name


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def zones_of(number: str) -> tuple[str, ...]:
    """The IANA zones phonenumbers gives for an E.164 number's prefix; () when it knows none."""
    import phonenumbers
    from phonenumbers import timezone

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    found = tuple(zone for zone in timezone.time_zones_for_number(parsed) if zone != UNKNOWN_ZONE)
    known = []
    for zone in found:
        try:
            check_zone(zone)
        except ValueError:
            continue  # a zone this machine's tz database lacks: the others still count
        known.append(zone)
    return tuple(known)


def recipient_zones(number: str, default_zone: str) -> tuple[str, ...]:
    return zones_of(number) or (default_zone,)


def is_quiet(window: Window, zones: tuple[str, ...], moment: datetime) -> bool:
    """Is `moment` (aware) inside the window in any of `zones`?"""
    return any(window.contains(_minute_of_day(moment, zone)) for zone in zones)


def next_allowed(window: Window | None, zones: tuple[str, ...], now: datetime) -> datetime:
    """`now` if no zone is in quiet hours; else the first whole minute outside them in every zone."""
    if window is None or not zones or not is_quiet(window, zones, now):
        return now
    found = _first_common(window, zones, now)
    if found is None:
        found = _first_common(window, zones[:1], now)
    if found is None:  # unreachable: one zone's quiet hours end within a day
        raise AssertionError("quiet hours that never end")
    return found


def _first_common(window: Window, zones: tuple[str, ...], now: datetime) -> datetime | None:
    # In UTC: an aware datetime's arithmetic is on its own wall clock, which a DST change would bend.
    moment = now.astimezone(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = now + HORIZON
    while moment <= limit:
        waits = [
            window.minutes_to_end(minute) for zone in zones if window.contains(minute := _minute_of_day(moment, zone))
        ]
        if not waits:
            return moment
        moment += timedelta(minutes=max(1, max(waits) - SLACK_MINUTES))
    return None


def _minute_of_day(moment: datetime, zone: str) -> int:
    local = moment.astimezone(_zone(zone))
    return local.hour * 60 + local.minute
