"""Business hours such as `Mon-Fri 09:00-17:00 Europe/Amsterdam`, parsed once, checked with an injected clock.

Grammar: one or more `<days> <HH:MM>-<HH:MM>` rules separated by `;` or `,`, then an IANA
zone name (default UTC). Days are `Mon`..`Sun`, a range `Mon-Fri` (it may wrap: `Fri-Mon`),
or a list `Mon/Wed`. End times are exclusive; `24:00` means midnight at the end of the day.
Example: `Mon-Fri 09:00-17:30; Sat 10:00-13:00 Europe/Amsterdam`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]*$")
_RULE = re.compile(r"^(?P<days>[A-Za-z/\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # datetime.weekday(): Monday is 0
    start: int  # minutes after midnight, inclusive
    end: int  # exclusive


@dataclass(frozen=True)
class BusinessHours:
    windows: tuple[Window, ...]
    zone: str = "UTC"

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        """Raise ValueError with a readable reason when `text` does not parse."""
        # zoneinfo (and the sysconfig it loads) only when business hours are configured: cold starts.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        body = text.strip()
        zone = "UTC"
        head, _, last = body.rpartition(" ")
        # The zone is the last word when it reads like a zone name (a rule ends in a time range).
        if head and _ZONE.match(last):
            zone, body = last, head.strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as Europe/Amsterdam)") from None
        windows = tuple(_window(rule.strip()) for rule in re.split(r"[;,]", body) if rule.strip())
        if not windows:
            raise ValueError("no opening hours given, e.g. 'Mon-Fri 09:00-17:00 Europe/Amsterdam'")
        return cls(windows=windows, zone=zone)

    def is_open(self, now: datetime) -> bool:
        """`now` must be timezone-aware; it is converted to the business's zone."""
        from zoneinfo import ZoneInfo

        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        local = now.astimezone(ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in w.days and w.start <= minute < w.end for w in self.windows)


def _window(rule: str) -> Window:
    match = _RULE.match(rule)
    if not match:
        raise ValueError(f"cannot read {rule!r}; expected e.g. 'Mon-Fri 09:00-17:00'")
    start, end = _minutes(match["start"]), _minutes(match["end"])
    if end <= start:
        raise ValueError(f"in {rule!r} the end time must be after the start time")
    return Window(days=_days(match["days"]), start=start, end=end)


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split("/"):
        first, _, last = part.partition("-")
        begin, finish = _day(first), _day(last or first)
        index = begin
        while True:
            days.add(index)
            if index == finish:
                break
            index = (index + 1) % 7
    return frozenset(days)


def _day(name: str) -> int:
    key = name.strip()[:3]
    if key not in DAYS:
        raise ValueError(f"unknown day {name!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    return DAYS.index(key)


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day")
    return hours * 60 + minutes
