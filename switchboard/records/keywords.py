"""Pure: Twilio's standard opt-out, opt-in and help keywords.

Twilio answers these itself (and blocks further messages after STOP), so the app records
the opt-out for its own outbound checks but sends no reply of its own.
"""

from __future__ import annotations

from typing import Literal

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def opt_keyword(body: str | None) -> Literal["stop", "start", "help"] | None:
    """The keyword a whole message is, ignoring case, surrounding space and trailing punctuation."""
    word = (body or "").strip().rstrip(".!").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
