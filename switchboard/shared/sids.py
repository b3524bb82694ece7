"""Pure: Twilio SIDs in their documented shapes (two letters, then 32 hex digits). The only place they are spelled.

Calls are `CA…`, messages `SM…` (or `MM…` for an MMS), recordings `RE…`, message media `ME…`,
Messaging Services `MG…`, Content templates `HX…`. Twilio's signature concatenates each form key and value without a
separator, so a captured request can be re-split (`RecordingSid=RE…` absorbing `RecordingStatus=completed`)
and still carry a valid signature. A value that must fullmatch its shape cannot absorb a neighbour:
everything de-duplicated or keyed on a SID checks the shape first.
"""

from __future__ import annotations

import re


def _shape(*prefixes: str) -> re.Pattern[str]:
    return re.compile(f"(?:{'|'.join(prefixes)})[0-9a-fA-F]{{32}}")


CALL = _shape("CA")
MESSAGE = _shape("SM", "MM")
RECORDING = _shape("RE")
MEDIA = _shape("ME")
MESSAGING_SERVICE = _shape("MG")
CONTENT = _shape("HX")


def is_call_sid(value: object) -> bool:
    return isinstance(value, str) and CALL.fullmatch(value) is not None


def is_message_sid(value: object) -> bool:
    return isinstance(value, str) and MESSAGE.fullmatch(value) is not None


def is_recording_sid(value: object) -> bool:
    return isinstance(value, str) and RECORDING.fullmatch(value) is not None


def is_media_sid(value: object) -> bool:
    return isinstance(value, str) and MEDIA.fullmatch(value) is not None


def is_messaging_service_sid(value: object) -> bool:
    return isinstance(value, str) and MESSAGING_SERVICE.fullmatch(value) is not None


def is_content_sid(value: object) -> bool:
    """A Content template (Content API / Template Builder): `HX` and 32 hex digits."""
    return isinstance(value, str) and CONTENT.fullmatch(value) is not None


def is_sid_of(kind: str, value: object) -> bool:
    """A call SID for kind "call", a message SID for "sms"."""
    return is_call_sid(value) if kind == "call" else is_message_sid(value)
