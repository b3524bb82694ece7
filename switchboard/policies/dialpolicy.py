"""Where forward, simulring and findme may dial: the toll-fraud allow-list.

A signed twimlet URL that leaks (a log, a screenshot, a shared config) must not turn the
app into a dial-out service for premium-rate numbers. `FORWARD_ALLOWED_DESTINATIONS` lists
what may be dialled: exact E.164 numbers (`+15558675310`) or prefixes ending in `*`
(`+1555*`, `+31*`). A bare `*` is refused on purpose: name the countries you call.
When the setting is unset only `VOICE_FORWARD_TO` (if set) may be dialled. A prefix never allows a
premium-rate or shared-cost number (`+1*` does not open `+1 900`): list such a number exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from switchboard.shared.phones import DEFAULT_COUNTRY, E164_PREFIX, costly_type, is_e164, to_e164


@dataclass(frozen=True)
class DialPolicy:
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    # False when FORWARD_ALLOWED_DESTINATIONS is unset and the fallback applies.
    configured: bool = False

    @classmethod
    def parse(
        cls, text: str | None, fallback: Iterable[str | None] = (), default_country: str = DEFAULT_COUNTRY
    ) -> DialPolicy:
        """Parse the setting; raise ValueError naming the first bad entry. Numbers may be national (415-555-1212)."""
        if not text or not text.strip():
            numbers = (to_e164(n, default_country) for n in fallback)
            return cls(exact=frozenset(n for n in numbers if n is not None), configured=False)
        exact: set[str] = set()
        prefixes: list[str] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            if entry.endswith("*") and E164_PREFIX.fullmatch(entry[:-1]):
                prefixes.append(entry[:-1])
            elif (number := to_e164(entry, default_country)) is not None:
                exact.add(number)
            else:
                raise ValueError(
                    f"{entry!r} is neither an E.164 number (+15558675310) nor a prefix ending in * (+1555*)"
                )
        return cls(exact=frozenset(exact), prefixes=tuple(prefixes), configured=True)

    def allows(self, number: str | None) -> bool:
        if number is None or not is_e164(number):
            return False
        if number in self.exact:
            return True
        if not any(number.startswith(prefix) for prefix in self.prefixes):
            return False
        # As for outbound: a prefix (`+1*`) never opens premium-rate or shared-cost numbers; list them exactly.
        # costly_type loads phonenumbers only now, when a prefix matched: never at cold start.
        return costly_type(number) is None
