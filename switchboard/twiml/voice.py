"""The default inbound call flow, driven by app settings."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import VoiceResponse

from switchboard.phones import is_e164
from switchboard.settings import Settings
from switchboard.twiml.common import say_or_play

DEFAULT_GREETING = "Thank you for calling. Nobody can take your call right now. Goodbye."


@dataclass(frozen=True)
class VoiceConfig:
    greeting: str | None = None
    forward_to: str | None = None
    forward_timeout: int = 20
    blocklist: frozenset[str] = frozenset()
    caller_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceConfig:
        return cls(
            greeting=settings.voice_greeting,
            forward_to=settings.voice_forward_to,
            forward_timeout=settings.voice_forward_timeout,
            blocklist=settings.voice_blocklist,
            caller_id=settings.phone_number,
        )


def incoming_call(caller: str | None, called: str | None, config: VoiceConfig) -> VoiceResponse:
    response = VoiceResponse()
    if caller and caller in config.blocklist:
        response.reject()
        return response
    if config.greeting:
        say_or_play(response, config.greeting)
    if config.forward_to:
        # Show the callee who is calling when Twilio allows it (a real number), else our own.
        caller_id = caller if is_e164(caller) else (called if is_e164(called) else config.caller_id)
        attributes = {"callerId": caller_id} if caller_id else {}
        response.dial(config.forward_to, timeout=config.forward_timeout, **attributes)
        return response
    if not config.greeting:
        response.say(DEFAULT_GREETING)
    response.hangup()
    return response
