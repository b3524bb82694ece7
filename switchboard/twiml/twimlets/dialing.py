"""forward, callme, simulring, findme and whisper: the twimlets that dial out."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from switchboard.shared.phones import national_digits
from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import Call, log, looks_like_audio_path

DIAL_RESULT = "dial-result"
HUMAN_CHECKED = "human-check"
REFUSED_CALLER = "Sorry, you are calling from a restricted number. Good bye."  # twimlets.com's words
ACCEPT_PROMPT = "Press any key to accept this call."
# twimlets.com's default whisper: the caller's number digit by digit, then a key press to accept.
ANNOUNCE = "You are receiving a call from {digits}. Press any key to accept."
ANNOUNCE_UNKNOWN = "You are receiving a call. Press any key to accept."
ANSWERED = frozenset({"completed", "answered"})


def forward(call: Call) -> VoiceResponse:
    """`PhoneNumber`, `CallerId`, `Timeout` (20), `FailUrl`, `AllowedCallers[]`."""
    fail_url = call.url("FailUrl")
    if call.stage == DIAL_RESULT:
        return after_dial(call.request_field("DialCallStatus"), fail_url)
    number = call.destinations([call.phone("PhoneNumber", required=True) or ""])[0]
    caller_id = call.phone("CallerId")
    timeout = call.timeout(20)
    allowed = call.phones("AllowedCallers")
    # As on twimlets.com, the caller (From) or the number called (To) may be the allowed one.
    if allowed and not call.caller_numbers() & set(allowed):
        log.warning("forward refused a caller not in AllowedCallers")
        response = VoiceResponse()
        response.say(REFUSED_CALLER)
        response.hangup()
        return response
    return dial([number], call.self_url(Stage=DIAL_RESULT), timeout, caller_id=caller_id)


def callme(call: Call) -> VoiceResponse:
    """twimlets.com's callme: `PhoneNumber`, `Message` (whispered to the callee), `Timeout` (20), `FailUrl`.

    forward with a whisper: the callee hears `Message` (or the caller's number) and is bridged whether
    or not a key is pressed, as twimlets.com's callme sent its callee to whisper without HumanCheck.
    """
    fail_url = call.url("FailUrl")
    if call.stage == DIAL_RESULT:
        return after_dial(call.request_field("DialCallStatus"), fail_url)
    number = call.destinations([call.phone("PhoneNumber", required=True) or ""])[0]
    timeout = call.timeout(20)
    whisper_url = _whisper_url(call, human_check=False)
    return dial([number], call.self_url(Stage=DIAL_RESULT), timeout, whisper_url=whisper_url)


def simulring(call: Call) -> VoiceResponse:
    """`PhoneNumbers[]` rung at once, `Timeout` (20), `Message` whispered to the callee, `FailUrl`."""
    fail_url = call.url("FailUrl")
    if call.stage == DIAL_RESULT:
        return after_dial(call.request_field("DialCallStatus"), fail_url)
    numbers = call.destinations(call.phones("PhoneNumbers", required=True))
    timeout = call.timeout(20)
    whisper_url = _whisper_url(call, human_check=False)
    return dial(numbers, call.self_url(Stage=DIAL_RESULT), timeout, whisper_url=whisper_url)


def findme(call: Call) -> VoiceResponse:
    """`PhoneNumbers[]` rung one after another, `Timeout` (60), `Message`, `FailUrl`; callees press a key."""
    fail_url = call.url("FailUrl")
    numbers = call.destinations(call.phones("PhoneNumbers", required=True))
    timeout = call.timeout(60)
    index = 0
    if call.stage == DIAL_RESULT:
        status = call.request_field("DialCallStatus")
        if status in ANSWERED:
            return _hangup()
        index = call.counter("Index", 0) + 1
        if index >= len(numbers):
            return after_dial(status, fail_url)
    whisper_url = _whisper_url(call, human_check=True)
    action = call.self_url(Stage=DIAL_RESULT, Index=index)
    return dial([numbers[index]], action, timeout, whisper_url=whisper_url)


def whisper(call: Call) -> VoiceResponse:
    """What the callee hears before the call is bridged: `Message` (else the caller's number), `HumanCheck`.

    As on twimlets.com, the prompt sits in a one-key <Gather>. Without `HumanCheck` the document then
    ends, which bridges the call whether or not a key was pressed (a callee who only listens is
    connected). With `HumanCheck=true` a key is required: silence hangs up, so a voicemail box
    answering the callee's phone never takes the call.
    """
    response = VoiceResponse()
    human_check = call.flag("HumanCheck", False)
    if call.stage == HUMAN_CHECKED:
        # A key was pressed: an empty response bridges the call. Without one, only HumanCheck hangs up.
        if human_check and not call.request_field("Digits"):
            response.hangup()
        return response
    message = call.get("Message")
    caller = call.request_field("From") or call.request_field("Caller")
    prompt = call.audio_or_text(message) if message else announcement(caller, call.country)
    action = call.self_url(Stage=HUMAN_CHECKED)
    if not human_check:
        # No timeout attribute: Twilio's default 5 s, as on twimlets.com; it only delays the bridge.
        say_or_play(response.gather(num_digits=1, action=action), prompt)
        return response
    gather = response.gather(num_digits=1, timeout=10, action=action)
    say_or_play(gather, prompt)
    if message:
        gather.say(ACCEPT_PROMPT)  # the user's Message rarely says that a key is required
    response.hangup()
    return response


def announcement(caller: str | None, country: str) -> str:
    """`+14155551212` -> "... from 4. 1. 5. 5. 5. 5. 1. 2. 1. 2. Press any key to accept." (digits, not a number)."""
    from switchboard.shared.phones import to_e164

    number = to_e164(caller, country)
    if number is None:
        return ANNOUNCE_UNKNOWN
    return ANNOUNCE.format(digits=". ".join(national_digits(number, country)))


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
    """The <Dial action>: an answered call is over; otherwise go to FailUrl, or hang up.

    An audio FailUrl (`please-try-later.mp3`, as in Twilio's examples) is played: twimlets.com answered
    with a redirect that Twilio followed and played; a <Redirect> would POST to a static file.
    """
    if status in ANSWERED or not fail_url:
        return _hangup()
    response = VoiceResponse()
    if looks_like_audio_path(fail_url):
        response.play(fail_url)
        response.hangup()
        return response
    response.redirect(fail_url)
    return response


def _whisper_url(call: Call, *, human_check: bool) -> str:
    """Every callee hears a whisper: the `Message`, or (without one) the caller's number and a key to press."""
    message = call.get("Message")
    pairs = [("Message", message)] if message else []
    if human_check:
        pairs.append(("HumanCheck", "true"))
    return call.sibling_url("whisper", pairs)


def _hangup() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
