"""The default inbound SMS flow, driven by app settings."""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse

from switchboard.records.keywords import opt_keyword
from switchboard.settings import Settings
from switchboard.shared.text import SMS_LIMIT, clip


@dataclass(frozen=True)
class SmsConfig:
    auto_reply: str | None = None
    forward_to: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig:
        return cls(auto_reply=settings.sms_auto_reply, forward_to=settings.sms_forward_to)


def incoming_message(sender: str | None, body: str, config: SmsConfig) -> MessagingResponse:
    response = MessagingResponse()
    # Twilio itself answers STOP, START and HELP; a reply of ours would be a second, unwanted one.
    if config.auto_reply and opt_keyword(body) is None:
        response.message(clip(config.auto_reply, SMS_LIMIT))
    if config.forward_to and config.forward_to != sender:
        response.message(clip(f"From {sender or 'unknown'}: {body}", SMS_LIMIT), to=config.forward_to)
    return response
