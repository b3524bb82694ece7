"""The voicemail e-mail's retry-safe path: one queue message per recording, sent once, retried when it fails.

The voicemail callback keeps the e-mail (to, subject, body, and the body for an attached recording)
beside the call's record (`RecordStore.keep_mail`) and queues only ids,
`{"id": "vm-email-<RecordingSid>", "record_id": <the call's record>}`, on the `voicemail-email` queue,
as the SMS notice goes onto `outbound` with the id `vm-<RecordingSid>`. So the queue (and its
`-poison` queue) holds no address, number or transcript, a message someone else writes there can make
the app send only an e-mail the app itself prepared (once), and erasing the record erases the e-mail.
The worker keeps one row per id in the `mailsent` table:

1. The id is claimed with an insert (`sending`); a row already `sent` means a repeated callback
   or a redelivery: nothing is sent again.
2. A row found `sending` is an attempt in flight or one that died: a fresh one (younger than
   STALE_AFTER) is retried later, an old one is taken over (ETag-guarded, so one worker wins).
3. SMTP accepted the message: the row becomes `sent`. SMTP failed: the row is released and the
   exception makes the host retry after its visibility timeout, at most `maxDequeueCount` (5)
   times; then the message rests in `voicemail-email-poison` for a person to look at.

The recording: the kept e-mail may name `recording_sid` (with `attached_body`). Between the claim and
SMTP the worker looks for the recording's copy in Blob Storage (`find`, given by the shell): at most
VOICEMAIL_EMAIL_ATTACH_MAX_BYTES, it is attached and `body` (which says so) replaces the linking body;
larger, gone, or not audio, the e-mail links it. The copy is made by the `media-downloads` queue and
may not exist yet (without transcription both jobs are queued by the same callback): then the claim
is released and the message is queued again, visible after WAIT_SECONDS, at most MAX_WAITS times
(`waits` in the message); a failed read of the copy is looked past the same way. That window
outlasts the copy's own retries (5 deliveries, 30 s apart); past it the e-mail goes out with the
link, still once.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from switchboard.mail.message import Absent, Attachment, Mail, MailError, RecordingRef, SmtpServer
from switchboard.records.ids import is_record_id
from switchboard.settings import Settings
from switchboard.shared.addresses import is_address, mask_address
from switchboard.shared.sids import is_recording_sid

log = logging.getLogger("switchboard.mail.message")

QUEUE = "voicemail-email"
MAIL_ID_PREFIX = "vm-email-"  # + the RecordingSid: the one shape a mail id has
TABLE = "mailsent"
PARTITION = "voicemail"
STALE_AFTER = timedelta(minutes=2)
WAIT_SECONDS = 30  # between looks for the recording's copy
MAX_WAITS = 6  # 3 minutes in all: longer than the copy's 5 tries 30 s apart
# The shell's lookup of a recording's copy in Blob Storage: the attachment, or why there is none.
FindRecording = Callable[[RecordingRef, int], "Attachment | Absent"]
# The shell's lookup of a kept e-mail by (record id, mail id): its fields, or None.
LoadMail = Callable[[str, str], "dict[str, str] | None"]


class RetryLater(RuntimeError):
    """Raised so that the Functions host delivers the message again after its visibility timeout."""


@dataclass(frozen=True)
class Outcome:
    id: str
    # sent | duplicate | rejected | gone (no such kept e-mail) | waiting (queued again: the copy is not there yet)
    status: str
    attached: bool = False


def mail_fields(mail: Mail, recording: RecordingRef | None = None) -> dict[str, str]:
    """What `RecordStore.keep_mail` keeps of an e-mail (and of its recording, to attach)."""
    fields = {"to": mail.to, "subject": mail.subject, "body": mail.body}
    if recording is not None:
        fields |= {"recording_sid": recording.sid, "attached_body": recording.body}
    return fields


def enqueue(mail_id: str, record_id: str) -> None:
    """Queue the ids of an e-mail kept beside its record (`RecordStore.keep_mail`)."""
    _send({"id": mail_id, "record_id": record_id})
    log.info("Queued voicemail e-mail %s of record %s", mail_id, record_id)


def _send(payload: dict[str, Any], visibility_timeout: int | None = None) -> None:
    from switchboard.adapters.storage import create_once, queue_client

    client = queue_client(QUEUE)
    create_once(f"queue:{QUEUE}", client.create_queue)
    client.send_message(json.dumps(payload), visibility_timeout=visibility_timeout)


def deliver(
    body: bytes | str,
    settings: Settings,
    now: datetime | None = None,
    *,
    load: LoadMail,
    find: FindRecording | None = None,
) -> Outcome:
    """Handle one queue message. Raises (so the host retries) when the e-mail could not be sent."""
    parsed = _ids(body)
    if parsed is None:
        return Outcome("", "rejected")
    data, mail_id, record_id, waits = parsed
    kept = load(record_id, mail_id)
    if kept is None:
        # Never prepared by the app (a forged message), or erased with its record: nothing to send.
        log.warning("Dropped voicemail e-mail %s: record %s keeps no such e-mail (erased, or never made)", mail_id,
                    record_id)  # fmt: skip
        return Outcome(mail_id, "gone")
    mail = Mail(to=kept.get("to", ""), subject=kept.get("subject", ""), body=kept.get("body", ""))
    if not is_address(mail.to):
        log.error("Dropped voicemail e-mail %s: not a valid address", mail_id)
        return Outcome(mail_id, "rejected")
    if not settings.smtp_url or not settings.email_from:
        # Retrying cannot help until someone configures SMTP; say so and keep the message in the poison queue.
        raise RetryLater("voicemail e-mail is not configured: set SMTP_URL and EMAIL_FROM")
    now = now or datetime.now(timezone.utc)
    table = _table()
    if not _claim(table, mail_id, now):
        log.info("Voicemail e-mail %s was sent already; not sending it again", mail_id)
        return Outcome(mail_id, "duplicate")
    recording = RecordingRef.parse(
        {"record_id": record_id, "sid": kept.get("recording_sid"), "body": kept.get("attached_body")}
    )
    found = _recording(mail_id, recording, settings, find)
    if isinstance(found, Absent) and found.wait and waits < MAX_WAITS:
        table.delete_entity(PARTITION, mail_id)  # released: the next look may send it
        _send({**data, "waits": waits + 1}, visibility_timeout=WAIT_SECONDS)
        log.info("Voicemail e-mail %s looks again in %d s (%d of %d): %s", mail_id, WAIT_SECONDS, waits + 1,
                 MAX_WAITS, found.reason)  # fmt: skip
        return Outcome(mail_id, "waiting")
    if isinstance(found, Attachment) and recording is not None:
        mail = replace(mail, body=recording.body, attachments=(found,))
    elif isinstance(found, Absent):
        log.info("Voicemail e-mail %s links its recording: %s", mail_id, found.reason)
    try:
        SmtpServer.parse(settings.smtp_url).send(mail, settings.email_from)
    except MailError as error:
        with contextlib.suppress(Exception):
            table.delete_entity(PARTITION, mail_id)  # released: the next delivery tries again at once
        log.warning("Voicemail e-mail %s to %s failed, will retry: %s", mail_id, mask_address(mail.to), error)
        raise RetryLater(str(error)) from None
    table.upsert_entity({"PartitionKey": PARTITION, "RowKey": mail_id, "status": "sent", "sent_at": _iso(now)})
    attached = bool(mail.attachments)
    log.info("Sent voicemail e-mail %s to %s (%s)", mail_id, mask_address(mail.to), "attached" if attached else "link")
    return Outcome(mail_id, "sent", attached=attached)


def _ids(body: bytes | str) -> tuple[dict[str, Any], str, str, int] | None:
    """The message's fields, mail id, record id and waits; None (logged) for anything else."""
    try:
        data = json.loads(body)
        mail_id, record_id = str(data["id"]), str(data["record_id"])
        waits = int(data.get("waits") or 0)
        if set(data) - {"id", "record_id", "waits"}:
            raise ValueError("a voicemail e-mail message carries ids only")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        log.error("Dropped a voicemail e-mail message that is not JSON with only an id and a record id")
        return None
    if not is_recording_sid(mail_id.removeprefix(MAIL_ID_PREFIX)) or not is_record_id(record_id):
        log.error("Dropped voicemail e-mail %s: not a valid id", mail_id[:80])
        return None
    return data, mail_id, record_id, waits


def _recording(
    mail_id: str, recording: RecordingRef | None, settings: Settings, find: FindRecording | None
) -> Attachment | Absent | None:
    """The recording to attach, or why it is linked; None when the message names no recording."""
    if recording is None or find is None:
        return None
    limit = settings.voicemail_email_attach_max_bytes
    if limit == 0:
        return Absent("VOICEMAIL_EMAIL_ATTACH_MAX_BYTES is 0")
    try:
        return find(recording, limit)
    except Exception as error:  # storage trouble is looked past like a missing copy: bounded, then the link
        log.warning("Voicemail e-mail %s: could not read its recording (%s)", mail_id, type(error).__name__)
        return Absent(f"reading the recording failed ({type(error).__name__})", wait=True)


def _claim(table: Any, mail_id: str, now: datetime) -> bool:
    """True when this worker may send: a new id, or an attempt that went stale."""
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

    row = {"PartitionKey": PARTITION, "RowKey": mail_id, "status": "sending", "started_at": _iso(now)}
    try:
        table.create_entity(row)
        return True
    except ResourceExistsError:
        pass
    try:
        existing = table.get_entity(PARTITION, mail_id)
    except ResourceNotFoundError:
        raise RetryLater(f"{mail_id} changed hands; trying again") from None
    if existing.get("status") == "sent":
        return False
    started = _parse(existing.get("started_at"))
    if started is not None and now - started < STALE_AFTER:
        raise RetryLater(f"{mail_id} is being sent by another worker")
    try:
        table.update_entity(row, etag=existing.metadata["etag"], match_condition=MatchConditions.IfNotModified)
    except HttpResponseError:
        raise RetryLater(f"{mail_id} was taken over by another worker") from None
    return True


def _table() -> Any:
    from switchboard.adapters.storage import create_once, table_client

    table = table_client(TABLE)
    create_once(f"table:{TABLE}", table.create_table)
    return table


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _parse(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
