"""Inbound voice: POST /api/voice/incoming."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from switchboard.functions.glue_webhook import apology, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml.voice_response import VoiceResponse

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="voice/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=apology)
def voice_incoming(request: WebhookRequest, settings: Settings) -> VoiceResponse:
    from datetime import datetime, timezone

    from switchboard.functions.glue_records import record_quietly
    from switchboard.records.callbacks import record_inbound_call
    from switchboard.shared.urls import path_prefix
    from switchboard.twiml.voice import VoiceConfig, answer_call

    config = VoiceConfig.from_settings(settings)
    twiml = answer_call(
        request.form, request.query, request.path, config, datetime.now(timezone.utc),
        prefix=path_prefix(settings.public_base_url),
    )  # fmt: skip
    record_quietly(settings, record_inbound_call, request.form.to_dict())  # after the answer is built; never fails it
    return twiml
