"""holdmusic: `Url[]` (a playlist), `Container` (an Azure Blob container) or `Bucket` (Twilio's music), `Message`,
`Shuffle` (true); loops."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from switchboard.shared.urls import is_http_url
from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import AUDIO_EXTENSIONS, BadParameter, Call

MAX_TRACKS = 50
TWIMLETS_HOLDMUSIC = "https://twimlets.com/holdmusic"
TWILIO_BUCKET_PREFIX = "com.twilio.music."
TWILIO_GENRES = frozenset({"ambient", "classical", "electronica", "guitars", "newage", "rock", "soft-rock"})


def holdmusic(call: Call) -> VoiceResponse:
    urls = [call.resolve(url.strip()) for url in call.query.list_param("Url") if url.strip()]
    container = call.get("Container")
    bucket = call.get("Bucket")
    if sum(1 for given in (urls, container, bucket) if given) > 1:
        raise BadParameter("give one of Url[], Container or Bucket")
    if bucket:
        return _twilio_bucket(call, bucket)
    if container:
        urls = list(_container(call, container))
    if not urls:
        raise BadParameter("holdmusic needs Url[] or a Container holding audio files")
    for url in urls:
        if not is_http_url(url.strip()):
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


def _twilio_bucket(call: Call, bucket: str) -> VoiceResponse:
    """twimlets.com's `Bucket` lists an S3 bucket; Twilio's own music buckets are played by twimlets.com itself.

    (The same hold music <Conference> uses by default.) Other S3 buckets are not listed from here:
    put the files in a Blob container (`Container`) or list them (`Url[]`).
    """
    genre = bucket.removeprefix(TWILIO_BUCKET_PREFIX)
    if not bucket.startswith(TWILIO_BUCKET_PREFIX) or genre not in TWILIO_GENRES:
        raise BadParameter("Bucket must be one of Twilio's music buckets (com.twilio.music.<genre>)")
    pairs = [("Bucket", bucket)]
    message = call.get("Message")
    if message:
        pairs.append(("Message", message))
    response = VoiceResponse()
    response.redirect(f"{TWIMLETS_HOLDMUSIC}?{urlencode(pairs)}", method="GET")
    return response


def is_audio(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS)


def _container(call: Call, container: str) -> list[str]:
    if container not in call.config.holdmusic_containers:
        raise BadParameter("Container is not listed in HOLDMUSIC_CONTAINERS")
    if call.list_audio is None:
        raise BadParameter("Container needs blob storage, which is not wired")
    return list(call.list_audio(container))
