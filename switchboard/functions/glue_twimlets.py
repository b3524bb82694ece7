"""The twimlets' I/O: voicemail onto the call's record, its notices onto their queues, hold music from Blob.

Hold-music links are signed read-only SAS URLs for one blob each: the container is never public.

A voicemail's recording URL, duration and transcript are stored on the record of the call
(the records table, found by CallSid), with an event per callback. Fields are merged, so
Twilio's retried or out-of-order callbacks converge on one record.
The notice is an `outbound` queue message of the outbound contract with the id `vm-<RecordingSid>`:
the outbound worker's dedupe on that id turns a retried callback into one SMS, and its destination
policy (OUTBOUND_ALLOWED_DESTINATIONS) decides whether NotifyNumber may be texted at all.
The e-mail names the recording (record and RecordingSid) so that the mail worker can attach its
Blob Storage copy (`stored_recording`) when that exists and is small enough.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import TYPE_CHECKING, Any

from switchboard.adapters.storage import blob_service_client, create_once, queue_client
from switchboard.functions.glue_events import publish_quietly
from switchboard.functions.glue_records import store_for
from switchboard.records.model import Record, iso
from switchboard.records.store import RecordStore, outbox_journal, utcnow
from switchboard.settings import get_settings
from switchboard.shared.phones import mask
from switchboard.twiml.twimlets.base import VoicemailEvent
from switchboard.twiml.twimlets.holdmusic import is_audio
from switchboard.twiml.twimlets.voicemail import email_text, notice

if TYPE_CHECKING:
    from switchboard.mail.message import Absent, Attachment, RecordingRef

log = logging.getLogger("switchboard.twimlets")

OUTBOUND_QUEUE = "outbound"
MAX_LISTED = 500
# A link must outlive the playlist it is in (the Redirect at its end re-lists and re-signs), no longer.
SAS_LIFETIME = timedelta(hours=2)
DELEGATION_KEY_LIFETIME = timedelta(hours=6)  # reused for about 4 hours, then renewed
CLOCK_SKEW = timedelta(minutes=5)  # start times in the past: storage's clock may be ahead of ours
STORAGE_TIMEOUTS: dict[str, Any] = {"connection_timeout": 3, "read_timeout": 5}
_delegation_keys: dict[str, tuple[datetime, Any]] = {}
_keys_lock = threading.Lock()


class StorageVoicemailSink:
    """Implements `VoicemailSink` on the call's record and the outbound queue."""

    def save_voicemail(self, event: VoicemailEvent) -> bool:
        """Store the callback on the call's record; then publish its events (the call's arrival, if this callback
        recorded the call, and the transcript's), best effort (issue 24)."""
        store = store_for(get_settings())
        with outbox_journal() as written:
            saved = self._save(store, event)
        publish_quietly(get_settings(), written, store)
        return saved

    def _save(self, store: RecordStore, event: VoicemailEvent) -> bool:
        from switchboard.records.store import Finalised

        now = utcnow()
        try:
            record_id = store.record_id_for_sid(event.call_sid) or _claim_call(store, event, now)
        except Finalised:
            log.info("voicemail %s: its call was erased; nothing stored, nothing sent", event.recording_sid)
            return False
        changes = {
            "recording_url": event.recording_url,
            "recording_sid": event.recording_sid,
            "recording_duration": event.duration,
            "transcript": event.transcript,
        }
        changes = {key: value for key, value in changes.items() if value is not None}

        def merge(record: Record) -> Record | None:
            if all(getattr(record, key) == value for key, value in changes.items()):
                return None
            return record.with_changes(now, **changes)

        detail = f"transcription {event.transcription_status}" if event.transcription_status else "recording"
        # One event per recording and stage, keyed on the shape-checked RecordingSid: a retried or
        # replayed callback merges the same fields again and adds nothing.
        stage = "transcription" if event.transcription_status or event.transcript else "recording"
        key = f"voicemail:{event.recording_sid}:{stage}"
        if stage == "transcription":
            failed = not event.transcript or (event.transcription_status or "completed") != "completed"
            _save_transcription(store, record_id, merge, key=key, detail=detail, recording_sid=event.recording_sid,
                                failed=failed, now=now)  # fmt: skip
        else:
            store.update(record_id, merge)
            if store.mark_once(record_id, key):
                store.add_event(record_id, "voicemail", sid=event.recording_sid, detail=detail, now=now)
        if stage == "recording" and event.recording_url:
            _copy_to_blob(store, record_id, event)  # every time: the same blob, and a lost enqueue is made good
        return True

    def notify_voicemail(self, number: str, event: VoicemailEvent) -> None:
        event = self._completed(event)
        message = {"type": "sms", "id": f"vm-{event.recording_sid}", "to": number, "body": notice(event)}
        client = queue_client(OUTBOUND_QUEUE)
        create_once(f"queue:{OUTBOUND_QUEUE}", client.create_queue)
        client.send_message(json.dumps(message))
        log.info("Queued voicemail notice %s to %s", message["id"], mask(number))

    def email_voicemail(self, address: str, event: VoicemailEvent) -> None:
        """Queue the e-mail (`voicemail-email`, id `vm-email-<RecordingSid>`); the mail worker sends it once."""
        from switchboard.mail.delivery import enqueue, mail_fields
        from switchboard.mail.message import Mail, RecordingRef
        from switchboard.shared.addresses import mask_address

        settings = get_settings()
        if not settings.smtp_url or not settings.email_from:
            log.warning(
                "voicemail %s: Email is set but e-mail is not configured (SMTP_URL and EMAIL_FROM); not sent to %s",
                event.recording_sid, mask_address(address),
            )  # fmt: skip
            return
        store = store_for(settings)
        record_id = store.record_id_for_sid(event.call_sid)
        if record_id is None:  # save_voicemail claims the call first; without a record there is nowhere to keep it
            log.warning("voicemail %s: the call has no record; no e-mail", event.recording_sid)
            return
        event = self._completed(event, record_id)
        subject, body = email_text(event)
        recording = None
        if event.recording_url:
            # The worker attaches the recording's Blob Storage copy (the media-downloads queue makes it).
            recording = RecordingRef(record_id, event.recording_sid, email_text(event, attached=True)[1])
        mail_id = f"vm-email-{event.recording_sid}"
        # The content stays beside the record (erased with it); the queue carries only the two ids.
        store.keep_mail(record_id, mail_id, mail_fields(Mail(to=address, subject=subject, body=body), recording))
        enqueue(mail_id, record_id)

    @staticmethod
    def _completed(event: VoicemailEvent, record_id: str | None = None) -> VoicemailEvent:
        """Twilio's transcribeCallback carries no duration: take it (and the caller) from the call's record."""
        if event.duration is not None and event.caller is not None:
            return event
        store = store_for(get_settings())
        record_id = record_id or store.record_id_for_sid(event.call_sid)
        record = store.get(record_id) if record_id else None
        if record is None:
            return event
        caller = record.from_ if record.direction == "inbound" else record.to
        return replace(
            event,
            duration=event.duration if event.duration is not None else record.recording_duration,
            caller=event.caller or caller,
            recording_url=event.recording_url or record.recording_url,
        )


def kept_mail(record_id: str, mail_id: str) -> dict[str, str] | None:
    """The voicemail e-mail kept beside its record (the mail worker's `load`)."""
    return store_for(get_settings()).mail_of(record_id, mail_id)


def stored_recording(recording: RecordingRef, max_bytes: int) -> Attachment | Absent:
    """The recording's copy in Blob Storage as an attachment, if the copy is done and at most `max_bytes`.

    The record names a blob only once the copy wrote it and checked its length, so a named blob is
    whole. Not named yet: the copy has not run (the mail worker waits a bounded while).
    """
    from switchboard.mail.message import Absent

    settings = get_settings()
    record = store_for(settings).get(recording.record_id)
    if record is None:
        return Absent("the call's record is gone (erased or past retention)")
    prefix = f"{recording.record_id}/{recording.sid}."
    name = next((blob for blob in record.blob_names if blob.startswith(prefix)), None)
    if name is None:
        return Absent("the recording is not in Blob Storage yet", wait=True)
    return _read_audio(settings.recordings_container, name, max_bytes)


def _read_audio(container: str, name: str, max_bytes: int) -> Attachment | Absent:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceNotFoundError

    from switchboard.mail.message import Absent, Attachment, attachment_type

    client = blob_service_client().get_container_client(container).get_blob_client(name)
    too_large = "it is {} bytes, over VOICEMAIL_EMAIL_ATTACH_MAX_BYTES ({})"
    try:
        properties = client.get_blob_properties(**STORAGE_TIMEOUTS)
        if properties.size > max_bytes:
            return Absent(too_large.format(properties.size, max_bytes))
        filename = name.rsplit("/", 1)[1]
        content_type = attachment_type(properties.content_settings.content_type, filename)
        if content_type is None:
            return Absent("the stored blob is not audio")
        # The version we measured: a blob rewritten in between fails the read, never arrives half-sized.
        data = client.download_blob(
            etag=properties.etag, match_condition=MatchConditions.IfNotModified, max_concurrency=1, **STORAGE_TIMEOUTS
        ).readall()
    except ResourceNotFoundError:
        return Absent("the blob is gone")
    if len(data) > max_bytes:
        return Absent(too_large.format(len(data), max_bytes))
    return Attachment(filename=filename, content_type=content_type, data=bytes(data))


def _copy_to_blob(store: RecordStore, record_id: str, event: VoicemailEvent) -> None:
    """Queue the copy of the recording into the user's Blob Storage (a repeated callback queues the same blob)."""
    from switchboard.media.blobs import enqueue_or_note
    from switchboard.media.jobs import recording_job

    params = {"CallSid": event.call_sid, "RecordingSid": event.recording_sid, "RecordingUrl": event.recording_url}
    job = recording_job(record_id, params)
    if job is not None:
        enqueue_or_note(store, [job], get_settings().tag_keys[0])


def _save_transcription(
    store: RecordStore,
    record_id: str,
    merge: Callable[[Record], Record | None],
    *,
    key: str,
    detail: str,
    recording_sid: str,
    failed: bool,
    now: datetime,
) -> None:
    """The transcript (or its failure) on the call's record, its event row, its marker and its outbox event
    (`switchboard.voicemail.transcribed|transcription_failed`) in one transaction; a repeat changes nothing."""
    from switchboard.records.outbox import voicemail_event_row
    from switchboard.records.store import UPDATE_ATTEMPTS, RowExists, StaleRecord, event_entity, marker_entity

    for _ in range(UPDATE_ATTEMPTS):
        current = store.get(record_id)
        if current is None or store.was_marked(record_id, key):
            return
        changed = merge(current)
        after = changed or current
        rows = (marker_entity(record_id, key), event_entity(record_id, "voicemail", sid=recording_sid, detail=detail,
                now=now), voicemail_event_row(after, failed=failed))  # fmt: skip
        try:
            if changed is None:
                store.append(*rows)
            else:
                store.commit(changed, *rows)
        except RowExists:
            return  # a parallel delivery of the same callback got there first
        except StaleRecord:
            continue
        return


def _claim_call(store: RecordStore, event: VoicemailEvent, now: datetime) -> str:
    """A voicemail for a call we have no record of (e.g. its inbound write failed): record the call now."""
    record = Record(
        id=event.call_sid, type="call", direction="inbound", status="in-progress", created_at=iso(now),
        updated_at=iso(now), from_=event.caller, sid=event.call_sid,
    )  # fmt: skip
    store.claim(record)  # and its index rows: the SID row too, unless another record holds the SID
    return store.record_id_for_sid(event.call_sid) or event.call_sid


def list_audio_blobs(container: str) -> list[str]:
    """URLs of the audio files in `container`, each with a read-only SAS for that one blob.

    With an account key (Azurite, a connection string) the SAS is signed with the key. With an identity
    (Azure: shared keys are off) it is a user-delegation SAS, signed with a key the app's identity gets
    from storage. Either way the container stays private.
    """
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    service = blob_service_client()
    client = service.get_container_client(container)
    names = [blob.name for blob in islice(client.list_blobs(), MAX_LISTED) if is_audio(blob.name)]
    if not names:
        return []
    now = datetime.now(timezone.utc)
    account_key = getattr(service.credential, "account_key", None)
    signing: dict[str, Any] = {}
    if account_key:
        signing = {"account_key": account_key}
    elif hasattr(service.credential, "get_token"):
        signing = {"user_delegation_key": user_delegation_key(service, now)}
    urls = []
    for name in names:
        url = client.get_blob_client(name).url
        if signing:
            sas = generate_blob_sas(
                service.account_name or "", container, name, permission=BlobSasPermissions(read=True),
                start=now - CLOCK_SKEW, expiry=now + SAS_LIFETIME,
                protocol="https" if url.startswith("https://") else None, **signing,
            )  # fmt: skip
            url = f"{url}?{sas}"
        urls.append(url)
    return urls


def user_delegation_key(service: Any, now: datetime) -> Any:
    """A user delegation key for the app's identity, reused until it has less than a SAS lifetime left."""
    with _keys_lock:
        cached = _delegation_keys.get(service.url)
        if cached is not None and cached[0] - now > SAS_LIFETIME + CLOCK_SKEW:
            return cached[1]
        expiry = now + DELEGATION_KEY_LIFETIME
        key = service.get_user_delegation_key(now - CLOCK_SKEW, expiry, **STORAGE_TIMEOUTS)
        _delegation_keys[service.url] = (expiry, key)
        return key
