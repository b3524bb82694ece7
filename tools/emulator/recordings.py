"""The emulator's Recordings and Message Media: Twilio-shaped resources backed by real files.

- `GET /2010-04-01/Accounts/{AC}/Recordings.json` (filter `CallSid`), `Calls/{CA}/Recordings.json`,
  `Recordings/{RE}.json` and `Calls/{CA}/Recordings/{RE}.json` (GET, DELETE -> 204).
- Media: `Recordings/{RE}` and `Recordings/{RE}.wav` (a real WAV made with `wave`); `.mp3` answers
  404 (20404): the emulator has no MP3 encoder. `Messages/{MM}/Media.json`, `Messages/{MM}/Media/{ME}.json`
  (GET, DELETE -> 204) and `Messages/{MM}/Media/{ME}` (a real PNG).
- Media requests answer `302 Found` to a storage path (`/_storage/<unguessable token>`), as Twilio
  redirects to its storage host. With `enforce_auth` (the default here; Twilio's "Enforce HTTP Auth on
  Media URLs" setting) a media request needs Basic auth; without it, anyone with the URL may fetch.
  The storage path refuses a request that carries an `Authorization` header (400), as S3 refuses a
  presigned URL sent with a second credential: a client must follow the redirect without its credentials.
"""

from __future__ import annotations

import io
import math
import re
import secrets
import struct
import threading
import time
import wave
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tools.emulator.resources import API_VERSION, TwilioError, new_sid, now, rfc2822

TWILIO_API = "https://api.twilio.com"
STORAGE_PREFIX = "/_storage/"
# Not Twilio's: how a call walked in another process (the CLI, `make demo`) leaves its recordings here.
REGISTER_PREFIX = "/_emulator/media/"
LINK_SECONDS = 600.0  # a storage link works for ten minutes, like a short presigned URL
MAX_LINKS = 1000
MAX_WAV_SECONDS = 30  # the generated file is capped; the resource still reports the full duration
SAMPLE_RATE = 8000  # Twilio records at 8 kHz, 16-bit PCM

_ACCOUNT = r"^/" + API_VERSION + r"/Accounts/(?P<account>[^/]+)"
RECORDING_PATH = re.compile(
    _ACCOUNT + r"(?:/Calls/(?P<call>CA[0-9a-fA-F]{32}))?/Recordings(?:/(?P<sid>[^/.]+))?(?P<ext>\.json|\.wav|\.mp3)?$"
)
MEDIA_PATH = re.compile(_ACCOUNT + r"/Messages/(?P<message>[^/]+)/Media(?:/(?P<sid>[^/.]+))?(?P<ext>\.json)?$")


def wav_bytes(seconds: int, *, tone: float = 440.0) -> bytes:
    """A real mono 16-bit 8 kHz WAV: a soft tone, at most MAX_WAV_SECONDS long."""
    frames = SAMPLE_RATE * max(1, min(seconds, MAX_WAV_SECONDS))
    samples = (int(6000 * math.sin(2 * math.pi * tone * i / SAMPLE_RATE)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return buffer.getvalue()


def png_bytes(index: int = 0, size: int = 32) -> bytes:
    """A real `size` x `size` RGB PNG, one colour per index."""
    colour = bytes(((index * 97 + 40) % 256, (index * 57 + 120) % 256, (index * 31 + 200) % 256))
    raw = b"".join(b"\x00" + colour * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass
class _Link:
    body: bytes
    content_type: str
    expires: float


class MediaLibrary:
    """Recordings and message media of one emulated account, and the short-lived storage links to them."""

    def __init__(self, account_sid: str, *, enforce_auth: bool = True) -> None:
        self.account_sid = account_sid
        self.enforce_auth = enforce_auth
        self._lock = threading.Lock()
        self._recordings: dict[str, dict[str, Any]] = {}
        self._recording_files: dict[str, bytes] = {}
        self._media: dict[str, dict[str, Any]] = {}
        self._media_files: dict[str, tuple[bytes, str]] = {}
        self._links: dict[str, _Link] = {}
        self._failures = 0
        self.requests: list[tuple[str, bool]] = []  # (path, carried credentials) of every media request
        self.deleted: list[str] = []  # SIDs deleted through the API, in order

    # --- creating (the call walker and the inbound simulation) ---------------------------
    def add_recording(
        self, call_sid: str, *, sid: str | None = None, duration: int = 5, source: str = "RecordVerb"
    ) -> dict[str, Any]:
        sid = sid or new_sid("RE")
        moment = rfc2822(now())
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"
        resource = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "call_sid": call_sid,
            "conference_sid": None, "date_created": moment, "date_updated": moment, "start_time": moment,
            "duration": str(duration), "sid": sid, "price": None, "price_unit": "USD", "status": "completed",
            "channels": 1, "source": source, "error_code": None, "uri": base + ".json", "encryption_details": None,
            "subresource_uris": {
                "add_on_results": base + "/AddOnResults.json", "transcriptions": base + "/Transcriptions.json",
            },
            "media_url": TWILIO_API + base,
        }  # fmt: skip
        with self._lock:
            if sid not in self._recordings:  # the same walk gives the same SID: keep the first
                self._recordings[sid] = resource
                self._recording_files[sid] = wav_bytes(duration)
            return dict(self._recordings[sid])

    def recording_url(self, sid: str) -> str:
        """The `RecordingUrl` Twilio sends in callbacks: api.twilio.com, without an extension."""
        return f"{TWILIO_API}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def add_message_media(self, message_sid: str, count: int) -> list[tuple[str, str]]:
        """`count` PNGs on an inbound message; returns (MediaUrl, MediaContentType) pairs as Twilio sends them."""
        pairs = []
        moment = rfc2822(now())
        with self._lock:
            for index in range(count):
                sid = new_sid("ME")
                path = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{sid}"
                self._media[sid] = {
                    "account_sid": self.account_sid, "content_type": "image/png", "date_created": moment,
                    "date_updated": moment, "parent_sid": message_sid, "sid": sid, "uri": path + ".json",
                }  # fmt: skip
                self._media_files[sid] = (png_bytes(index), "image/png")
                pairs.append((TWILIO_API + path, "image/png"))
        return pairs

    # --- inspection and faults (tests) ---------------------------------------------------------
    def recordings(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {sid: dict(resource) for sid, resource in self._recordings.items()}

    def media(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {sid: dict(resource) for sid, resource in self._media.items()}

    def recording_file(self, sid: str) -> bytes | None:
        with self._lock:
            return self._recording_files.get(sid)

    def fail_next(self, count: int) -> None:
        """The next `count` media requests answer 500, as a storage hiccup would."""
        with self._lock:
            self._failures = count

    # --- HTTP ------------------------------------------------------------------------------------
    def handles(self, path: str) -> bool:
        if path.startswith((STORAGE_PREFIX, REGISTER_PREFIX)):
            return True
        return bool(RECORDING_PATH.match(path) or MEDIA_PATH.match(path))

    def register(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        """POST /_emulator/media/recordings (CallSid, RecordingSid, Duration) or /_emulator/media/messages
        (MessageSid, Count): create them here, for a walker running in another process."""
        kind = path[len(REGISTER_PREFIX) :].strip("/")
        try:
            if kind == "recordings":
                sid = form.get("RecordingSid") or None
                if sid is not None and not re.fullmatch(r"RE[0-9a-fA-F]{32}", sid):
                    raise ValueError("RecordingSid")
                call = form["CallSid"]
                return self.add_recording(call, sid=sid, duration=int(form.get("Duration") or 5))
            if kind == "messages":
                pairs = self.add_message_media(form["MessageSid"], min(int(form.get("Count") or 1), 10))
                return {"media": [{"url": url, "content_type": content_type} for url, content_type in pairs]}
        except (KeyError, ValueError) as error:
            raise TwilioError(400, 21000, f"Invalid parameter {error}") from None
        raise TwilioError(404, 20404, f"The requested resource {path} was not found")

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        *,
        authorised: bool,
        origin: str,
        has_credentials: bool,
        form: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes | dict[str, Any] | None]:
        """(status, headers, body): body is JSON (a dict), raw bytes, or None for no body."""
        if path.startswith(STORAGE_PREFIX):
            return self._storage(path[len(STORAGE_PREFIX) :], has_credentials)
        if path.startswith(REGISTER_PREFIX):
            if not authorised:
                raise TwilioError(401, 20003, "Authenticate")
            if method != "POST":
                raise TwilioError(405, 20004, "Method not allowed")
            return 201, {}, self.register(path, form or {})
        recording = RECORDING_PATH.match(path)
        found = recording or MEDIA_PATH.match(path)
        assert found is not None
        is_media_file = found["sid"] is not None and found["ext"] != ".json"
        if is_media_file:
            with self._lock:
                self.requests.append((path, has_credentials))
                del self.requests[:-MAX_LINKS]  # bounded in a long `make run`
        if not authorised and not (is_media_file and not self.enforce_auth):
            raise TwilioError(401, 20003, "Authenticate")
        if found["account"] != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if recording:
            return self._recording(method, path, query, recording, origin)
        return self._message_media(method, path, query, found, origin)

    def _recording(
        self, method: str, path: str, query: dict[str, str], found: re.Match[str], origin: str
    ) -> tuple[int, dict[str, str], bytes | dict[str, Any] | None]:
        sid, call, ext = found["sid"], found["call"], found["ext"]
        if sid is None:
            if method != "GET" or ext != ".json":
                raise TwilioError(405, 20004, "Method not allowed")
            call = call or query.get("CallSid")
            with self._lock:
                items = [dict(r) for r in self._recordings.values() if call is None or r["call_sid"] == call]
            return 200, {}, _page("recordings", items, query, path)
        with self._lock:
            resource = self._recordings.get(sid)
        if resource is None or (call is not None and resource["call_sid"] != call):
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if answer := self._delete_or_fetch(
            method, ext, sid, resource, resources=self._recordings, files=self._recording_files
        ):
            return answer
        if ext == ".mp3":
            raise TwilioError(404, 20404, f"The requested resource {path} was not found (the emulator makes no MP3)")
        with self._lock:
            body = self._recording_files[sid]
        return self._redirect(body, "audio/x-wav", origin)

    def _delete_or_fetch(
        self,
        method: str,
        ext: str | None,
        sid: str,
        resource: dict[str, Any],
        *,
        resources: dict[str, Any],
        files: dict[str, Any],
    ) -> tuple[int, dict[str, str], dict[str, Any] | None] | None:
        """DELETE of the resource (204), or its JSON on GET; None when the media itself is asked for."""
        if method == "DELETE" and ext == ".json":
            with self._lock:
                resources.pop(sid, None)
                files.pop(sid, None)
                self.deleted.append(sid)
            return 204, {}, None
        if method != "GET":
            raise TwilioError(405, 20004, "Method not allowed")
        if ext == ".json":
            return 200, {}, dict(resource)
        return None

    def _message_media(
        self, method: str, path: str, query: dict[str, str], found: re.Match[str], origin: str
    ) -> tuple[int, dict[str, str], bytes | dict[str, Any] | None]:
        message, sid, ext = found["message"], found["sid"], found["ext"]
        if sid is None:
            if method != "GET" or ext != ".json":
                raise TwilioError(405, 20004, "Method not allowed")
            with self._lock:
                items = [dict(m) for m in self._media.values() if m["parent_sid"] == message]
            return 200, {}, _page("media_list", items, query, path)
        with self._lock:
            resource = self._media.get(sid)
        if resource is None or resource["parent_sid"] != message:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if answer := self._delete_or_fetch(method, ext, sid, resource, resources=self._media, files=self._media_files):
            return answer
        with self._lock:
            body, content_type = self._media_files[sid]
        return self._redirect(body, content_type, origin)

    def _redirect(
        self, body: bytes, content_type: str, origin: str
    ) -> tuple[int, dict[str, str], bytes | dict[str, Any] | None]:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                raise TwilioError(500, 20500, "Internal Server Error")
            moment = time.monotonic()
            for token in [t for t, link in self._links.items() if link.expires < moment][:MAX_LINKS]:
                del self._links[token]
            while len(self._links) >= MAX_LINKS:
                del self._links[next(iter(self._links))]
            token = secrets.token_urlsafe(32)
            self._links[token] = _Link(body, content_type, moment + LINK_SECONDS)
        return 302, {"Location": f"{origin}{STORAGE_PREFIX}{token}"}, None

    def _storage(self, token: str, has_credentials: bool) -> tuple[int, dict[str, str], bytes | dict[str, Any] | None]:
        if has_credentials:
            message = b"Only one auth mechanism allowed: the link is the credential"
            return 400, {"Content-Type": "text/plain"}, message
        with self._lock:
            link = self._links.get(token)
        if link is None or link.expires < time.monotonic():
            return 403, {"Content-Type": "text/plain"}, b"Request has expired or the link is unknown"
        return 200, {"Content-Type": link.content_type}, link.body


def _page(key: str, items: list[dict[str, Any]], query: dict[str, str], path: str) -> dict[str, Any]:
    """One page of a list, newest first, with Twilio's paging fields."""
    items = list(reversed(items))
    try:
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        number = max(0, int(query.get("Page") or 0))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid paging parameter") from None
    start = number * size
    chunk = items[start : start + size]
    base = {k: v for k, v in query.items() if k not in ("Page", "PageToken")} | {"PageSize": str(size)}

    def uri(page: int) -> str:
        return f"{path}?{urlencode(base | {'Page': str(page)})}"

    return {
        key: chunk, "end": start + max(len(chunk) - 1, 0), "first_page_uri": uri(0),
        "next_page_uri": uri(number + 1) if start + size < len(items) else None, "page": number,
        "page_size": size, "previous_page_uri": uri(number - 1) if number > 0 else None, "start": start,
        "uri": uri(number),
    }  # fmt: skip


def recording_callback_params(
    account_sid: str, call_sid: str, resource: dict[str, Any], url: str, source: str
) -> dict[str, str]:
    """What Twilio posts to a recordingStatusCallback when a recording completes."""
    return {
        "AccountSid": account_sid, "CallSid": call_sid, "RecordingSid": resource["sid"], "RecordingUrl": url,
        "RecordingStatus": "completed", "RecordingDuration": str(resource["duration"]), "RecordingChannels": "1",
        "RecordingSource": source, "RecordingStartTime": str(resource["start_time"]), "ErrorCode": "0",
    }  # fmt: skip


class RemoteMedia:
    """A MediaLibrary in another process (a running `python -m tools.emulator`), for call walkers."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str, *, session: Any = None) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self._session = session or requests.Session()

    def recording_url(self, sid: str) -> str:
        return f"{TWILIO_API}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def add_recording(
        self, call_sid: str, *, sid: str | None = None, duration: int = 5, source: str = "RecordVerb"
    ) -> dict[str, Any]:
        form = {"CallSid": call_sid, "Duration": str(duration)} | ({"RecordingSid": sid} if sid else {})
        return self._post("recordings", form)

    def add_message_media(self, message_sid: str, count: int) -> list[tuple[str, str]]:
        answer = self._post("messages", {"MessageSid": message_sid, "Count": str(count)})
        return [(str(item["url"]), str(item["content_type"])) for item in answer["media"]]

    def _post(self, kind: str, form: dict[str, str]) -> dict[str, Any]:
        response = self._session.post(f"{self.base_url}{REGISTER_PREFIX}{kind}", data=form, auth=self._auth, timeout=10)
        response.raise_for_status()
        return dict(response.json())
