"""Pieces shared by every voice flow."""

from __future__ import annotations

from typing import TypeVar

from twilio.twiml.voice_response import Gather, VoiceResponse

# Gather nests Say and Play like a response does (menus, password prompts).
Speaker = TypeVar("Speaker", VoiceResponse, Gather)

# Twilio's documented limits: <Say> text is cut at 4,096 characters, an SMS body at 1,600.
SAY_LIMIT = 4096
SMS_LIMIT = 1600
URL_LIMIT = 2048
APOLOGY = "Sorry, we cannot take your call right now. Goodbye."


def is_http_url(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered.startswith(("http://", "https://")) and len(value) <= URL_LIMIT and " " not in value.strip()


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def say_or_play(
    response: Speaker, text_or_url: str, *, voice: str | None = None, language: str | None = None
) -> Speaker:
    """An http(s) value is played; anything else is spoken (as twimlets.com did)."""
    if is_http_url(text_or_url):
        response.play(text_or_url.strip())
    else:
        attributes = {key: value for key, value in (("voice", voice), ("language", language)) if value}
        response.say(clip(text_or_url, SAY_LIMIT), **attributes)
    return response


def apology(reason: str = APOLOGY) -> VoiceResponse:
    """What a caller hears when something is wrong: a polite sentence, then the call ends."""
    response = VoiceResponse()
    response.say(reason)
    response.hangup()
    return response
