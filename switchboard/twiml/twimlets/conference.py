"""conference: `Name`, `Password` (gathered, at least 3 digits, bounded retries), `Moderators[]`, `Music`, `Message`."""

from __future__ import annotations

import re

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import is_http_url, say_or_play
from switchboard.twiml.twimlets.base import BadParameter, Call

PASSWORD = "password"  # noqa: S105 - a stage name, not a secret
MAX_ATTEMPTS = 3
WELCOME = "You are now entering the conference."
PROMPT = "Please enter the conference password, then press the pound key."
WRONG = "That password is not correct."
REFUSED = "Sorry, that password is not correct. Goodbye."
# Twilio's public hold-music collections, as its own conference twimlet and <Conference>'s default waitUrl use them.
GENRES = frozenset({"classical", "ambient", "electronica", "guitars", "rock", "soft-rock"})
GENRE_URL = "https://twimlets.com/holdmusic?Bucket=com.twilio.music.{genre}"
_PASSWORD = re.compile(r"^\d{3,20}$")
_NAME_LIMIT = 128


def conference(call: Call) -> VoiceResponse:
    name = call.get("Name") or "conference"
    if len(name) > _NAME_LIMIT:
        raise BadParameter(f"Name is longer than {_NAME_LIMIT} characters")
    password = call.get("Password")
    if password is not None and not _PASSWORD.match(password):
        raise BadParameter("Password must be 3 to 20 digits")
    moderators = call.phones("Moderators")
    wait_url = music_url(call.get("Music"))
    if password:
        attempt = call.counter("Attempt", 1)
        if call.stage != PASSWORD:
            return _prompt(call, VoiceResponse(), 1)
        if call.get("Digits") != password:
            response = VoiceResponse()
            if attempt >= MAX_ATTEMPTS:
                response.say(REFUSED)
                response.hangup()
                return response
            response.say(WRONG)
            return _prompt(call, response, attempt + 1)
    response = VoiceResponse()
    say_or_play(response, call.get("Message") or WELCOME)
    attributes: dict[str, object] = {}
    if moderators:
        is_moderator = call.get("From") in moderators
        attributes["start_conference_on_enter"] = is_moderator
        if is_moderator:
            attributes["end_conference_on_exit"] = True
    if wait_url:
        attributes.update(wait_url=wait_url, wait_method="GET")
    response.dial().conference(name, **attributes)
    return response


def music_url(music: str | None) -> str | None:
    """A genre maps to Twilio's hold music; a URL (our own /api/twiml/holdmusic, an mp3) is used as is."""
    if music is None:
        return None
    if music.lower() in GENRES:
        return GENRE_URL.format(genre=music.lower())
    if is_http_url(music):
        return music
    raise BadParameter(f"Music must be a URL or one of {', '.join(sorted(GENRES))}")


def _prompt(call: Call, response: VoiceResponse, attempt: int) -> VoiceResponse:
    # actionOnEmptyResult: silence comes back as a wrong attempt, so retries stay bounded.
    gather = response.gather(
        action=call.self_url(Stage=PASSWORD, Attempt=attempt),
        finish_on_key="#",
        timeout=10,
        action_on_empty_result=True,
    )
    gather.say(PROMPT)
    return response
