"""menu: `Message` (said or played), `Options[<digits>]=<url>`; a miss repeats, at most MAX_LOOPS times."""

from __future__ import annotations

import re

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import BadParameter, Call

CHOICE = "choice"
MAX_LOOPS = 3
MISS = "Sorry, that is not a valid option."
GOODBYE = "Goodbye."
_KEY = re.compile(r"^[0-9*#]{1,10}$")


def menu(call: Call) -> VoiceResponse:
    options = _options(call)
    loop = call.counter("Loop", 1)
    response = VoiceResponse()
    if call.stage == CHOICE:
        target = options.get(call.request_field("Digits") or "")
        if target:
            response.redirect(target)
            return response
        response.say(MISS)
        loop += 1
    if loop > MAX_LOOPS:
        response.say(GOODBYE)
        response.hangup()
        return response
    gather = response.gather(num_digits=max(len(key) for key in options), action=call.self_url(Stage=CHOICE, Loop=loop))
    message = call.get("Message")
    if message:
        say_or_play(gather, call.audio_or_text(message))
    # No key pressed: Twilio goes on to the next verb, which counts as a miss.
    response.redirect(call.self_url(Stage=CHOICE, Loop=loop))
    return response


def _options(call: Call) -> dict[str, str]:
    options = {key: url.strip() for key, url in call.query.indexed("Options").items() if url.strip()}
    if not options:
        raise BadParameter("menu needs at least one Options[<digits>]=<url>")
    for key in options:
        if not _KEY.match(key):
            raise BadParameter(f"Options[{key[:12]}] is not a key of digits")
    # Relative targets (`Options[1]=voicemail?...`) resolve against this request's URL, as Twilio would.
    return {key: call.checked_url(url, f"Options[{key}]") for key, url in options.items()}
