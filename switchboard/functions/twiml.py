"""Self-hosted Twimlets: GET|POST /api/twiml/<name>."""

from __future__ import annotations

import azure.functions as func
from twilio.twiml.voice_response import VoiceResponse

from switchboard.functions.webhook import twilio_webhook
from switchboard.settings import Settings
from switchboard.twiml import twimlets
from switchboard.twiml.common import apology
from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="twiml/message", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=apology)
def twiml_message(request: WebhookRequest, settings: Settings) -> VoiceResponse:
    return twimlets.message(request.params)
