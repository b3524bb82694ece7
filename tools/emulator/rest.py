"""The emulator's REST side: the Account, and Calls.json and Messages.json under /2010-04-01/Accounts/{AccountSid}/.

Shaped like Twilio's responses and errors (checked against Twilio's OpenAPI description in tests),
with HTTP Basic auth, per-second rate limits (429 / 20429) and injectable faults.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from tools.emulator.callflow import DialLeg
from tools.emulator.faults import HOLD_LIMIT_SECONDS, KINDS, FaultPlan
from tools.emulator.numbers import PhoneNumbers
from tools.emulator.recordings import MediaLibrary
from tools.emulator.resources import (
    API_VERSION,
    SimClock,
    TwilioError,
    account_resource,
    call_resource,
    check_call,
    check_message,
    check_schedule,
    list_filter_value,
    matches_time,
    message_resource,
    new_sid,
    public,
    rfc2822,
    rfc2822_to_datetime,
)
from tools.emulator.sendqueue import SendPacing, SendQueues

log = logging.getLogger("tools.emulator")
LOOPBACK = "127.0.0.1"
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/(?P<kind>Calls|Messages)(?:/(?P<sid>[^/.]+))?\.json$")
_ACCOUNT = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/.]+)\.json$")
_NUMBERS = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers(?:/(?P<sid>[^/.]+))?\.json$")
FINAL_CALL_UPDATES = ("completed", "canceled")
ENDED_CALL = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})
# A message can be deleted (or its body redacted) once Twilio is done delivering it.
DONE_MESSAGE = frozenset({"sent", "delivered", "undelivered", "failed", "received", "read", "canceled"})
MAX_PAGE_SIZE = 1000
# List filters as Twilio's OpenAPI description names them: (query name, resource field).
EQUALITY_FILTERS = {
    "calls": (("To", "to"), ("From", "from"), ("ParentCallSid", "parent_call_sid"), ("Status", "status")),
    "messages": (("To", "to"), ("From", "from")),
}
TIME_FILTERS = {
    "calls": (("StartTime", "start_time"), ("EndTime", "end_time")),
    "messages": (("DateSent", "date_sent"),),
}


@dataclass(frozen=True)
class Redirect:
    """A live call update: the TwiML the call runs next (Twiml), or where to fetch it (Url, Method)."""

    url: str | None
    method: str
    twiml: str | None


Listener = Callable[[str, dict[str, Any], dict[str, list[str]]], None]


class TwilioEmulator:
    """Twilio's REST contract on 127.0.0.1 for tests and local runs."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        port: int = 0,
        api_keys: dict[str, str] | None = None,
        rate_limits: dict[str, float] | None = None,
        concurrency: int | None = None,
        tls: ssl.SSLContext | None = None,
        pacing: SendPacing | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.tls = tls  # a server context: serve HTTPS (the benchmark's own test CA signs the certificate)
        self._auth_token = auth_token
        self._api_keys = dict(api_keys or {})
        self.rate_limits = dict(rate_limits or {})  # {"calls": per second, "messages": per second}
        # Twilio's API concurrency: REST requests of the account in flight at once; above it, 429 (20429).
        self.concurrency = concurrency
        self._in_flight = 0
        self.refused_for_concurrency = 0
        self.faults = FaultPlan()
        # Twilio's send queues (tools/emulator/sendqueue.py): per-sender message rate, account call rate, 21611/22005.
        self.send_queues = SendQueues(pacing)
        self._slots: dict[str, float] = {}  # sid -> when it leaves the send queue (epoch seconds)
        # sid -> (SendAt, the create form) of a message still `scheduled`
        self._scheduled: dict[str, tuple[datetime.datetime, dict[str, list[str]]]] = {}
        self._created_at: dict[str, list[float]] = {kind: [] for kind in KINDS}  # epoch seconds of each create
        self.listeners: list[Listener] = []  # called with (kind, resource, form) after a create is answered
        self.clock = SimClock()
        self._redirects: dict[str, Redirect] = {}
        self._lock = threading.Lock()
        self._resources: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._created: dict[str, list[dict[str, list[str]]]] = {kind: [] for kind in KINDS}
        self._attempts: dict[str, list[dict[str, list[str]]]] = {kind: [] for kind in KINDS}
        self._lists: dict[str, int] = dict.fromkeys(KINDS, 0)  # list (page) requests, for tests
        self._recent: dict[str, deque[float]] = {kind: deque() for kind in KINDS}
        self._started = self.clock.now()
        self.media = MediaLibrary(account_sid)  # Recordings and message Media (tools.emulator.recordings)
        self.numbers = PhoneNumbers(account_sid)  # IncomingPhoneNumbers (tools.emulator.numbers)
        self._server = _Server((LOOPBACK, port), self)
        if tls is not None:
            # The handshake runs in each request's thread (see _Server.finish_request), not in accept().
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Any, *, port: int = 0) -> TwilioEmulator:
        keys = {settings.api_key: settings.api_secret} if settings.api_key and settings.api_secret else {}
        emulator = cls(settings.account_sid, settings.auth_token, port=port, api_keys=keys)
        if getattr(settings, "phone_number", None):  # the app's number is on the account, not yet wired
            emulator.numbers.add(settings.phone_number)
        return emulator

    @property
    def auth_token(self) -> str:
        """The token the emulator signs its webhooks with (Twilio signs with the account's auth token)."""
        return self._auth_token

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    def start(self) -> TwilioEmulator:
        self._thread = threading.Thread(target=self.serve_forever, name="twilio-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=10)

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.05)  # a short poll keeps stop() quick

    def __enter__(self) -> TwilioEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- inspection (for tests and the chaos report) -----------------------------------------
    def created(self, kind: str) -> list[dict[str, list[str]]]:
        with self._lock:
            return list(self._created[kind])

    def attempts(self, kind: str) -> list[dict[str, list[str]]]:
        with self._lock:
            return list(self._attempts[kind])

    def lists(self, kind: str) -> int:
        """How many times a list of `kind` was read (the worker's reconciliation asks this way)."""
        with self._lock:
            return self._lists[kind]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {sid: dict(resource) for sid, resource in self._resources[kind].items()}

    def update_resource(self, kind: str, sid: str, **fields: Any) -> dict[str, Any]:
        """Change a resource as Twilio would while a call or message progresses."""
        with self._lock:
            resource = self._resources[kind].get(sid)
            if resource is None:  # deleted over REST meanwhile: Twilio keeps nothing to update either
                return {}
            resource.update(fields)
            resource["date_updated"] = rfc2822(self.clock.now())
            return dict(resource)

    # --- request handling ----------------------------------------------------------------
    def authorised(self, header: str | None, account: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if user == self.account_sid:
            return hmac.compare_digest(password, self._auth_token)
        secret = self._api_keys.get(user)
        return secret is not None and account == self.account_sid and hmac.compare_digest(password, secret)

    def enter(self) -> bool:
        """Count a REST request in; False (and nothing counted) when the account is at its concurrency limit."""
        with self._lock:
            if self.concurrency is not None and self._in_flight >= self.concurrency:
                self.refused_for_concurrency += 1
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def rate_limited(self, kind: str) -> bool:
        limit = self.rate_limits.get(kind)
        if not limit:
            return False
        moment = time.monotonic()
        with self._lock:
            window = self._recent[kind]
            while window and moment - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(moment)
            return False

    def create(self, kind: str, form: dict[str, list[str]]) -> dict[str, Any]:
        (check_call if kind == "calls" else check_message)(form)
        send_at = check_schedule(form, self.clock.now()) if kind == "messages" else None
        sid = new_sid("CA" if kind == "calls" else "SM")
        if kind == "calls":
            resource = call_resource(self.account_sid, sid, form, self.clock.now())
        else:
            resource = message_resource(self.account_sid, sid, form, self.clock.now(), scheduled=send_at is not None)
        if send_at is not None:  # it waits, outside any send queue, until release_scheduled finds it due
            with self._lock:
                self._resources[kind][sid] = resource
                self._created[kind].append(form)
                self._created_at[kind].append(time.time())
                self._scheduled[sid] = (send_at, form)
            return dict(resource)
        sender = str(resource.get("messaging_service_sid") or resource.get("from") or "")
        slot = self.send_queues.admit(kind, sender, int(resource.get("num_segments") or 1))
        with self._lock:
            self._resources[kind][sid] = resource
            self._created[kind].append(form)
            self._created_at[kind].append(time.time())
            self._slots[sid] = slot
        return dict(resource)

    def scheduled_at(self, sid: str) -> datetime.datetime | None:
        """The SendAt of a message still `scheduled`; None once released or canceled."""
        with self._lock:
            waiting = self._scheduled.get(sid)
        return waiting[0] if waiting else None

    def release_scheduled(self) -> list[str]:
        """Send the scheduled messages whose SendAt has come by the emulator's clock, as Twilio would then.

        Each becomes `accepted` (a Messaging Service's first status), joins its send queue and is played
        by the listeners like a message just created. Tests on a frozen clock call it after advancing it;
        the progress simulator calls it at each SendAt. Returns the SIDs released.
        """
        now = self.clock.now()
        with self._lock:
            due = {sid: form for sid, (moment, form) in self._scheduled.items() if moment <= now}
            for sid in due:
                del self._scheduled[sid]
        released = []
        for sid, form in due.items():
            resource = self.update_resource("messages", sid, status="accepted")
            sender = str(resource.get("messaging_service_sid") or resource.get("from") or "")
            slot = self.send_queues.admit("messages", sender, int(resource.get("num_segments") or 1))
            with self._lock:
                self._slots[sid] = slot
            self.notify("messages", resource, form)
            released.append(sid)
        return released

    def slot_of(self, sid: str) -> float | None:
        """When a created call or message leaves its send queue (epoch seconds); it stays `queued` until then."""
        with self._lock:
            return self._slots.get(sid)

    def created_times(self, kind: str) -> list[float]:
        """When each create was carried out (epoch seconds), in order: the rate a client kept."""
        with self._lock:
            return list(self._created_at[kind])

    def add_child_call(self, parent_sid: str, leg: DialLeg, from_: str, placed: datetime.datetime) -> dict[str, Any]:
        """A call a <Dial> placed: listed with `ParentCallSid`, direction `outbound-dial`, as Twilio lists them."""
        sid, status, duration = leg.sid, leg.status, leg.duration
        resource = call_resource(self.account_sid, sid, {"To": [leg.to], "From": [from_]}, placed)
        answered = status == "completed"
        ended = placed + datetime.timedelta(seconds=duration)
        resource |= {
            "parent_call_sid": parent_sid, "direction": "outbound-dial", "status": status,
            "start_time": rfc2822(placed) if answered else None, "end_time": rfc2822(ended) if answered else None,
            "duration": str(duration), "date_updated": rfc2822(ended),
        }  # fmt: skip
        self.clock.advance_to(ended)
        with self._lock:
            self._resources["calls"][sid] = resource
        return dict(resource)

    def record_attempt(self, kind: str, form: dict[str, list[str]]) -> None:
        with self._lock:
            self._attempts[kind].append(form)

    def account(self) -> dict[str, Any]:
        return account_resource(self.account_sid, self._started)

    def fetch(self, kind: str, sid: str) -> dict[str, Any]:
        with self._lock:
            resource = self._resources[kind].get(sid)
        if resource is None:
            raise TwilioError(404, 20404, f"The requested resource /{API_VERSION}/Accounts/{self.account_sid}/"
                                          f"{kind.title()}/{sid}.json was not found")  # fmt: skip
        return dict(resource)

    def update_call(self, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
        """Twilio's call update: `Status` ends it; `Url` or `Twiml` redirects it to new TwiML, now if it is
        in progress, once it is answered if it is still queued or ringing. An ended call answers 21220."""
        resource = self.fetch("calls", sid)
        status = _first(form, "Status")
        url, twiml = _first(form, "Url"), _first(form, "Twiml")
        if status is not None and status not in FINAL_CALL_UPDATES:
            raise TwilioError(400, 21218, f"Invalid Status: {status}")
        if (status is not None or url is not None or twiml is not None) and resource["status"] in ENDED_CALL:
            raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        if status is not None:
            if status == "canceled" and resource["status"] == "in-progress":
                return resource  # Twilio: canceled affects only a queued or ringing call
            fields: dict[str, Any] = {"status": status}
            if status == "completed":
                fields["end_time"] = rfc2822(self.clock.now())
            with self._lock:
                self._redirects.pop(sid, None)
            return self.update_resource("calls", sid, **fields)
        if url is not None or twiml is not None:
            method = (_first(form, "Method") or "POST").upper()
            with self._lock:
                self._redirects[sid] = Redirect(url if twiml is None else None, method, twiml)
            return self.update_resource("calls", sid)
        return resource

    def has_redirect(self, sid: str) -> bool:
        with self._lock:
            return sid in self._redirects

    def take_redirect(self, sid: str) -> Redirect | None:
        """The call's pending live update, if any (for the walker): taken once."""
        with self._lock:
            return self._redirects.pop(sid, None)

    def update_message(self, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
        """Twilio's message update: `Body=""` redacts a message Twilio is done with; `Status=canceled` only
        cancels a message that is still `scheduled`; any other is 30409."""
        resource = self.fetch("messages", sid)
        status = _first(form, "Status")
        if status is not None:
            with self._lock:
                scheduled = status == "canceled" and self._scheduled.pop(sid, None) is not None
            if not scheduled:
                raise TwilioError(400, 30409, "This message cannot be canceled")
            return self.update_resource("messages", sid, status="canceled")
        body = _first(form, "Body")
        if body is None:
            return resource
        if body != "":
            raise TwilioError(400, 20001, "Body can only be updated to an empty string (redaction)")
        if resource["status"] not in DONE_MESSAGE:
            raise TwilioError(400, 20009, "Cannot redact a message that is still being delivered")
        return self.update_resource("messages", sid, body="")

    def delete(self, kind: str, sid: str) -> None:
        """Twilio's DELETE: 204 for a finished call or message; 20009 while it is still going."""
        resource = self.fetch(kind, sid)
        done = resource["status"] in (ENDED_CALL if kind == "calls" else DONE_MESSAGE)
        if not done:
            what = "call" if kind == "calls" else "message"
            raise TwilioError(400, 20009, f"Cannot delete this {what} before it is complete ({resource['status']})")
        with self._lock:
            self._resources[kind].pop(sid, None)
            self._redirects.pop(sid, None)

    def page(self, kind: str, query: dict[str, str], path: str) -> dict[str, Any]:
        size = _paging_number(query, "PageSize", 50, 1, MAX_PAGE_SIZE)
        number = _paging_number(query, "Page", 0, 0, None)
        checks = [(field, query[name]) for name, field in EQUALITY_FILTERS[kind] if name in query]
        timed = [
            (field, operator, *list_filter_value(name + operator, query[name + operator]))
            for name, field in TIME_FILTERS[kind]
            for operator in ("", ">", "<")
            if query.get(name + operator)
        ]
        with self._lock:
            self._lists[kind] += 1
            items = [
                dict(r)
                for r in self._resources[kind].values()
                if all(r.get(k) == v for k, v in checks)
                and all(matches_time(rfc2822_to_datetime(r.get(k)), op, bound, day) for k, op, bound, day in timed)
            ]
        items = [_public(kind, item) for item in reversed(items)]  # newest first, as Twilio lists them
        start = number * size
        chunk = items[start : start + size]
        base = {k: v for k, v in query.items() if k not in ("Page", "PageToken")} | {"PageSize": str(size)}
        next_uri = f"{path}?{urlencode(base | {'Page': str(number + 1)})}" if start + size < len(items) else None
        previous_uri = f"{path}?{urlencode(base | {'Page': str(number - 1)})}" if number > 0 else None
        first_uri = f"{path}?{urlencode(base | {'Page': '0'})}"
        return {
            kind: chunk, "end": start + max(len(chunk) - 1, 0), "first_page_uri": first_uri,
            "next_page_uri": next_uri, "page": number, "page_size": size, "previous_page_uri": previous_uri,
            "start": start, "uri": f"{path}?{urlencode(base | {'Page': str(number)})}",
        }  # fmt: skip

    def notify(self, kind: str, resource: dict[str, Any], form: dict[str, list[str]]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, resource, form)
            except Exception:
                log.exception("Emulator listener failed for %s", resource.get("sid"))


def _public(kind: str, resource: dict[str, Any]) -> dict[str, Any]:
    """What the REST API answers: a message without the options only the emulator's resource echoes."""
    return public(resource) if kind == "messages" else resource


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _paging_number(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """`PageSize` / `Page` as Twilio reads them; a bad value is a 400 with Twilio's error JSON, not a crash."""
    raw = query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise TwilioError(400, 20001, f"Invalid {name}: {raw!r}; must be an integer {bounds}")
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: TwilioEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(10)
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies mid-request (a killed worker) is expected here, not worth a traceback on stderr.
        log.debug("Connection from %s ended abruptly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms for each answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)  # http.server's own format

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header from the emulator's clock, so it agrees with the resources' times."""
        return format_datetime(self.server.emulator.clock.now(), usegmt=True)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Twilio answers every error with its JSON, never http.server's HTML page."""
        if code == 501:  # a method http.server has no handler for
            error = TwilioError(405, 20004, f"Method not allowed: {self.command}")
        else:
            error = TwilioError(code, 20001 if code < 500 else 20500, message or self.responses.get(code, ("",))[0])
        self.close_connection = True
        if self.command == "HEAD" or code < 200 or code in (204, 304):
            self.send_response(error.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._error(error)

    def _handle(self) -> None:  # noqa: PLR0911 (one answer per route)
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        account_match = _ACCOUNT.match(parts.path)
        if account_match is not None and self.command == "GET":
            return self._account(account_match["account"], parts.path)
        numbers = _NUMBERS.match(parts.path)
        if numbers is not None:
            return self._numbers(numbers["account"], numbers["sid"], parts, raw)
        if emulator.media.handles(parts.path):
            return self._media(parts.path, dict(parse_qsl(parts.query)), dict(parse_qsl(raw)))
        match = _PATH.match(parts.path)
        if match is None:
            return self._error(TwilioError(404, 20404, f"The requested resource {parts.path} was not found"))
        account, kind, sid = match["account"], match["kind"].lower(), match["sid"]
        if not emulator.authorised(self.headers.get("Authorization"), account):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        if account != emulator.account_sid:
            return self._error(TwilioError(404, 20404, f"The requested resource {parts.path} was not found"))
        if not emulator.enter():
            return self._error(TwilioError(429, 20429, "Too Many Requests: concurrency limit exceeded"))
        try:
            return self._rest(kind, sid, parts, raw)
        finally:
            emulator.leave()

    def _rest(self, kind: str, sid: str | None, parts: SplitResult, raw: str) -> None:  # noqa: PLR0911 (one per route)
        emulator = self.server.emulator
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            form.setdefault(key, []).append(value)
        try:
            if self.command not in ("GET", "POST") and not (self.command == "DELETE" and sid):
                raise TwilioError(405, 20004, f"Method not allowed: {self.command}")
            if self.command == "GET" and sid:
                return self._json(200, _public(kind, emulator.fetch(kind, sid)))
            if self.command == "GET":
                return self._json(200, emulator.page(kind, dict(parse_qsl(parts.query)), parts.path))
            if self.command == "DELETE" and sid:
                emulator.delete(kind, sid)
                return self._empty(204)
            if sid and kind == "calls":
                return self._json(200, emulator.update_call(sid, form))
            if sid:
                return self._json(200, public(emulator.update_message(sid, form)))
            return self._create(kind, form)
        except TwilioError as error:
            return self._error(error)

    def _account(self, account: str, path: str) -> None:
        emulator = self.server.emulator
        if not emulator.authorised(self.headers.get("Authorization"), account):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        if account != emulator.account_sid:
            return self._error(TwilioError(404, 20404, f"The requested resource {path} was not found"))
        return self._json(200, emulator.account())

    def _numbers(self, account: str, sid: str | None, parts: Any, raw: str) -> None:
        emulator = self.server.emulator
        if not emulator.authorised(self.headers.get("Authorization"), account):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        if account != emulator.account_sid:
            return self._error(TwilioError(404, 20404, f"The requested resource {parts.path} was not found"))
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            form.setdefault(key, []).append(value)
        try:
            if self.command == "GET" and sid:
                return self._json(200, emulator.numbers.get(sid))
            if self.command == "GET":
                return self._json(200, emulator.numbers.page(dict(parse_qsl(parts.query)), parts.path))
            if self.command == "POST" and sid:
                return self._json(200, emulator.numbers.update(sid, form))
            raise TwilioError(405, 20004, f"Method not allowed: {self.command}")  # buying numbers is not emulated
        except TwilioError as error:
            return self._error(error)

    def _create(self, kind: str, form: dict[str, list[str]]) -> None:
        emulator = self.server.emulator
        emulator.record_attempt(kind, form)
        if emulator.rate_limited(kind):
            return self._error(TwilioError(429, 20429, "Too Many Requests"))
        fault = emulator.faults.next(kind)
        if fault is not None and fault.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault is not None and fault.status is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.created:  # Twilio carried it out, then answered with an error
                resource = emulator.create(kind, form)
                self._error(TwilioError(fault.status, fault.error_code, "Injected fault (after create)"), headers)
                emulator.notify(kind, resource, form)
                return None
            return self._error(TwilioError(fault.status, fault.error_code, "Injected fault"), headers)
        resource = emulator.create(kind, form)
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        if fault is not None and fault.hold is not None:
            fault.hold.wait(HOLD_LIMIT_SECONDS)
        self._json(201, _public(kind, resource))
        emulator.notify(kind, resource, form)
        return None

    def _media(self, path: str, query: dict[str, str], form: dict[str, str]) -> None:
        emulator = self.server.emulator
        header = self.headers.get("Authorization")
        match = re.match(rf"^/{API_VERSION}/Accounts/([^/]+)/", path)
        authorised = emulator.authorised(header, match.group(1) if match else "")
        try:
            status, headers, body = emulator.media.answer(
                self.command, path, query, authorised=authorised, origin=emulator.base_url,
                has_credentials=header is not None, form=form,
            )  # fmt: skip
        except TwilioError as error:
            return self._error(error)
        if isinstance(body, dict):
            return self._json(status, body)
        data = body or b""
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("Client went away before the answer")
        return None

    def _empty(self, status: int) -> None:
        try:
            self.send_response(status)
            self.end_headers()
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("Client went away before the answer")

    def _error(self, error: TwilioError, headers: dict[str, str] | None = None) -> None:
        self._json(error.status, error.body(), headers)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("Client went away before the answer")
