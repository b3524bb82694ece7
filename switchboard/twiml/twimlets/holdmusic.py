"""holdmusic: `Url[]` (a playlist) or `Container` (an Azure Blob container), `Message`, `Shuffle` (true); loops."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import is_http_url, say_or_play
from switchboard.twiml.twimlets.base import AUDIO_EXTENSIONS, BadParameter, Call

MAX_TRACKS = 50


def holdmusic(call: Call) -> VoiceResponse:
    urls = [call.resolve(url.strip()) for url in call.query.list_param("Url") if url.strip()]
    container = call.get("Container")
    if urls and container:
        raise BadParameter("give Url[] or Container, not both")
    if container:
        urls = list(_container(call, container))
    if not urls:
        raise BadParameter("holdmusic needs Url[] or a Container holding audio files")
    for url in urls:
        if not is_http_url(url):
            raise BadParameter("Url[] holds a value that is not an http(s) URL")
    if call.flag("Shuffle", True):
        call.rng.shuffle(urls)
    message = call.get("Message")
    message = call.audio_or_text(message) if message else None
    response = VoiceResponse()
    for url in urls[:MAX_TRACKS]:
        response.play(url)
        if message:
            say_or_play(response, message)
    # Fetching the route again reshuffles (and relists the container), so the music never ends.
    response.redirect(call.self_url())
    return response


def is_audio(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS)


def _container(call: Call, container: str) -> list[str]:
    if container not in call.config.holdmusic_containers:
        raise BadParameter("Container is not listed in HOLDMUSIC_CONTAINERS")
    if call.list_audio is None:
        raise BadParameter("Container needs blob storage, which is not wired")
    return list(call.list_audio(container))
