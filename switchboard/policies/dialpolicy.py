"""Where forward, simulring and findme may dial: the toll-fraud allow-list.

A signed twimlet URL that leaks (a log, a screenshot, a shared config) must not turn the
app into a dial-out service for premium-rate numbers. `FORWARD_ALLOWED_DESTINATIONS` lists
what may be dialled: exact E.164 numbers (`+15558675310`) or prefixes ending in `*`
(`+1555*`, `+31*`). A bare `*` is refused on purpose: name the countries you call.
When the setting is unset only `VOICE_FORWARD_TO` (if set) may be dialled. A prefix never allows a
premium-rate or shared-cost number (`+1*` does not open `+1 900`): list such a number exactly.
A prefix of a calling code several countries share opens only that code's main countries: `+1*` (or `+18*`,
short of a full area code) is the US and Canada, never Jamaica, the Dominican Republic or the BVI; `+7*` is
Russia, not Kazakhstan. Name the others by a longer prefix (`+1876*`, `+77*`) or exactly. The outbound policy
(`OUTBOUND_ALLOWED_DESTINATIONS`) matches prefixes through the same `prefix_opens`.
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
        if not any(prefix_opens(prefix, number) for prefix in self.prefixes):
            return False
        # As for outbound: a prefix (`+1*`) never opens premium-rate or shared-cost numbers; list them exactly.
        # costly_type loads phonenumbers only now, when a prefix matched: never at cold start.
        return costly_type(number) is None


# Calling codes shared by several countries whose main countries are more than phonenumbers' one main region.
_MAIN_REGIONS = {1: frozenset({"US", "CA"})}
# Digits after the calling code that name a place: a NANP area code has three.
_NAMING_DIGITS = {1: 3}


def prefix_opens(prefix: str, number: str) -> bool:
    """True when the `*` prefix (without its star) opens the E.164 `number`.

    A prefix that stops short of naming a place inside a shared calling code opens only the code's main
    countries (by phonenumbers' region of the number). phonenumbers is loaded only when the prefix matched.
    """
    if not number.startswith(prefix):
        return False
    import phonenumbers

    from switchboard.shared.phones import region_of

    try:
        code = phonenumbers.parse(number, None).country_code or 0
    except phonenumbers.NumberParseException:
        return False
    regions = phonenumbers.region_codes_for_country_code(code)
    if len(regions) <= 1:
        return True
    if len(prefix) - 1 - len(str(code)) >= _NAMING_DIGITS.get(code, 1):
        return True
    main = _MAIN_REGIONS.get(code) or frozenset({phonenumbers.region_code_for_country_code(code)})
    return region_of(number) in main
