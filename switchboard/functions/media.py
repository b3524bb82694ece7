"""Recordings and MMS media in the user's Blob Storage.

- POST /api/voice/recording (signed): recording status callbacks; notes the recording, queues its copy.
- `media-downloads` queue trigger: copies one recording or media item into Blob Storage; a failure
  raises, so the host retries it (maxDequeueCount) and then moves it to `media-downloads-poison`.
- `media-downloads-poison`: notes on the record that the copy failed; Twilio's copy is never deleted.
- GET /api/media/{id}/{name} (function key): streams one stored blob of a record to the operator.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import azure.functions as func

from switchboard.functions.glue_records import callback_store, store_for
from switchboard.functions.glue_webhook import empty_voice, twilio_webhook

if TYPE_CHECKING:
    from twilio.twiml.voice_response import VoiceResponse

    from switchboard.settings import Settings
    from switchboard.webhooks.request import WebhookRequest

bp = func.Blueprint()
log = logging.getLogger("switchboard.media")

QUEUE = "media-downloads"  # switchboard.media.jobs.QUEUE; a literal here keeps the module cheap to import
CONNECTION = "AzureWebJobsStorage"
# Served inline only when the browser shows it as media; anything else downloads, sandboxed either way.
INLINE_TYPES = ("audio/", "image/", "video/")
_session_lock = threading.Lock()
_session: list[Any] = []


@bp.route(route="voice/recording", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@twilio_webhook(fallback=empty_voice, unavailable=True)
def voice_recording(request: WebhookRequest, settings: Settings) -> VoiceResponse:
    from twilio.twiml.voice_response import VoiceResponse

    from switchboard.functions.glue_events import publish_quietly
    from switchboard.media.blobs import enqueue_or_note
    from switchboard.media.callbacks import record_recording
    from switchboard.outbound.twilio_params import RECORDING_STATUS_PATH, bound_request_id
    from switchboard.records.store import outbox_journal, utcnow

    store = callback_store(settings)
    request_id = bound_request_id(request.query.get, RECORDING_STATUS_PATH, settings.tag_keys)
    with outbox_journal() as written:  # a recording of a call we had no record of records the call: its arrival
        job = record_recording(store, request.form.to_dict(), request_id, utcnow())
    publish_quietly(settings, written, store)
    if job is not None:
        enqueue_or_note(store, [job], settings.tag_keys[0])
    return VoiceResponse()


@bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=CONNECTION)
def media_download(msg: func.QueueMessage) -> None:
    from switchboard.media.blobs import container_for
    from switchboard.media.copy import copy
    from switchboard.media.jobs import BadJob, Job

    settings = _settings()
    try:
        job = Job.from_message(msg.get_body(), settings.tag_keys)
    except BadJob as error:
        log.error("Dropped a media job that can never succeed: %s", error)
        return
    try:
        outcome = copy(job, settings, store_for(settings), container_for(settings, job.kind), _http())
    except BadJob as error:
        log.error("Dropped media job for %s %s: %s", job.kind, job.sid, error)
        _note_failure(settings, job, str(error))
        return
    log.info("Media job %s %s: %s (try %s)", job.kind, job.sid, outcome, msg.dequeue_count)


@bp.queue_trigger(arg_name="msg", queue_name=f"{QUEUE}-poison", connection=CONNECTION)
def media_download_poison(msg: func.QueueMessage) -> None:
    from switchboard.media.jobs import BadJob, Job

    settings = _settings()
    try:
        job = Job.from_message(msg.get_body(), settings.tag_keys)
    except BadJob as error:
        log.error("Unreadable message in %s-poison: %s", QUEUE, error)
        return
    _note_failure(settings, job, "gave up after repeated failures; the copy at Twilio is kept")


def _note_failure(settings: Settings, job: Any, detail: str) -> None:
    from switchboard.records.store import utcnow

    store = store_for(settings)
    if store.get(job.record_id) is not None:
        store.add_event(job.record_id, "copy_failed", sid=job.sid, detail=detail, now=utcnow())
    log.warning("Could not copy %s %s to Blob Storage: %s", job.kind, job.sid, detail)


def _http() -> Any:
    """One requests session per process: it pools connections to Twilio."""
    from switchboard.media.copy import new_session

    with _session_lock:
        if not _session:
            _session.append(new_session())
        return _session[0]


@bp.route(route="media/{id}/{name}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def media_get(req: func.HttpRequest) -> func.HttpResponse:
    """One blob of a record (a recording or an MMS image), by the record's id and the blob's file name."""
    from azure.core.exceptions import ResourceNotFoundError

    from switchboard.media.blobs import container, container_of_name
    from switchboard.media.jobs import BLOB_NAME
    from switchboard.records.ids import is_indexed_sid, is_record_id

    record_id, name = req.route_params.get("id", ""), req.route_params.get("name", "")
    if not is_record_id(record_id) or not BLOB_NAME.fullmatch(name):
        return _text(400, "id must be a record id and name a stored file name such as RE….wav")
    settings = _settings()
    store = store_for(settings)
    record = store.get(record_id)
    if record is None and is_indexed_sid(record_id):
        owner = store.record_id_for_sid(record_id)
        record = store.get(owner) if owner else None
    blob = f"{record.id}/{name}" if record is not None else ""
    if record is None or blob not in record.blob_names:
        return _text(404, "no such stored file")
    try:
        downloaded = container(container_of_name(settings, name)).get_blob_client(blob).download_blob()
        data = downloaded.readall()
    except ResourceNotFoundError:
        return _text(404, "no such stored file")
    content_type = downloaded.properties.content_settings.content_type or "application/octet-stream"
    disposition = "inline" if content_type.startswith(INLINE_TYPES) else "attachment"
    headers = {
        "Content-Type": content_type,
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Referrer-Policy": "no-referrer",
    }
    return func.HttpResponse(data, status_code=200, headers=headers, mimetype=content_type)


def _text(status: int, text: str) -> func.HttpResponse:
    return func.HttpResponse(text, status_code=status, mimetype="text/plain", charset="utf-8")


def _settings() -> Settings:
    from switchboard.settings import get_settings  # deferred: settings pull in the policy modules

    return get_settings()
