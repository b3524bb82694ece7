"""Twilio status callbacks: POST /api/voice/status and /api/sms/status (signed), applied to records by SID.

A callback whose write fails answers 503 (quickly: bounded storage calls). The `status_reconcile` timer
asks Twilio about records whose callbacks never came (switchboard/records/reconcile.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import azure.functions as func

from switchboard.functions.glue_webhook import empty_messaging, empty_voice, twilio_webhook

if TYPE_CHECKING:
    from datetime import datetime

    from twilio.rest import Client
    from twilio.twiml import TwiML

    from switchboard.records.reconcile import Summary
    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()
log = logging.getLogger("switchboard.records")


@bp.route(route="voice/status", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_voice, unavailable=True)
def voice_status(request: WebhookRequest, settings: Settings) -> TwiML:
    _apply("call", request, settings)
    return empty_voice()


@bp.route(route="sms/status", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_messaging, unavailable=True)
def sms_status(request: WebhookRequest, settings: Settings) -> TwiML:
    _apply("sms", request, settings)
    return empty_messaging()


def _apply(kind: str, request: WebhookRequest, settings: Settings) -> None:
    from switchboard.functions.glue_records import callback_store
    from switchboard.outbound.twilio_params import SMS_STATUS_PATH, VOICE_STATUS_PATH, bound_request_id
    from switchboard.records.callbacks import record_status_callback
    from switchboard.records.store import utcnow
    from switchboard.shared import telemetry

    path = VOICE_STATUS_PATH if kind == "call" else SMS_STATUS_PATH
    request_id = bound_request_id(request.query.get, path, settings.tag_keys)
    form = request.form.to_dict()
    prefix = "Call" if kind == "call" else "Message"
    sid, status = form.get(f"{prefix}Sid"), form.get(f"{prefix}Status")
    with telemetry.span("twilio.status_callback", type=kind, sid=sid, status=status, request_id=request_id):
        store = callback_store(settings)
        suppress = settings.suppress_on_errors  # SUPPRESS_ON_ERRORS: a failed SMS may suppress its number
        record_id = record_status_callback(store, kind, form, request_id, utcnow(), suppress=suppress)
        telemetry.annotate(request_id=record_id)


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def status_reconcile(timer: func.TimerRequest) -> None:
    """Ask Twilio about records whose status callbacks did not arrive (switchboard/records/reconcile.py)."""
    from switchboard.settings import get_settings

    reconcile_now(get_settings())


def reconcile_now(
    settings: Settings, *, now: datetime | None = None, limit: int | None = None, per_second: float | None = None
) -> Summary:
    """One reconcile run (the timer's; `make chaos` runs one too, with its own bounds)."""
    from datetime import timedelta

    from switchboard.adapters.twilio_client import get_client
    from switchboard.functions.glue_records import store_for
    from switchboard.records.reconcile import run
    from switchboard.records.store import utcnow
    from switchboard.shared import telemetry

    client = get_client(settings)
    with telemetry.span("records.reconcile"):
        summary = run(
            store_for(settings), lambda kind, sid: fetch_resource(client, kind, sid), now or utcnow(),
            after=timedelta(minutes=settings.reconcile_after_minutes), limit=limit or settings.reconcile_max_per_run,
            per_second=per_second or settings.reconcile_per_second, suppress=settings.suppress_on_errors,
        )  # fmt: skip
    log.info(
        "Reconcile: %d open record(s) scanned, %d fetched, %d changed, %d unchanged, %d missing at Twilio, "
        "%d error(s), %d newly stale%s", summary.scanned, summary.fetched, summary.changed, summary.unchanged,
        summary.missing_at_twilio, summary.errors, summary.stale, "; stopped at a 429" if summary.rate_limited else "",
    )  # fmt: skip
    return summary


RESOURCE_FIELDS = ("status", "duration", "price", "price_unit", "answered_by", "error_code", "error_message", "to",
                   "from_", "queue_time")  # fmt: skip


def fetch_resource(client: Client, kind: str, sid: str) -> dict[str, Any] | None:
    """Twilio's call or message as a plain mapping; None when Twilio has none (404); RateLimited on a 429."""
    from twilio.base.exceptions import TwilioRestException

    from switchboard.records.reconcile import RateLimited

    try:
        resource = client.calls(sid).fetch() if kind == "call" else client.messages(sid).fetch()
    except TwilioRestException as error:
        if error.status == 404:
            return None
        if error.status == 429:
            raise RateLimited(str(error.code)) from error
        raise
    return {name: getattr(resource, name, None) for name in RESOURCE_FIELDS}
