"""Pure: OUTBOUND_LIMITS, the caps on how much the outbound queue may send, and the counting rule (issue 23).

`sms:per_to=10/1h,30/24h;call:per_to=3/1h;all=5000/24h` (the default) or `off`. Clauses are separated by `;`;
each is `[<kind>:]<scope>=<count>/<window>[,<count>/<window>...]`:

- kind: `sms` (messages on any channel) or `call`; no kind: every request counts;
- scope: `per_to` (one counter per recipient number) or `all` (one counter for the app);
- window: a whole number of seconds (s), minutes (m), hours (h) or days (d), at most 366 days.

Each `<count>/<window>` is a rule that names itself in a rejection: `limit:sms:per_to=10/1h`.

Counting: a fixed window opens with the first request it counts and lasts its length; a request is admitted
when every rule that applies has room in its current window, and then counts once in each (one ticket per
request id, so a redelivered message never counts twice). A request over a limit is `rejected` and never
reaches Twilio; a rejected request counts nowhere. So `10/1h` lets at most 10 through in any window, and a
burst of 40 within a minute gets exactly 10 through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_OUTBOUND_LIMITS = "sms:per_to=10/1h,30/24h;call:per_to=3/1h;all=5000/24h"
KINDS = ("sms", "call")
SCOPES = ("per_to", "all")
MAX_WINDOW_SECONDS = 366 * 24 * 3600
MAX_COUNT = 10_000_000
_LIMIT = re.compile(r"^([1-9][0-9]{0,7})/([1-9][0-9]{0,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LimitsConfigError(ValueError):
    """OUTBOUND_LIMITS cannot be used; the message names the setting and the part that is wrong."""


@dataclass(frozen=True)
class Rule:
    """One cap: at most `count` requests of `kind` (None: any) per `scope` in `window_seconds`."""

    kind: str | None
    scope: str
    count: int
    window_seconds: int
    written: str  # the window as written: "1h", "24h"

    @property
    def name(self) -> str:
        """`sms:per_to=10/1h`: what a rejection's reason says after `limit:`."""
        return f"{self.kind + ':' if self.kind else ''}{self.scope}={self.count}/{self.written}"

    @property
    def group(self) -> tuple[str | None, str]:
        """Rules that share a counter partition: same kind and scope (the windows are rows in it)."""
        return (self.kind, self.scope)

    def applies(self, kind: str) -> bool:
        return self.kind is None or self.kind == kind


def parse_outbound_limits(raw: str | None, setting: str = "OUTBOUND_LIMITS") -> tuple[Rule, ...]:
    """The rules OUTBOUND_LIMITS sets (the default when unset); empty when `off`."""
    text = DEFAULT_OUTBOUND_LIMITS if raw is None or not raw.strip() else raw.strip()
    if text.lower() == "off":
        return ()
    rules: list[Rule] = []
    seen: set[tuple[str | None, str, int]] = set()
    for clause in (part.strip() for part in text.split(";")):
        if not clause:
            continue
        head, sep, limits = clause.partition("=")
        if not sep:
            raise LimitsConfigError(
                f"{setting}: {clause!r} is not [<kind>:]<scope>=<count>/<window> (e.g. sms:per_to=10/1h)"
            )
        kind, colon, scope = head.strip().rpartition(":")
        kind = kind.strip().lower() if colon else ""
        scope = scope.strip().lower()
        if colon and kind not in KINDS:
            raise LimitsConfigError(f"{setting}: {kind!r} is no kind; use {' or '.join(KINDS)}, or none for both")
        if scope not in SCOPES:
            raise LimitsConfigError(f"{setting}: {scope!r} is no scope; use {' or '.join(SCOPES)}")
        for limit in (part.strip() for part in limits.split(",")):
            match = _LIMIT.match(limit)
            if not match:
                raise LimitsConfigError(f"{setting}: {limit!r} is not <count>/<window> (e.g. 10/1h, 30/24h, 5/90s)")
            count, amount, unit = int(match.group(1)), int(match.group(2)), match.group(3)
            window = amount * _UNITS[unit]
            if count > MAX_COUNT or window > MAX_WINDOW_SECONDS:
                raise LimitsConfigError(f"{setting}: {limit!r} is too large (at most {MAX_COUNT} per 366d)")
            key = (kind or None, scope, window)
            if key in seen:
                raise LimitsConfigError(f"{setting}: two limits for {head.strip()} over {amount}{unit}")
            seen.add(key)
            rules.append(Rule(kind or None, scope, count, window, f"{amount}{unit}"))
    if not rules:
        raise LimitsConfigError(f"{setting}: no limits given; write `off` to send without caps")
    return tuple(rules)


def rules_for(rules: Iterable[Rule], kind: str) -> tuple[Rule, ...]:
    return tuple(rule for rule in rules if rule.applies(kind))


# -- the counting rule: one counter per rule and subject, a fixed window opened by its first count ----------


@dataclass(frozen=True)
class Window:
    """A counter as stored: when its window opened (epoch seconds) and how many it counted since."""

    start: float
    used: int


def current(window: Window | None, rule: Rule, now: float) -> Window:
    """The counter at `now`: a window that has run out (or none yet) is an empty one opening now."""
    if window is None or now >= window.start + rule.window_seconds or now < window.start - rule.window_seconds:
        return Window(now, 0)  # (a start far in the future is a clock that jumped: start again)
    return window


def has_room(window: Window | None, rule: Rule, now: float) -> bool:
    return current(window, rule, now).used < rule.count


def counted(window: Window | None, rule: Rule, now: float) -> Window:
    """The counter after counting one more request at `now` (the caller checked `has_room`)."""
    now_window = current(window, rule, now)
    return Window(now_window.start, now_window.used + 1)


def retry_after(window: Window | None, rule: Rule, now: float) -> float:
    """Seconds until `rule` has room again (0 if it has now)."""
    if has_room(window, rule, now):
        return 0.0
    assert window is not None  # a full window exists
    return max(0.0, window.start + rule.window_seconds - now)


def reason(rule: Rule) -> str:
    """The rejected record's reason."""
    return f"limit:{rule.name}"
