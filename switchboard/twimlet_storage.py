"""The twimlets' I/O: voicemail into Table Storage, its SMS notice onto the outbound queue, hold music from Blob.

Voicemails are kept in the `voicemails` table (PartitionKey = CallSid, RowKey = RecordingSid),
merged field by field so that Twilio's retried or out-of-order callbacks converge on one row.
The notice is an `outbound` queue message of the outbound contract with the id `vm-<RecordingSid>`:
the outbound worker's dedupe on that id turns a retried callback into one SMS.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

from switchboard.phones import mask
from switchboard.storage import blob_service_client, queue_client, table_client
from switchboard.twiml.twimlets.base import VoicemailEvent
from switchboard.twiml.twimlets.holdmusic import is_audio
from switchboard.twiml.twimlets.voicemail import notice

log = logging.getLogger("switchboard.twimlets")

VOICEMAIL_TABLE = "voicemails"
OUTBOUND_QUEUE = "outbound"
MAX_LISTED = 500
SAS_LIFETIME = timedelta(hours=2)
_created: set[str] = set()


class StorageVoicemailSink:
    """Implements `VoicemailSink` against the app's storage account."""

    def save_voicemail(self, event: VoicemailEvent) -> None:
        from azure.data.tables import UpdateMode

        client = table_client(VOICEMAIL_TABLE)
        _once(f"table:{VOICEMAIL_TABLE}", client.create_table)
        entity: dict[str, Any] = {"PartitionKey": event.call_sid, "RowKey": event.recording_sid}
        fields = {
            "recording_url": event.recording_url,
            "duration": event.duration,
            "transcript": event.transcript,
            "transcription_status": event.transcription_status,
            "caller": event.caller,
        }
        entity.update({key: value for key, value in fields.items() if value is not None})
        client.upsert_entity(entity, mode=UpdateMode.MERGE)

    def notify_voicemail(self, number: str, event: VoicemailEvent) -> None:
        event = self._completed(event)
        message = {"type": "sms", "id": f"vm-{event.recording_sid}", "to": number, "body": notice(event)}
        client = queue_client(OUTBOUND_QUEUE)
        _once(f"queue:{OUTBOUND_QUEUE}", client.create_queue)
        client.send_message(json.dumps(message))
        log.info("Queued voicemail notice %s to %s", message["id"], mask(number))

    @staticmethod
    def _completed(event: VoicemailEvent) -> VoicemailEvent:
        """Twilio's transcribeCallback carries no duration: take it (and the caller) from the stored row."""
        from azure.core.exceptions import ResourceNotFoundError

        if event.duration is not None and event.caller is not None:
            return event
        try:
            row = table_client(VOICEMAIL_TABLE).get_entity(event.call_sid, event.recording_sid)
        except ResourceNotFoundError:
            return event
        return replace(
            event,
            duration=event.duration if event.duration is not None else row.get("duration"),
            caller=event.caller or row.get("caller"),
            recording_url=event.recording_url or row.get("recording_url"),
        )


def list_audio_blobs(container: str) -> list[str]:
    """URLs of the audio files in `container`; read-only SAS links when the account key is known."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    service = blob_service_client()
    client = service.get_container_client(container)
    names = [blob.name for blob in islice(client.list_blobs(), MAX_LISTED) if is_audio(blob.name)]
    account_key = getattr(service.credential, "account_key", None)
    expiry = datetime.now(timezone.utc) + SAS_LIFETIME
    urls = []
    for name in names:
        url = client.get_blob_client(name).url
        if account_key:
            sas = generate_blob_sas(
                service.account_name or "",
                container,
                name,
                account_key=account_key,
                permission=BlobSasPermissions(read=True),
                expiry=expiry,
            )
            url = f"{url}?{sas}"
        urls.append(url)
    return urls


def _once(key: str, create: Any) -> None:
    """Create a table or queue the first time this process needs it."""
    from azure.core.exceptions import ResourceExistsError

    if key in _created:
        return
    with contextlib.suppress(ResourceExistsError):
        create()
    _created.add(key)
