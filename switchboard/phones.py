"""Phone numbers: E.164 checks and masking for logs."""

from __future__ import annotations

import re

# ASCII digits only, and no trailing newline (`$` would allow one).
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# Numbers as they show up in free text: every run of 7-15 digits, with or without "+", or after a
# URL escape (`%2B`, `%252B` double-encoded, `%3D`...). Not masked, so ids and times stay readable:
# runs glued to letters or other digits (SIDs, hex ids, 16-digit row keys), and decimals (`0.1234567`).
# Knowingly masked too: bare epoch seconds and all-digit GUID groups; a masked id costs less than a leaked number.
_NUMBER_IN_TEXT = re.compile(
    # after a URL escape (single or double-encoded), or not glued to a word
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<=%25[0-9A-Fa-f]{2})|(?<![0-9A-Za-z_]))(?<!\d\.)"
    r"\d{7,15}"
    r"(?![0-9A-Za-z_])(?!\.\d)"
)


def is_e164(value: object) -> bool:
    return isinstance(value, str) and bool(E164.fullmatch(value))


def mask(number: str) -> str:
    """`+15558675310` -> `+1555***5310`: enough to tell numbers apart, not to dial them.

    Shorter numbers show less: at most a quarter of their digits at each end, so at least half is hidden.
    """
    return "+" + _mask_digits(number.lstrip("+"))


def _mask_digits(digits: str) -> str:
    if len(digits) <= 6:
        return "*" * len(digits)
    shown = 4 if len(digits) >= 11 else len(digits) // 4
    return digits[:shown] + "***" + digits[-shown:]


def mask_in_text(text: str) -> str:
    return _NUMBER_IN_TEXT.sub(lambda m: _mask_digits(m.group(0)), text)
