"""Inbound SMS: POST /api/sms/incoming."""

from __future__ import annotations

import azure.functions as func
from twilio.twiml.messaging_response import MessagingResponse

from switchboard.functions.recording import record_quietly
from switchboard.functions.webhook import twilio_webhook
from switchboard.records.callbacks import record_inbound_message
from switchboard.settings import Settings
from switchboard.twiml.sms import SmsConfig, incoming_message
from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="sms/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=MessagingResponse)
def sms_incoming(request: WebhookRequest, settings: Settings) -> MessagingResponse:
    params = request.form  # Twilio's fields; the reply's configuration comes from settings
    twiml = incoming_message(params.get("From"), params.get("Body", "") or "", SmsConfig.from_settings(settings))
    record_quietly(settings, record_inbound_message, request.form.to_dict())  # also STOP/START opt-outs
    return twiml
