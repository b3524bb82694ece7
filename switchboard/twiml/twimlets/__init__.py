"""Self-hosted Twimlets: the same parameters as twimlets.com, answered from the user's own app.

Each twimlet is a pure function of a `Call` (parameters, signed URL, settings, injected I/O).
Misconfigured parameters raise `BadParameter`: the caller hears a polite apology and the
reason goes to the log, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from twilio.twiml import TwiML

from switchboard.twiml.common import apology
from switchboard.twiml.twimlets.base import BadParameter, Call, TwimletConfig, VoicemailEvent, VoicemailSink, log
from switchboard.twiml.twimlets.conference import conference
from switchboard.twiml.twimlets.dialing import callme, findme, forward, simulring, whisper
from switchboard.twiml.twimlets.echo import echo
from switchboard.twiml.twimlets.holdmusic import holdmusic
from switchboard.twiml.twimlets.menu import menu
from switchboard.twiml.twimlets.message import message
from switchboard.twiml.twimlets.voicemail import voicemail

__all__ = [
    "GET_SAFE",
    "TWIMLETS",
    "BadParameter",
    "Call",
    "TwimletConfig",
    "VoicemailEvent",
    "VoicemailSink",
    "answer",
    "is_served",
    "message",
]

MISCONFIGURED = "Sorry, this number is not set up correctly. Goodbye."
# On GET, Twilio puts its parameters, and a Voice SDK client's own `params`, into the signed query the
# configuration is read from: a caller could add `FailUrl`, `Name`, `Options[…]`, `Twiml`. Only the twimlets
# that do nothing but say or play something to that same caller take GET (Twilio fetches a Conference's
# waitUrl, and the Bucket redirect, with GET); every other twimlet must be configured with POST.
GET_SAFE = frozenset({"message", "holdmusic"})
GET_REFUSED = (
    "was requested with GET: configure it with HTTP POST (on GET the caller's parameters share the query "
    "the configuration is read from)"
)

TWIMLETS: dict[str, Callable[[Call], TwiML]] = {
    "message": message,
    "forward": forward,
    "callme": callme,
    "simulring": simulring,
    "findme": findme,
    "whisper": whisper,
    "menu": menu,
    "voicemail": voicemail,
    "conference": conference,
    "holdmusic": holdmusic,
    "echo": echo,
}


def is_served(name: str, config: TwimletConfig) -> bool:
    """Unknown names, and echo while TWIML_ECHO_ENABLED is off, are 404s."""
    return name in TWIMLETS and (name != "echo" or config.echo_enabled)


def answer(name: str, call: Call) -> TwiML:
    try:
        if call.method == "GET" and name not in GET_SAFE:
            raise BadParameter(GET_REFUSED)
        return TWIMLETS[name](call)
    except BadParameter as reason:
        log.warning("Twimlet %s refused its parameters: %s", name, reason)
        return apology(MISCONFIGURED)
