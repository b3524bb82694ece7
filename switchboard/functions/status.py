"""Twilio status callbacks: POST /api/voice/status and /api/sms/status (signed), applied to records by SID."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from switchboard.functions.glue_webhook import empty_messaging, empty_voice, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml import TwiML

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="voice/status", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_voice)
def voice_status(request: WebhookRequest, settings: Settings) -> TwiML:
    _apply("call", request, settings)
    return empty_voice()


@bp.route(route="sms/status", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_messaging)
def sms_status(request: WebhookRequest, settings: Settings) -> TwiML:
    _apply("sms", request, settings)
    return empty_messaging()


def _apply(kind: str, request: WebhookRequest, settings: Settings) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.twilio_params import REQUEST_ID_PARAM
    from switchboard.records.callbacks import record_status_callback
    from switchboard.records.store import utcnow
    from switchboard.shared import telemetry

    request_id = request.query.get(REQUEST_ID_PARAM)
    form = request.form.to_dict()
    prefix = "Call" if kind == "call" else "Message"
    sid, status = form.get(f"{prefix}Sid"), form.get(f"{prefix}Status")
    with telemetry.span("twilio.status_callback", type=kind, sid=sid, status=status, request_id=request_id):
        store = store_for(settings)
        record_id = record_status_callback(store, kind, form, request_id, utcnow())
        telemetry.annotate(request_id=record_id)
