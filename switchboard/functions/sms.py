"""Inbound SMS: POST /api/sms/incoming."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import azure.functions as func

from switchboard.functions.glue_webhook import empty_messaging, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml.messaging_response import MessagingResponse

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()
log = logging.getLogger("switchboard.sms")


@bp.route(route="sms/incoming", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_messaging)
def sms_incoming(request: WebhookRequest, settings: Settings) -> MessagingResponse:
    from switchboard.functions.glue_records import record_quietly
    from switchboard.records.callbacks import record_inbound_message
    from switchboard.twiml.sms import SmsConfig, incoming_message, wants_auto_reply

    params = request.form  # Twilio's fields; the reply's configuration comes from settings
    sender, body, opt_out_type = params.get("From"), params.get("Body", "") or "", params.get("OptOutType")
    config = SmsConfig.from_settings(settings)
    if wants_auto_reply(sender, body, config, opt_out_type) and not auto_reply_due(sender or "", settings):
        config = replace(config, auto_reply=None)
    twiml = incoming_message(sender, body, config, opt_out_type)
    form = request.form.to_dict()
    record_quietly(settings, record_inbound_message, form)  # also STOP/START opt-outs
    if form.get("NumMedia", "0") not in ("", "0"):
        copy_media_quietly(form, settings)
    return twiml


def auto_reply_due(sender: str, settings: Settings) -> bool:
    """Has this sender had no auto-reply for SMS_AUTO_REPLY_MINUTES (on any host)? Then this one is theirs.

    Storage out of reach: no reply (a missed auto-reply is better than two auto-responders in a loop)."""
    import time

    from switchboard.functions.glue_records import WEBHOOK_STORAGE_OPTIONS
    from switchboard.records.limits import get_counters
    from switchboard.shared.phones import mask

    minutes = settings.sms_auto_reply_minutes
    if minutes == 0:
        return True
    try:
        counters = get_counters(**WEBHOOK_STORAGE_OPTIONS)
        return counters.reply_due(sender, minutes, time.time(), key=settings.limits_key)
    except Exception as error:
        log.warning("Could not check the auto-reply throttle for %s (%s): no auto-reply", mask(sender), error)
        return False


def copy_media_quietly(form: dict[str, str], settings: Settings) -> None:
    """Queue copies of an MMS's media into the user's Blob Storage; never fails the reply."""
    from switchboard.functions.glue_records import WEBHOOK_STORAGE_OPTIONS, store_for
    from switchboard.media.blobs import enqueue_or_note
    from switchboard.media.jobs import media_jobs

    record_id = form.get("MessageSid") or form.get("SmsSid") or ""
    try:
        store = store_for(settings, **WEBHOOK_STORAGE_OPTIONS).with_options(**WEBHOOK_STORAGE_OPTIONS)
        enqueue_or_note(store, media_jobs(record_id, form), settings.tag_keys[0])
    except Exception as error:
        log.warning("Could not queue the media of %s: %s", record_id, error)
