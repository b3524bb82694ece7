"""Self-hosted Twimlets: GET|POST /api/twiml/<name>."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from switchboard.functions.glue_webhook import apology, handle, plain, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml import TwiML
    from twilio.twiml.voice_response import VoiceResponse

    from switchboard.functions.glue_webhook import Flow
    from switchboard.settings import Settings
    from switchboard.twiml import twimlets
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="twiml/message", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=apology)
def twiml_message(request: WebhookRequest, settings: Settings) -> VoiceResponse:
    from switchboard.twiml import twimlets

    twiml = twimlets.message(call_of(request, settings))
    record_inbound(request, settings)
    return twiml


@bp.route(route="twiml/{name}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def twiml_twimlet(req: func.HttpRequest) -> func.HttpResponse:
    from switchboard.settings import get_settings
    from switchboard.twiml import twimlets

    name = req.route_params.get("name", "")
    if not twimlets.is_served(name, twimlets.TwimletConfig.from_settings(get_settings())):
        return plain(404, "Not found")
    return handle(req, _flow(name), apology)


def _flow(name: str) -> Flow:
    def flow(request: WebhookRequest, settings: Settings) -> TwiML:
        from switchboard.twiml import twimlets

        twiml = twimlets.answer(name, call_of(request, settings))
        record_inbound(request, settings)
        return twiml

    flow.__name__ = f"twiml_{name}"
    return flow


def call_of(request: WebhookRequest, settings: Settings) -> twimlets.Call:
    """The signed query configures; Twilio's fields come from the form (POST) or the query (GET)."""
    from switchboard.functions.glue_twimlets import StorageVoicemailSink, list_audio_blobs
    from switchboard.shared.urls import path_prefix
    from switchboard.twiml import twimlets
    from switchboard.webhooks.signature import signed_url

    return twimlets.Call(
        query=request.query,
        form=request.form,
        method=request.method,
        path=request.path,
        request_url=signed_url(request, settings.public_base_url),
        prefix=path_prefix(settings.public_base_url),
        config=twimlets.TwimletConfig.from_settings(settings),
        voicemail=StorageVoicemailSink(),
        list_audio=list_audio_blobs,
    )


def record_inbound(request: WebhookRequest, settings: Settings) -> None:
    """A twimlet used as a number's Voice URL answers inbound calls: record them like /api/voice/incoming.

    Outbound calls already have their record, and later stages of the same call find theirs claimed.
    """
    from switchboard.functions.glue_records import record_quietly
    from switchboard.records.callbacks import record_inbound_call

    form = (request.query if request.method == "GET" else request.form).to_dict()
    if form.get("Direction") == "inbound" and form.get("CallSid"):
        record_quietly(settings, record_inbound_call, form)
