"""The emulator's REST side: the Account, and Calls.json and Messages.json under /2010-04-01/Accounts/{AccountSid}/.

Shaped like Twilio's responses and errors (checked against Twilio's OpenAPI description in tests),
with HTTP Basic auth, per-second rate limits (429 / 20429) and injectable faults.
"""

from __future__ import annotations

import base64
import binascii
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from switchboard.emulator.faults import KINDS, FaultPlan
from switchboard.emulator.resources import (
    API_VERSION,
    TwilioError,
    account_resource,
    call_resource,
    check_call,
    check_message,
    message_resource,
    new_sid,
    now,
    rfc2822,
)

log = logging.getLogger("switchboard.emulator")
LOOPBACK = "127.0.0.1"
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/(?P<kind>Calls|Messages)(?:/(?P<sid>[^/.]+))?\.json$")
_ACCOUNT = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/.]+)\.json$")
FINAL_CALL_UPDATES = ("completed", "canceled")

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
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.tls = tls  # a server context: serve HTTPS (the benchmark's own test CA signs the certificate)
        self._auth_token = auth_token
        self._api_keys = dict(api_keys or {})
        self.rate_limits = dict(rate_limits or {})  # {"calls": per second, "messages": per second}
        self.faults = FaultPlan()
        self.listeners: list[Listener] = []  # called with (kind, resource, form) after a create is answered
        self._lock = threading.Lock()
        self._resources: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self._created: dict[str, list[dict[str, list[str]]]] = {kind: [] for kind in KINDS}
        self._attempts: dict[str, list[dict[str, list[str]]]] = {kind: [] for kind in KINDS}
        self._recent: dict[str, deque[float]] = {kind: deque() for kind in KINDS}
        self._started = now()
        self._server = _Server((LOOPBACK, port), self)
        if tls is not None:
            # The handshake runs in each request's thread (see _Server.finish_request), not in accept().
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Any, *, port: int = 0) -> TwilioEmulator:
        keys = {settings.api_key: settings.api_secret} if settings.api_key and settings.api_secret else {}
        return cls(settings.account_sid, settings.auth_token, port=port, api_keys=keys)

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

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {sid: dict(resource) for sid, resource in self._resources[kind].items()}

    def update_resource(self, kind: str, sid: str, **fields: Any) -> dict[str, Any]:
        """Change a resource as Twilio would while a call or message progresses."""
        with self._lock:
            resource = self._resources[kind][sid]
            resource.update(fields)
            resource["date_updated"] = rfc2822(now())
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
        sid = new_sid("CA" if kind == "calls" else "SM")
        build = call_resource if kind == "calls" else message_resource
        resource = build(self.account_sid, sid, form, now())
        with self._lock:
            self._resources[kind][sid] = resource
            self._created[kind].append(form)
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
        resource = self.fetch("calls", sid)
        status = next(iter(form.get("Status", [])), None)
        if status is not None:
            if status not in FINAL_CALL_UPDATES:
                raise TwilioError(400, 21218, f"Invalid Status: {status}")
            if resource["status"] in ("completed", "canceled", "failed", "busy", "no-answer"):
                raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
            moment = rfc2822(now())
            return self.update_resource("calls", sid, status=status, end_time=moment)
        return resource

    def page(self, kind: str, query: dict[str, str], path: str) -> dict[str, Any]:
        filters = {
            field: query[name]
            for name, field in (("To", "to"), ("From", "from"), ("Status", "status"))
            if name in query
        }
        with self._lock:
            items = [dict(r) for r in self._resources[kind].values() if all(r.get(k) == v for k, v in filters.items())]
        items.reverse()  # newest first, as Twilio lists them
        size = max(1, min(1000, int(query.get("PageSize", "50") or 50)))
        number = max(0, int(query.get("Page", "0") or 0))
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

    def _handle(self) -> None:  # noqa: PLR0911 (one answer per route)
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        account_match = _ACCOUNT.match(parts.path)
        if account_match is not None and self.command == "GET":
            return self._account(account_match["account"], parts.path)
        match = _PATH.match(parts.path)
        if match is None:
            return self._error(TwilioError(404, 20404, f"The requested resource {parts.path} was not found"))
        account, kind, sid = match["account"], match["kind"].lower(), match["sid"]
        if not emulator.authorised(self.headers.get("Authorization"), account):
            return self._error(TwilioError(401, 20003, "Authenticate"))
        if account != emulator.account_sid:
            return self._error(TwilioError(404, 20404, f"The requested resource {parts.path} was not found"))
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            form.setdefault(key, []).append(value)
        try:
            if self.command == "GET" and sid:
                return self._json(200, emulator.fetch(kind, sid))
            if self.command == "GET":
                return self._json(200, emulator.page(kind, dict(parse_qsl(parts.query)), parts.path))
            if sid and kind == "calls":
                return self._json(200, emulator.update_call(sid, form))
            if sid:
                raise TwilioError(405, 20004, "Method not allowed")
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
            return self._error(TwilioError(fault.status, fault.error_code, "Injected fault"))
        resource = emulator.create(kind, form)
        if fault is not None and fault.slow:
            time.sleep(fault.slow)
        self._json(201, resource)
        emulator.notify(kind, resource, form)
        return None

    def _error(self, error: TwilioError) -> None:
        self._json(error.status, error.body())

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            log.debug("Client went away before the answer")
