"""Phone numbers: E.164 checks and masking for logs."""

from __future__ import annotations

import re

# ASCII digits only, and no trailing newline (`$` would allow one).
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# Numbers as they show up in free text: E.164, or its URL-encoded form in query strings.
_NUMBER_IN_TEXT = re.compile(r"(\+|%2[Bb])([1-9]\d{6,14})\b")


def is_e164(value: object) -> bool:
    return isinstance(value, str) and bool(E164.fullmatch(value))


def mask(number: str) -> str:
    """`+15558675310` -> `+1555***5310`: enough to tell numbers apart, not to dial them."""
    digits = number.lstrip("+")
    if len(digits) <= 6:
        return "+" + "*" * len(digits)
    return "+" + digits[:4] + "***" + digits[-4:]


def mask_in_text(text: str) -> str:
    return _NUMBER_IN_TEXT.sub(lambda m: m.group(1) + mask(m.group(2))[1:], text)
