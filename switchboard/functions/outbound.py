"""Outbound: the `outbound` queue trigger, its poison queue, and POST /api/outbound for HTTP producers."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from switchboard.outbound.contract import OutboundRequest
    from switchboard.outbound.worker import Deps
    from switchboard.records.model import Record
    from switchboard.settings import Settings
# The worker, its contract and storage load on the first message, not at every cold start.

bp = func.Blueprint()
log = logging.getLogger("switchboard.outbound")

QUEUE = "outbound"
CONNECTION = "AzureWebJobsStorage"
MAX_REQUEST_BYTES = 64 * 1024


def deps(settings: Settings) -> Deps:
    from switchboard.adapters.meter import get_meter
    from switchboard.adapters.twilio_client import get_client, last_retry_after
    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.worker import Deps
    from switchboard.records.limits import get_counters

    return Deps(
        settings=settings, store=store_for(settings), client=lambda: get_client(settings), requeue=requeue,
        retry_after=last_retry_after, pace=get_meter(connection=CONNECTION).claim,
        limits=get_counters(connection=CONNECTION),
    )  # fmt: skip


def requeue(body: str, delay_seconds: int) -> str:
    """Put a message back on the `outbound` queue, invisible for `delay_seconds`; returns its queue message id.

    Base64 like the host expects (its default messageEncoding), and no expiry: a message may wait several
    7-day hops, and one that expired would leave its record waiting for nothing.
    """
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.storage.queue import LinearRetry

    from switchboard.adapters.storage import queue_client

    # A few short tries, not the SDK's default (15 s, then longer): the worker's own patience around a
    # deferral (outbound/worker.py, keep_outcome) must end inside the attempt's in-flight window.
    queue = queue_client(QUEUE, connection=CONNECTION, retry_policy=LinearRetry(backoff=1, random_jitter_range=0))
    try:
        sent = queue.send_message(body, visibility_timeout=delay_seconds, time_to_live=-1)
    except ResourceNotFoundError as error:
        if getattr(error, "error_code", None) != "QueueNotFound":
            raise
        # Only where nothing created it yet (a fresh local storage account): infra/ creates it in Azure.
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        sent = queue.send_message(body, visibility_timeout=delay_seconds, time_to_live=-1)
    return str(sent.id)


@bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=CONNECTION)
def outbound_send(msg: func.QueueMessage) -> None:
    from switchboard.outbound.worker import handle_message
    from switchboard.records.store import Finalised
    from switchboard.settings import get_settings
    from switchboard.shared import telemetry

    dequeue_count = int(msg.dequeue_count or 1)
    with telemetry.span("outbound.send", queue_message_id=msg.id, dequeue_count=dequeue_count):
        try:
            record = handle_message(msg.id or new_id(), msg.get_body(), dequeue_count, deps(get_settings()))
        except Finalised as gone:
            _finalised(gone)
            return
        _observe("outbound.handled", record)


@bp.queue_trigger(arg_name="msg", queue_name=f"{QUEUE}-poison", connection=CONNECTION)
def outbound_poison(msg: func.QueueMessage) -> None:
    from switchboard.outbound.worker import handle_poison
    from switchboard.records.store import Finalised
    from switchboard.settings import get_settings
    from switchboard.shared import telemetry

    with telemetry.span("outbound.poison", queue_message_id=msg.id):
        try:
            record = handle_poison(msg.id or new_id(), msg.get_body(), deps(get_settings()))
        except Finalised as gone:
            _finalised(gone)
            return
        _observe("outbound.dead_lettered", record)


def _finalised(gone: Exception) -> None:
    """A message for an id that was erased or passed retention: dropped, nothing sent, nothing re-created."""
    from switchboard.shared import telemetry

    request_id = getattr(gone, "record_id", None)
    telemetry.annotate(request_id=request_id, status="finalised")
    telemetry.log_event(log, "outbound.finalised", request_id=request_id)


def _observe(event: str, record: Record) -> None:
    """The request id, SID, type and status on the current span, and one structured log line."""
    from switchboard.shared import telemetry

    telemetry.annotate(request_id=record.id, sid=record.sid, type=record.type, status=record.status)
    telemetry.log_event(log, event, request_id=record.id, type=record.type, to=record.to, sid=record.sid,
                        status=record.status, error_code=record.error_code)  # fmt: skip


@bp.route(route="outbound", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="out", queue_name=QUEUE, connection=CONNECTION)
def outbound_enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:  # noqa: PLR0911 (one answer per refusal)
    """Validate like the queue worker does, then enqueue; answers 202 with the request id."""
    from datetime import datetime, timezone

    from switchboard.outbound.contract import Allowed, Invalid, lead_refusal, validate
    from switchboard.policies.destinations import refusal
    from switchboard.settings import get_settings

    body = req.get_body() or b""
    if len(body) > MAX_REQUEST_BYTES:
        return _json(413, {"error": "request body too large"})
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # also UnicodeDecodeError, and an integer over 4300 digits
        return _json(400, {"error": "body is not valid JSON"})
    if not isinstance(data, dict):
        return _json(400, {"error": "message must be a JSON object"})
    if "id" not in data:
        data = {**data, "id": new_id()}  # in the message, so the record can be found by it
    settings = get_settings()
    try:
        allowed = Allowed.from_settings(settings)
        request = validate(data, default_id=data["id"], default_from=settings.phone_number, allowed=allowed)
        too_far = lead_refusal(request, datetime.now(timezone.utc))
        if too_far is not None:
            raise Invalid(too_far)
    except Invalid as error:
        return _json(400, {"error": str(error)})
    refused = refusal(request, settings.outbound_destinations)
    if refused is not None:
        # Nothing is queued, so nothing can reach Twilio; the producer learns why at once.
        log.warning("Refused outbound %s %s: destination not allowed: %s", request.type, request.id, refused)
        return _json(400, {"error": f"destination not allowed: {refused}", "reason": "destination_not_allowed"})
    over = _over_limit(request, settings)
    if over is not None:
        return over
    out.set(json.dumps(data, separators=(",", ":")))
    log.info("Enqueued %s %s", request.type, request.id)
    return _json(202, {"id": request.id})


@bp.route(route="outbound/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
def outbound_cancel(req: func.HttpRequest) -> func.HttpResponse:
    """Cancel a request whose send has not started: 200 canceled, 409 with its status once started, 404 unknown."""
    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.cancel import answer
    from switchboard.records.store import utcnow
    from switchboard.settings import get_settings

    status, payload = answer(store_for(get_settings()), req.route_params.get("id", ""), utcnow())
    if status == 200:
        log.info("Canceled outbound request %s", payload["id"])
    return _json(status, payload)


def _json(status: int, payload: dict[str, object], headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload), status_code=status, mimetype="application/json", charset="utf-8", headers=headers
    )


def _over_limit(request: OutboundRequest, settings: Settings) -> func.HttpResponse | None:
    """429 with Retry-After when the request is over an OUTBOUND_LIMITS cap already (nothing is queued)."""
    import math

    from switchboard.functions.glue_records import WEBHOOK_STORAGE_OPTIONS
    from switchboard.outbound.caps import enqueue_verdict
    from switchboard.policies.limits import reason
    from switchboard.records.limits import get_counters
    from switchboard.records.store import utcnow

    if not settings.outbound_limits:
        return None
    counters = get_counters(connection=CONNECTION, **WEBHOOK_STORAGE_OPTIONS)
    verdict = enqueue_verdict(request, settings, counters, utcnow())
    if verdict.allowed or verdict.rule is None:
        return None
    seconds = max(1, math.ceil(verdict.retry_after))
    log.warning("Refused outbound %s %s: over %s", request.type, request.id, reason(verdict.rule))
    payload: dict[str, object] = {"error": f"over the limit {verdict.rule.name}; try again in {seconds} s",
                                  "reason": reason(verdict.rule), "retry_after": seconds}  # fmt: skip
    return _json(429, payload, {"Retry-After": str(seconds)})


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def outbound_undecodable(timer: func.TimerRequest) -> None:
    """Record messages the host could not base64-decode (they end in `outbound-poison-poison`)."""
    from switchboard.settings import get_settings

    sweep_undecodable(get_settings())


UNDECODABLE_QUEUE = f"{QUEUE}-poison-poison"
_missing_logged: set[str] = set()


def sweep_undecodable(settings: Settings) -> list[str]:
    from azure.core.exceptions import ResourceNotFoundError

    from switchboard.adapters.storage import queue_client
    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.undecodable import sweep
    from switchboard.records.store import utcnow

    queue = queue_client(UNDECODABLE_QUEUE, connection=CONNECTION, base64=False)
    try:
        return sweep(queue, store_for(settings), utcnow())
    except ResourceNotFoundError as error:
        if getattr(error, "error_code", None) != "QueueNotFound":
            raise
        # Nothing can be waiting in a queue that does not exist; say so once, not every 5 minutes.
        if UNDECODABLE_QUEUE not in _missing_logged:
            _missing_logged.add(UNDECODABLE_QUEUE)
            log.warning("Queue %s does not exist yet: nothing to sweep (infra/ creates it)", UNDECODABLE_QUEUE)
        return []


def new_id() -> str:
    import uuid  # deferred: uuid imports platform, a few ms of every cold start

    return uuid.uuid4().hex
