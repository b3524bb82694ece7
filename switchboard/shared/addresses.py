"""Pure: e-mail addresses, the one place their shape is spelled, and how they are shown in logs.

Settings (`EMAIL_FROM`), the voicemail twimlet's `Email` and the mail worker check addresses the same way.
"""

from __future__ import annotations

import re

# A practical address check (RFC 5321 lengths, one @, no spaces, quotes or line breaks): enough to
# refuse header injection and typos, without claiming to parse every address RFC 5322 allows.
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


def is_address(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 254 and bool(_ADDRESS.fullmatch(value))


def mask_address(address: str) -> str:
    """`alice@example.com` -> `***@example.com`."""
    return "***@" + address.rpartition("@")[2] if "@" in address else "***"
