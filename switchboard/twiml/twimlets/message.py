"""Self-hosted Twimlets: the same parameters as twimlets.com, answered from the user's own app."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import say_or_play
from switchboard.webhooks.request import Params


def message(params: Params) -> VoiceResponse:
    """twimlets.com/message: `Message`, `Message[]` or `Message[0]`...; each URL is played, text is said."""
    response = VoiceResponse()
    voice, language = params.get("Voice"), params.get("Language")
    for item in params.list_param("Message"):
        if item.strip():
            say_or_play(response, item, voice=voice, language=language)
    return response
