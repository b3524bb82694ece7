"""Glue between the Functions host and the pure webhook flows.

Every Twilio-facing route goes through `twilio_webhook`: body cap, parsing,
signature check, then the flow, whose TwiML is serialised by the SDK's builders.
Declaring a function imports nothing beyond azure.functions: the request, signature, settings
and TwiML modules load on the first call, not at every cold start.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

import azure.functions as func

if TYPE_CHECKING:
    from twilio.twiml import TwiML

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

log = logging.getLogger("switchboard.webhook")

Flow: TypeAlias = "Callable[[WebhookRequest, Settings], TwiML]"
HttpHandler: TypeAlias = Callable[[func.HttpRequest], func.HttpResponse]
XML_TYPE = "text/xml"
# Characters XML 1.0 cannot carry, even escaped; the builders pass them through from caller input.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def twilio_webhook(fallback: Callable[[], TwiML], *, unavailable: bool = False) -> Callable[[Flow], HttpHandler]:
    """Wrap a flow as an HTTP function. `fallback` answers the caller if the flow fails.

    `unavailable=True` (status and recording callbacks, where nobody waits on the line): a failed flow
    answers 503 instead, so Twilio logs the callback as not delivered (error 11200) rather than taking a
    200 for a write that never happened; the reconcile timer then fetches what was lost.
    """

    def decorate(flow: Flow) -> HttpHandler:
        # No functools.wraps: the host reads the wrapper's own (req) signature.
        def handler(req: func.HttpRequest) -> func.HttpResponse:
            return handle(req, flow, fallback, unavailable=unavailable)

        handler.__name__ = flow.__name__
        handler.__qualname__ = flow.__qualname__
        handler.__doc__ = flow.__doc__
        return handler

    return decorate


def empty_voice() -> TwiML:
    """Fallback for callbacks: an empty <Response/>."""
    from twilio.twiml.voice_response import VoiceResponse

    return VoiceResponse()


def empty_messaging() -> TwiML:
    from twilio.twiml.messaging_response import MessagingResponse

    return MessagingResponse()


def apology() -> TwiML:
    """Fallback for calls: tell the caller something went wrong instead of Twilio's error tone."""
    from switchboard.twiml.common import apology as say_sorry

    return say_sorry()


def handle(
    req: func.HttpRequest, flow: Flow, fallback: Callable[[], TwiML], *, unavailable: bool = False
) -> func.HttpResponse:
    from switchboard.settings import get_settings
    from switchboard.webhooks.request import BadRequest, WebhookRequest

    settings = get_settings()
    body = req.get_body() or b""
    if len(body) > settings.max_body_bytes:
        log.warning("Refused webhook to %s: body of %d bytes is over the cap", _path(req.url), len(body))
        return plain(413, "Request body too large")
    try:
        request = WebhookRequest.parse(req.method, req.url, dict(req.headers), body)
    except BadRequest as error:
        log.warning("Refused webhook to %s: %s", _path(req.url), error)
        # No signature can be valid over a body that cannot be read, so to a caller this is unsigned.
        return plain(403, "Forbidden") if settings.webhook_validation else plain(400, "Bad request")
    if not authorised(request, settings):
        return plain(403, "Forbidden")
    try:
        twiml = flow(request, settings)
    except Exception as error:
        if unavailable:
            log.warning("Callback %s could not be recorded (%s); answering 503", flow.__name__, type(error).__name__)
            return plain(503, "Service Unavailable")
        log.exception("Webhook flow %s failed; answering with its fallback", flow.__name__)
        twiml = fallback()
    return xml(twiml)


def authorised(request: WebhookRequest, settings: Settings) -> bool:
    from switchboard.webhooks.signature import refusal

    if not settings.webhook_validation:
        log.warning("WEBHOOK_VALIDATION is off: accepting %s without a signature check", request.path)
        return True
    tokens = [token for token in (settings.auth_token, settings.auth_token_secondary) if token]
    reason = refusal(
        request, tokens, settings.public_base_url, shared_keys=settings.webhook_shared_keys,
        trust_forwarded=settings.trust_forwarded_headers,
    )  # fmt: skip
    if reason is None:
        return True
    log.warning("Refused webhook to %s: %s", request.path, reason)
    return False


def xml(twiml: TwiML) -> func.HttpResponse:
    return func.HttpResponse(xml_text(twiml), status_code=200, mimetype=XML_TYPE, charset="utf-8")


def xml_text(twiml: TwiML) -> str:
    """The TwiML as a well-formed document: characters XML cannot hold are dropped."""
    return _NOT_XML.sub("", str(twiml))


def plain(status: int, text: str) -> func.HttpResponse:
    return func.HttpResponse(text, status_code=status, mimetype="text/plain", charset="utf-8")


def _path(url: str) -> str:
    return url.split("?", 1)[0]
