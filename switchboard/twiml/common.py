"""Pieces shared by every voice flow."""

from __future__ import annotations

from typing import TypeVar

from twilio.twiml.voice_response import Gather, VoiceResponse

from switchboard.shared.text import SAY_LIMIT, clip
from switchboard.shared.urls import is_http_url

# Gather nests Say and Play like a response does (menus, password prompts).
Speaker = TypeVar("Speaker", VoiceResponse, Gather)

APOLOGY = "Sorry, we cannot take your call right now. Goodbye."


def say_or_play(
    response: Speaker, text_or_url: str, *, voice: str | None = None, language: str | None = None
) -> Speaker:
    """An http(s) value is played; anything else is spoken (as twimlets.com did)."""
    if is_http_url(text_or_url.strip()):
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
