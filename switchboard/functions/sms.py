"""Inbound SMS: POST /api/sms/incoming."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from switchboard.functions.webhook import empty_messaging, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml.messaging_response import MessagingResponse

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="sms/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_messaging)
def sms_incoming(request: WebhookRequest, settings: Settings) -> MessagingResponse:
    from switchboard.functions.recording import record_quietly
    from switchboard.records.callbacks import record_inbound_message
    from switchboard.twiml.sms import SmsConfig, incoming_message

    params = request.form  # Twilio's fields; the reply's configuration comes from settings
    twiml = incoming_message(params.get("From"), params.get("Body", "") or "", SmsConfig.from_settings(settings))
    record_quietly(settings, record_inbound_message, request.form.to_dict())  # also STOP/START opt-outs
    return twiml
