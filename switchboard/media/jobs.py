"""Pure: copy jobs for recordings and MMS media, their blob names, and where Twilio credentials may go.

A job is one queue message on `media-downloads`:
`{"kind": "recording" | "media", "record_id": ..., "sid": "RE…" | "ME…", "url": <Twilio's URL>,
"content_type": ..., "parent_sid": <CallSid or MessageSid>, "tag": <HMAC>}`. The tag (shared/tags.py, under
the app's key, over every other field) is checked before anything is fetched or written: a job someone
else puts on the queue is dropped, so it can neither file audio in a record's folder nor note on one.
Its blob is `<record id>/<sid>.<ext>` in the recordings or media container: one name per recording
or media item, so a repeated callback or a retried job writes the same blob again, never a second one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from switchboard.records.ids import ID_PATTERN
from switchboard.shared import sids
from switchboard.shared.tags import TAG_PARAM, tag, verify
from switchboard.shared.text import MEDIA_LIMIT

QUEUE = "media-downloads"
RECORDING, MEDIA = "recording", "media"
# The media route serves only names of this shape.
BLOB_NAME = re.compile(rf"(?P<sid>{sids.RECORDING.pattern}|{sids.MEDIA.pattern})\.(?P<ext>[a-z0-9]{{2,5}})")
EXTENSIONS = {
    "audio/x-wav": "wav", "audio/wav": "wav", "audio/mpeg": "mp3", "image/png": "png", "image/jpeg": "jpg",
    "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp", "video/mp4": "mp4", "video/3gpp": "3gp",
    "audio/amr": "amr", "audio/ogg": "ogg", "text/vcard": "vcf", "text/x-vcard": "vcf", "application/pdf": "pdf",
    "text/plain": "txt",
}  # fmt: skip
FIELDS = ("kind", "record_id", "sid", "url", "content_type", "parent_sid")


class BadJob(ValueError):
    """A job that can never succeed (malformed, or a URL credentials must not go to): dropped, not retried."""


@dataclass(frozen=True)
class Job:
    kind: str
    record_id: str
    sid: str
    url: str
    content_type: str
    parent_sid: str

    @property
    def container_kind(self) -> str:
        return self.kind

    @property
    def blob_name(self) -> str:
        return f"{self.record_id}/{self.sid}.{extension(self.content_type)}"

    @property
    def file_name(self) -> str:
        return self.blob_name.rsplit("/", 1)[1]

    @property
    def download_url(self) -> str:
        """Recordings are fetched as WAV (`RecordingUrl` + `.wav`); MMS media at their URL as they are."""
        return f"{self.url}.wav" if self.kind == RECORDING else self.url

    def canonical(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    def to_message(self, key: bytes) -> str:
        return json.dumps(asdict(self) | {TAG_PARAM: tag(key, QUEUE, self.canonical())}, separators=(",", ":"))

    @classmethod
    def from_message(cls, raw: bytes | str, keys: tuple[bytes, ...]) -> Job:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # also UnicodeDecodeError, and an integer over 4300 digits
            raise BadJob("not JSON") from None
        if not isinstance(data, dict):
            raise BadJob("not a JSON object")
        try:
            job = cls(
                **{key: str(data[key]) for key in ("kind", "record_id", "sid", "url", "content_type", "parent_sid")}
            )
        except KeyError as missing:
            raise BadJob(f"missing {missing}") from None
        check(job)
        if not verify(keys, QUEUE, job.canonical(), data.get(TAG_PARAM)):
            raise BadJob("its tag is not the app's: not a job the app queued")
        return job


def check(job: Job) -> None:
    if job.kind not in (RECORDING, MEDIA):
        raise BadJob(f"unknown kind {job.kind!r}")
    if not ID_PATTERN.fullmatch(job.record_id):
        raise BadJob("bad record id")
    if not (sids.is_recording_sid if job.kind == RECORDING else sids.is_media_sid)(job.sid):
        raise BadJob("bad SID")
    if not job.url.rstrip("/").endswith("/" + job.sid):
        raise BadJob("the URL does not name the SID")


def recording_job(record_id: str, params: dict[str, Any]) -> Job | None:
    """A job from a recording status callback (or a `<Record>` action): only for a completed recording."""
    sid, url = str(params.get("RecordingSid") or ""), str(params.get("RecordingUrl") or "")
    status = str(params.get("RecordingStatus") or "completed")
    if status != "completed" or not sids.is_recording_sid(sid) or not url:
        return None
    job = Job(RECORDING, record_id, sid, url.rstrip("/"), "audio/x-wav", str(params.get("CallSid") or ""))
    try:
        check(job)
    except BadJob:
        return None
    return job


def media_jobs(record_id: str, params: dict[str, Any]) -> list[Job]:
    """Jobs for an inbound MMS: `NumMedia`, `MediaUrl<n>`, `MediaContentType<n>` (at most 10)."""
    try:
        count = min(int(params.get("NumMedia") or 0), MEDIA_LIMIT)
    except ValueError:
        return []
    jobs = []
    message_sid = str(params.get("MessageSid") or params.get("SmsMessageSid") or "")
    for index in range(max(count, 0)):
        url = str(params.get(f"MediaUrl{index}") or "").rstrip("/")
        sid = url.rsplit("/", 1)[-1]
        content_type = str(params.get(f"MediaContentType{index}") or "application/octet-stream").lower()
        job = Job(MEDIA, record_id, sid, url, content_type, message_sid)
        try:
            check(job)
        except BadJob:
            continue
        jobs.append(job)
    return jobs


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";", maxsplit=1)[0].strip().lower(), "bin")


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


TWILIO_API = "https://api.twilio.com"


def credentialed_url(url: str, api_base_url: str, account_sid: str) -> str:
    """The URL to request with Twilio credentials, or BadJob.

    Credentials go only to Twilio's API host (rewritten to TWILIO_API_BASE_URL when that is set, as the
    SDK's requests are) or to TWILIO_API_BASE_URL's own origin, and only under this account's path.
    """
    if origin(url) == origin(TWILIO_API):
        url = api_base_url.rstrip("/") + urlsplit(url).path
    elif origin(url) != origin(api_base_url):
        raise BadJob("the media URL is not on Twilio's API host: no credentials go there")
    path = urlsplit(url).path
    if not path.startswith(f"/2010-04-01/Accounts/{account_sid}/"):
        raise BadJob("the media URL is not under this account")
    return url
