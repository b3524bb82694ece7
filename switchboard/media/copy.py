"""Copy a recording or MMS media item from Twilio into the user's Blob Storage; optionally delete it at Twilio.

Order matters, so that nothing is lost: download (Basic auth to Twilio's API host only; its redirect to
a storage host is followed without credentials, a bounded number of times), write the blob, read its
length back and compare, name the blob on the record, and only then delete Twilio's copy. Any failure
raises, so the queue retries the job; Twilio's copy is deleted only after a checked blob exists.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from switchboard.media.jobs import RECORDING, BadJob, Job, credentialed_url
from switchboard.records.store import RecordStore, utcnow
from switchboard.settings import Settings

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger("switchboard.media")

MAX_REDIRECTS = 3
MAX_MEDIA_BYTES = 512 * 1024 * 1024  # a four-hour recording is ~230 MB as 8 kHz mono WAV
SPOOL_BYTES = 8 * 1024 * 1024  # larger downloads spill to a temporary file
CHUNK = 64 * 1024
REDIRECTS = (301, 302, 303, 307, 308)


class DownloadError(RuntimeError):
    """Twilio or its storage did not give us the media (this time): the job is retried."""


@dataclass
class Download:
    file: IO[bytes]
    length: int
    content_type: str


def download(url: str, settings: Settings, session: Any) -> Download:
    """GET the media with Twilio's Basic auth, following redirects (at most MAX_REDIRECTS) without it."""
    current = credentialed_url(url, settings.api_base_url, settings.account_sid)
    auth: tuple[str, str] | None = _credentials(settings)
    for _ in range(MAX_REDIRECTS + 1):
        response = session.get(
            current, auth=auth, timeout=(5, settings.twilio_timeout_seconds * 3), allow_redirects=False, stream=True
        )
        if response.status_code in REDIRECTS:
            location = response.headers.get("Location") or ""
            response.close()
            target = urljoin(current, location)
            if urlsplit(target).scheme not in ("https", "http") or (
                urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https"
            ):
                raise DownloadError("Twilio redirected the media to a URL we do not follow")
            current, auth = target, None  # the storage link is its own credential: never send ours along
            continue
        try:
            if response.status_code != 200:
                raise DownloadError(f"media request answered HTTP {response.status_code}")
            return _read(response)
        finally:
            response.close()
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


def _credentials(settings: Settings) -> tuple[str, str]:
    if settings.api_key and settings.api_secret:
        return settings.api_key, settings.api_secret
    return settings.account_sid, settings.auth_token


def _read(response: Any) -> Download:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed to the caller)
    length = 0
    for chunk in response.iter_content(CHUNK):
        length += len(chunk)
        if length > MAX_MEDIA_BYTES:
            spool.close()
            raise BadJob(f"media over {MAX_MEDIA_BYTES} bytes")
        spool.write(chunk)
    declared = response.headers.get("Content-Length")
    encoded = response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    if declared is not None and declared.isdigit() and not encoded and int(declared) != length:
        spool.close()
        raise DownloadError(f"got {length} bytes of {declared}")
    if length == 0:
        spool.close()
        raise DownloadError("the media is empty")
    spool.seek(0)
    content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
    return Download(spool, length, content_type)


def stored_length(container: ContainerClient, name: str) -> int | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return int(container.get_blob_client(name).get_blob_properties().size)
    except ResourceNotFoundError:
        return None


def copy(job: Job, settings: Settings, store: RecordStore, container: ContainerClient, session: Any) -> str:
    """Run one job; returns what happened ("stored", "already stored", "no record"). Raises to be retried."""
    from azure.storage.blob import ContentSettings

    now = utcnow()
    record = store.get(job.record_id)
    if record is None:  # erased or past retention since the callback: keep nothing
        log.info("No record %s for %s %s: nothing to copy", job.record_id, job.kind, job.sid)
        return "no record"
    name = job.blob_name
    outcome = "already stored"
    if stored_length(container, name) is None or name not in record.blob_names:
        fetched = download(job.download_url, settings, session)
        try:
            content_type = (
                fetched.content_type if fetched.content_type != "application/octet-stream" else job.content_type
            )
            container.upload_blob(
                name, fetched.file, length=fetched.length, overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
            )  # fmt: skip
        finally:
            fetched.file.close()
        written = stored_length(container, name)
        if written != fetched.length:
            raise DownloadError(f"the blob holds {written} bytes, not the {fetched.length} downloaded")
        outcome = "stored"
        named, _ = store.update(job.record_id, lambda current: current.with_blob(now, name))
        if named is None or store.finalised(job.record_id):
            # Erased (or past retention) while this copy ran: the erasure's blob delete may have come
            # before this write, so the copy deletes what it wrote (the tombstone is written first).
            from azure.core.exceptions import ResourceNotFoundError

            with contextlib.suppress(ResourceNotFoundError):
                container.get_blob_client(name).delete_blob(delete_snapshots="include")
            log.info("Record %s was erased during the copy of %s %s: the blob is deleted", job.record_id, job.kind,
                     job.sid)  # fmt: skip
            return "erased"
        store.add_event(job.record_id, "stored", sid=job.sid, detail=f"{name} ({fetched.length} bytes)", now=now)
        log.info("Stored %s %s as %s (%d bytes)", job.kind, job.sid, name, fetched.length)
    if settings.delete_recordings_at_twilio:
        delete_at_twilio(job, settings)
    return outcome


def delete_at_twilio(job: Job, settings: Settings) -> None:
    """DELETE the Recording (or the Message's Media) at Twilio; already gone counts as done."""
    from twilio.base.exceptions import TwilioRestException

    from switchboard.adapters.twilio_client import get_client

    client = get_client(settings)
    try:
        if job.kind == RECORDING:
            client.recordings(job.sid).delete()
        else:
            client.messages(job.parent_sid).media(job.sid).delete()
    except TwilioRestException as error:
        if error.status != 404:
            raise
    log.info("Deleted %s %s at Twilio (the blob is written and checked)", job.kind, job.sid)


def new_session() -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials and no proxies from the environment
    return session


__all__ = ["Download", "DownloadError", "copy", "delete_at_twilio", "download", "new_session"]
