"""Self-hosted Twimlets: GET|POST /api/twiml/<name>."""

from __future__ import annotations

import azure.functions as func
from twilio.twiml import TwiML
from twilio.twiml.voice_response import VoiceResponse

from switchboard.functions.webhook import Flow, handle, plain, twilio_webhook
from switchboard.settings import Settings, get_settings
from switchboard.twiml import twimlets
from switchboard.twiml.common import apology
from switchboard.twimlet_storage import StorageVoicemailSink, list_audio_blobs
from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()


@bp.route(route="twiml/message", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=apology)
def twiml_message(request: WebhookRequest, settings: Settings) -> VoiceResponse:
    return twimlets.message(request.params)


@bp.route(route="twiml/{name}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def twiml_twimlet(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("name", "")
    if not twimlets.is_served(name, twimlets.TwimletConfig.from_settings(get_settings())):
        return plain(404, "Not found")
    return handle(req, _flow(name), apology)


def _flow(name: str) -> Flow:
    def flow(request: WebhookRequest, settings: Settings) -> TwiML:
        call = twimlets.Call(
            params=request.params,
            query=request.query,
            path=request.path,
            config=twimlets.TwimletConfig.from_settings(settings),
            voicemail=StorageVoicemailSink(),
            list_audio=list_audio_blobs,
        )
        return twimlets.answer(name, call)

    flow.__name__ = f"twiml_{name}"
    return flow
