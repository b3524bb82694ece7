"""conference: `Name`, `Password` (gathered, at least 3 digits, bounded retries), `Moderators[]`, `Music`, `Message`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from twilio.twiml.voice_response import VoiceResponse

from switchboard.shared.text import clip
from switchboard.shared.urls import URL_LIMIT, is_http_url
from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import BadParameter, Call, log, looks_like_audio_path

PASSWORD = "password"  # noqa: S105 - a stage name, not a secret
MAX_ATTEMPTS = 3
WELCOME = "You are now entering the conference line."
PROMPT = "Please enter your conference pass code."
WRONG = "That password is not correct."
REFUSED = "Sorry, that password is not correct. Goodbye."
# Twilio's public hold-music collections, as its own conference twimlet and <Conference>'s default waitUrl use them.
GENRES = frozenset({"classical", "ambient", "electronica", "guitars", "rock", "soft-rock"})
GENRE_URL = "https://twimlets.com/holdmusic?Bucket=com.twilio.music.{genre}"
_PASSWORD = re.compile(r"^\d{3,20}$")
_NAME_LIMIT = 128
_MUSIC_LOGGED = 80  # characters of an unknown Music value the log shows


def conference(call: Call) -> VoiceResponse:
    password = call.get("Password")
    if password is not None and not _PASSWORD.match(password):
        raise BadParameter("Password must be 3 to 20 digits")
    moderators = call.phones("Moderators")
    name = call.get("Name") or room_name(call.get("Message"), moderators, password)
    if len(name) > _NAME_LIMIT:
        raise BadParameter(f"Name is longer than {_NAME_LIMIT} characters")
    wait_url = music_url(call, call.get("Music"))
    if password:
        attempt = call.counter("Attempt", 1)
        if call.stage != PASSWORD:
            return _prompt(call, VoiceResponse(), 1, password)
        if call.request_field("Digits") != password:
            response = VoiceResponse()
            if attempt >= MAX_ATTEMPTS:
                response.say(REFUSED)
                response.hangup()
                return response
            response.say(WRONG)
            return _prompt(call, response, attempt + 1, password)
    response = VoiceResponse()
    message = call.get("Message")
    say_or_play(response, call.audio_or_text(message) if message else WELCOME)
    attributes: dict[str, object] = {}
    if moderators:
        # From, or To on a call the account placed (a moderator reached by an outbound call); never a chosen To.
        is_moderator = bool(call.caller_numbers() & set(moderators))
        attributes["start_conference_on_enter"] = is_moderator
        if is_moderator:
            attributes["end_conference_on_exit"] = True
    if wait_url:
        attributes.update(wait_url=wait_url, wait_method="GET")
    response.dial().conference(name, **attributes)
    return response


def music_url(call: Call, music: str | None) -> str | None:
    """A genre maps to Twilio's hold music; a URL (our own /api/twiml/holdmusic, an mp3) is used as is.

    A relative URL (`holdmusic?Container=lobby`, `/music/lobby.mp3`) is resolved against the request.
    Anything else (`jazz`: a bare word, neither a genre nor a URL) leaves waitUrl out, so Twilio plays
    its default hold music, as on twimlets.com; resolving it would point Twilio at /api/twiml/jazz (404).
    """
    if music is None:
        return None
    if music.lower() in GENRES:
        return GENRE_URL.format(genre=music.lower())
    if is_http_url(music.strip()):
        return music
    if _is_relative_url(music):
        resolved = call.resolve(music)
        if is_http_url(resolved):
            return resolved
    # The value is configuration, not a number: named (clipped, repr'd so that it cannot forge log lines).
    log.warning(
        "Music %r is neither a URL nor one of %s; using the default hold music",
        clip(music, _MUSIC_LOGGED), ", ".join(sorted(GENRES)),
    )  # fmt: skip
    return None


def _is_relative_url(value: str) -> bool:
    """A path or query (`/music/a.mp3`, `holdmusic?Container=lobby`, `lobby.mp3`), not a bare word like `jazz`."""
    text = value.strip()
    if not text or any(c.isspace() for c in text) or len(text) > URL_LIMIT or urlsplit(text).scheme:
        return False
    return "/" in text or "?" in text or looks_like_audio_path(text)


def room_name(message: str | None, moderators: list[str], password: str | None) -> str:
    """A stable room for an unnamed conference, from its configuration (twimlets.com hashed Message + Moderators).

    The password is part of it, so two lines that differ only in their password never share a room.
    """
    import hashlib

    material = "\n".join([message or "", ",".join(moderators), password or ""])
    return "conference-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:24]


def _prompt(call: Call, response: VoiceResponse, attempt: int, password: str) -> VoiceResponse:
    # actionOnEmptyResult: silence comes back as a wrong attempt, so retries stay bounded.
    # numDigits as on twimlets.com: the code is taken as soon as it is complete (no "#" needed).
    gather = response.gather(
        action=call.self_url(Stage=PASSWORD, Attempt=attempt),
        finish_on_key="#",
        num_digits=len(password),
        timeout=10,
        action_on_empty_result=True,
    )
    gather.say(PROMPT)
    return response
