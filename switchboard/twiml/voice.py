"""The default inbound call flow, driven by app settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from twilio.twiml.voice_response import VoiceResponse

from switchboard.policies.hours import BusinessHours
from switchboard.settings import Settings
from switchboard.shared.phones import is_e164
from switchboard.twiml.common import say_or_play
from switchboard.twiml.twimlets.base import Call
from switchboard.twiml.twimlets.dialing import DIAL_RESULT, after_dial
from switchboard.twiml.twimlets.voicemail import voicemail
from switchboard.webhooks.request import Params

DEFAULT_GREETING = "Thank you for calling. Nobody can take your call right now. Goodbye."
VOICEMAIL_GREETING = "Sorry, nobody can take your call right now. Please leave a message after the beep."


@dataclass(frozen=True)
class VoiceConfig:
    greeting: str | None = None
    forward_to: str | None = None
    forward_timeout: int = 20
    blocklist: frozenset[str] = frozenset()
    caller_id: str | None = None
    business_hours: BusinessHours | None = None
    voicemail: bool = False
    voicemail_greeting: str | None = None
    voicemail_notify: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceConfig:
        return cls(
            greeting=settings.voice_greeting,
            forward_to=settings.voice_forward_to,
            forward_timeout=settings.voice_forward_timeout,
            blocklist=settings.voice_blocklist,
            caller_id=settings.phone_number,
            business_hours=settings.voice_business_hours,
            voicemail=settings.voice_voicemail,
            voicemail_greeting=settings.voice_voicemail_greeting,
            voicemail_notify=settings.voice_voicemail_notify,
        )


def answer_call(
    form: Params, query: Params, path: str, config: VoiceConfig, now: datetime, *, prefix: str = ""
) -> VoiceResponse:
    """The whole inbound flow: blocklist, business hours, forward, and voicemail when nobody answers.

    `form` holds Twilio's fields (From, To, DialCallStatus); the configuration comes from settings and
    our own signed query (Stage). Voicemail is the voicemail twimlet itself (its route, its callbacks).
    `prefix` is the path of PUBLIC_BASE_URL, so follow-ups resolve behind a gateway.
    """
    caller = form.get("From")
    if caller and caller in config.blocklist:
        return incoming_call(caller, form.get("To"), config)
    mailbox = _voicemail_call(form, path, config, prefix)
    if query.get("Stage") == DIAL_RESULT:
        return after_dial(form.get("DialCallStatus"), mailbox.self_url())
    closed = config.business_hours is not None and not config.business_hours.is_open(now)
    if closed or (config.voicemail and not config.forward_to):
        return voicemail(mailbox)
    action = f"{prefix}{path}?Stage={DIAL_RESULT}" if config.voicemail else None
    return incoming_call(caller, form.get("To"), config, dial_action=action)


def _voicemail_call(form: Params, path: str, config: VoiceConfig, prefix: str) -> Call:
    pairs = [("Message", config.voicemail_greeting or VOICEMAIL_GREETING)]
    if config.voicemail_notify:
        pairs.append(("NotifyNumber", config.voicemail_notify))
    # /api/voice/incoming -> /api/twiml/voicemail, whatever the route prefix.
    query = Params(tuple(pairs))
    return Call(query=query, form=form, path=path.rsplit("/", 2)[0] + "/twiml/voicemail", prefix=prefix)


def incoming_call(
    caller: str | None, called: str | None, config: VoiceConfig, *, dial_action: str | None = None
) -> VoiceResponse:
    response = VoiceResponse()
    if caller and caller in config.blocklist:
        response.reject()
        return response
    if config.greeting:
        say_or_play(response, config.greeting)
    if config.forward_to:
        # Show the callee who is calling when Twilio allows it (a real number), else our own.
        caller_id = caller if is_e164(caller) else (called if is_e164(called) else config.caller_id)
        attributes = {"callerId": caller_id} if caller_id else {}
        if dial_action:
            attributes["action"] = dial_action
        response.dial(config.forward_to, timeout=config.forward_timeout, **attributes)
        return response
    if not config.greeting:
        response.say(DEFAULT_GREETING)
    response.hangup()
    return response
