"""message: `Message`, `Message[]` or `Message[0]`...: each URL (or relative audio file) is played, the rest said."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import Call


def message(call: Call) -> VoiceResponse:
    """twimlets.com/message: `Message`, `Message[]` or `Message[0]`...; each URL is played, text is said."""
    response = VoiceResponse()
    voice, language = call.get("Voice"), call.get("Language")
    for item in call.query.list_param("Message"):
        if item.strip():
            say_or_play(response, call.audio_or_text(item), voice=voice, language=language)
    return response
