"""forward, simulring, findme and whisper: the twimlets that dial out."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import Call, log

DIAL_RESULT = "dial-result"
HUMAN_CHECKED = "human-check"
REFUSED_CALLER = "Sorry, you are not allowed to call this number. Goodbye."
ACCEPT_PROMPT = "Press any key to accept this call."
ANSWERED = frozenset({"completed", "answered"})


def forward(call: Call) -> VoiceResponse:
    """`PhoneNumber`, `CallerId`, `Timeout` (20), `FailUrl`, `AllowedCallers[]`."""
    fail_url = call.url("FailUrl")
    if call.stage == DIAL_RESULT:
        return after_dial(call.get("DialCallStatus"), fail_url)
    number = call.destinations([call.phone("PhoneNumber", required=True) or ""])[0]
    caller_id = call.phone("CallerId")
    timeout = call.integer("Timeout", 20, 5, 600)
    allowed = call.phones("AllowedCallers")
    caller = call.get("From")
    if allowed and caller not in allowed:
        log.warning("forward refused a caller not in AllowedCallers")
        response = VoiceResponse()
        response.say(REFUSED_CALLER)
        response.hangup()
        return response
    return dial([number], call.self_url(Stage=DIAL_RESULT), timeout, caller_id=caller_id)


def simulring(call: Call) -> VoiceResponse:
    """`PhoneNumbers[]` rung at once, `Timeout` (20), `Message` whispered to the callee, `FailUrl`."""
    fail_url = call.url("FailUrl")
    if call.stage == DIAL_RESULT:
        return after_dial(call.get("DialCallStatus"), fail_url)
    numbers = call.destinations(call.phones("PhoneNumbers", required=True))
    timeout = call.integer("Timeout", 20, 5, 600)
    whisper_url = _whisper_url(call, human_check=False)
    return dial(numbers, call.self_url(Stage=DIAL_RESULT), timeout, whisper_url=whisper_url)


def findme(call: Call) -> VoiceResponse:
    """`PhoneNumbers[]` rung one after another, `Timeout` (60), `Message`, `FailUrl`; callees press a key."""
    fail_url = call.url("FailUrl")
    numbers = call.destinations(call.phones("PhoneNumbers", required=True))
    timeout = call.integer("Timeout", 60, 5, 600)
    index = 0
    if call.stage == DIAL_RESULT:
        status = call.get("DialCallStatus")
        if status in ANSWERED:
            return _hangup()
        index = call.counter("Index", 0) + 1
        if index >= len(numbers):
            return after_dial(status, fail_url)
    whisper_url = _whisper_url(call, human_check=True)
    action = call.self_url(Stage=DIAL_RESULT, Index=index)
    return dial([numbers[index]], action, timeout, whisper_url=whisper_url)


def whisper(call: Call) -> VoiceResponse:
    """What the callee hears before the call is bridged: `Message`, `HumanCheck` (press a key to accept)."""
    response = VoiceResponse()
    message = call.get("Message")
    if call.stage == HUMAN_CHECKED:
        # A key was pressed: an empty response bridges the call. Silence means voicemail or nobody.
        if not call.get("Digits"):
            response.hangup()
        return response
    if not call.flag("HumanCheck", False):
        if message:
            say_or_play(response, message)
        return response
    gather = response.gather(num_digits=1, timeout=10, action=call.self_url(Stage=HUMAN_CHECKED))
    if message:
        say_or_play(gather, message)
    gather.say(ACCEPT_PROMPT)
    response.hangup()
    return response


def dial(
    numbers: list[str],
    action: str,
    timeout: int,
    *,
    caller_id: str | None = None,
    whisper_url: str | None = None,
) -> VoiceResponse:
    """One <Dial> ringing `numbers` at once; its outcome goes to `action`."""
    response = VoiceResponse()
    attributes = {"callerId": caller_id} if caller_id else {}
    dial_verb = response.dial(action=action, timeout=timeout, **attributes)
    for number in numbers:
        if whisper_url:
            dial_verb.number(number, url=whisper_url)
        else:
            dial_verb.number(number)
    return response


def after_dial(status: str | None, fail_url: str | None) -> VoiceResponse:
    """The <Dial action>: an answered call is over; otherwise go to FailUrl, or hang up."""
    if status in ANSWERED or not fail_url:
        return _hangup()
    response = VoiceResponse()
    response.redirect(fail_url)
    return response


def _whisper_url(call: Call, *, human_check: bool) -> str | None:
    message = call.get("Message")
    if not message and not human_check:
        return None
    pairs = [("Message", message)] if message else []
    if human_check:
        pairs.append(("HumanCheck", "true"))
    return call.sibling_url("whisper", pairs)


def _hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
