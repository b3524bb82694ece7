"""The default inbound SMS flow, driven by app settings; WhatsApp messages on the same webhook follow WhatsApp's rules.

WhatsApp lets a business send free-form text only inside the 24-hour customer-service window that a
person's own message opens; outside it, only an approved Content template (or nothing). So, for a
message whose `From` is `whatsapp:+…`:

- the auto-reply goes back on WhatsApp as free-form text: it answers the message that has just
  opened the window;
- the forward to `SMS_FORWARD_TO` would be a WhatsApp message the business starts, outside any
  window that number opened, and TwiML cannot send a template: it goes as an SMS from
  `TWILIO_PHONE_NUMBER` instead, or, without one, not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse

from switchboard.records.keywords import opt_keyword
from switchboard.settings import Settings
from switchboard.shared.phones import is_replyable, is_whatsapp, number_part
from switchboard.shared.text import SMS_LIMIT, clip


@dataclass(frozen=True)
class SmsConfig:
    auto_reply: str | None = None
    forward_to: str | None = None
    sms_sender: str | None = None  # TWILIO_PHONE_NUMBER: where the SMS forward of a WhatsApp message comes from

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsConfig:
        return cls(
            auto_reply=settings.sms_auto_reply, forward_to=settings.sms_forward_to, sms_sender=settings.phone_number
        )


def wants_auto_reply(sender: str | None, body: str, config: SmsConfig, opt_out_type: str | None = None) -> bool:
    """Would this message get the auto-reply (before the once-per-SMS_AUTO_REPLY_MINUTES throttle)?

    Not STOP, START or HELP: Twilio itself answers them (with Advanced Opt-Out, its own keywords in any language,
    which `OptOutType` names), and a reply of ours would be a second, unwanted one. Not a short code or an
    alphanumeric sender: machines, and two auto-responders answer each other forever.
    """
    return bool(config.auto_reply) and opt_keyword(body, opt_out_type) is None and is_replyable(sender)


def incoming_message(
    sender: str | None, body: str, config: SmsConfig, opt_out_type: str | None = None
) -> MessagingResponse:
    """The reply TwiML. The shell clears `auto_reply` for a sender it answered within SMS_AUTO_REPLY_MINUTES."""
    response = MessagingResponse()
    if config.auto_reply and wants_auto_reply(sender, body, config, opt_out_type):
        response.message(clip(config.auto_reply, SMS_LIMIT))
    if config.forward_to and not _same_number(config.forward_to, sender):
        text = clip(f"From {sender or 'unknown'}: {body}", SMS_LIMIT)
        if not is_whatsapp(sender):
            response.message(text, to=config.forward_to)
        elif config.sms_sender:
            response.message(text, to=config.forward_to, from_=config.sms_sender)
    return response


def _same_number(forward_to: str, sender: str | None) -> bool:
    """The forward target texting in (on any channel) is not looped back to itself."""
    if forward_to == sender:
        return True
    number = number_part(forward_to)
    return number is not None and number == number_part(sender)
