"""Pure: Twilio SIDs in their documented shapes (two letters, then 32 hex digits).

Twilio's signature concatenates each form key and value without a separator, so a captured
request can be re-split (`RecordingSid=RE…` absorbing `RecordingStatus=completed`) and still
carry a valid signature. A value that must fullmatch its shape cannot absorb a neighbour:
everything de-duplicated or keyed on a SID checks the shape first.
"""

from __future__ import annotations

import re

CALL = re.compile(r"CA[0-9a-fA-F]{32}")
MESSAGE = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
RECORDING = re.compile(r"RE[0-9a-fA-F]{32}")


def is_call_sid(value: object) -> bool:
    return isinstance(value, str) and CALL.fullmatch(value) is not None


def is_message_sid(value: object) -> bool:
    return isinstance(value, str) and MESSAGE.fullmatch(value) is not None


def is_recording_sid(value: object) -> bool:
    return isinstance(value, str) and RECORDING.fullmatch(value) is not None


def is_sid_of(kind: str, value: object) -> bool:
    """A call SID for kind "call", a message SID for "sms"."""
    return is_call_sid(value) if kind == "call" else is_message_sid(value)
