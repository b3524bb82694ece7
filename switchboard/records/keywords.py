"""Pure: Twilio's standard opt-out, opt-in and help keywords.

Twilio answers these itself (and blocks further messages after STOP), so the app records
the opt-out for its own outbound checks but sends no reply of its own.
"""

from __future__ import annotations

from typing import Literal

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def opt_keyword(body: str | None, opt_out_type: str | None = None) -> Literal["stop", "start", "help"] | None:
    """The keyword a whole message is, ignoring case, surrounding space and trailing punctuation.

    Twilio's own verdict, the webhook's `OptOutType` (STOP, START, HELP: Advanced Opt-Out, any language,
    e.g. "ARRET"), is authoritative over the word list when present (issue 24).
    """
    verdict = (opt_out_type or "").strip().upper()
    if verdict in ("STOP", "START", "HELP"):
        return "stop" if verdict == "STOP" else "start" if verdict == "START" else "help"
    word = (body or "").strip().rstrip(".!").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
