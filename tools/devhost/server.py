"""HTTP side of the local host: /api/<route>, declared methods, auth levels, response headers."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from tools.devhost.index import HttpFunction, OutputQueue
from tools.devhost.invoke import invoke

log = logging.getLogger("tools.devhost")

# The Functions host refuses bodies over 100 MB; the local host is a dev tool and caps lower.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# The names this server answers to: a page on another site cannot reach it through DNS rebinding (its Host
# would be that site's name), nor post to it from a browser (its Origin would be that site's).
LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def host_name(value: str | None) -> str | None:
    """`127.0.0.1:7071` -> `127.0.0.1`; `[::1]:7071` -> `::1`; an Origin's `http://localhost:7071` -> `localhost`."""
    if not value:
        return None
    text = value.strip()
    if "//" not in text:
        text = "//" + text
    try:
        return (urlsplit(text).hostname or "").lower() or None
    except ValueError:
        return None


def host_params(query: str) -> dict[str, str]:
    """`req.params` as the Functions host builds it: empty values dropped, repeated keys joined with ","."""
    joined: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if value:
            joined.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in joined.items()}


def host_headers(items: Any) -> dict[str, str]:
    """Request headers as the Functions host passes them: repeated headers joined with ", "."""
    joined: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for key, value in items:
        names.setdefault(key.lower(), key)
        joined.setdefault(key.lower(), []).append(value)
    return {names[lower]: ", ".join(values) for lower, values in joined.items()}


def response_headers(response: func.HttpResponse) -> dict[str, str]:
    """Response headers as the real worker sends them: `application/json` carries no charset."""
    headers = dict(response.headers)
    if "content-type" not in {key.lower() for key in headers} and response.mimetype:
        headers["Content-Type"] = f"{response.mimetype}; charset={response.charset or 'utf-8'}"
    for key, value in list(headers.items()):
        if key.lower() == "content-type" and value.split(";")[0].strip().lower() == "application/json":
            headers[key] = "application/json"
    return headers


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        functions: Sequence[HttpFunction],
        route_prefix: str,
        function_keys: Sequence[str],
        send_output: Callable[[OutputQueue, Any], None],
    ) -> None:
        super().__init__(address, _Handler)
        self.functions = functions
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.function_keys = tuple(k for k in function_keys if k)
        self.send_output = send_output

    def has_key(self, given: str | None) -> bool:
        # As bytes: compare_digest raises TypeError on non-ASCII str (`?code=%ff` decodes to U+FFFD).
        given_bytes = (given or "").encode("utf-8")
        return bool(given) and any(hmac.compare_digest(given_bytes, key.encode("utf-8")) for key in self.function_keys)

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="devhost-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: LocalHttpServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms for each answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)  # http.server's own format

    def _foreign(self) -> bool:
        """Refuse (and answer) a request for another name (DNS rebinding) or from another site's page."""
        if host_name(self.headers.get("Host")) not in LOCAL_NAMES:
            self._reply(421, b"This local host answers only 127.0.0.1 and localhost")
            return True
        origin = self.headers.get("Origin")
        if origin is not None and host_name(origin) not in LOCAL_NAMES:
            self._reply(403, b"Cross-site requests are refused")
            return True
        return False

    def _not_json(self, function: HttpFunction, body: bytes) -> bool:
        """The keyed routes that take a body take JSON: a browser's cross-site "simple" POST (text/plain, a
        form) never reaches them, published local key or not."""
        kind = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if function.needs_key and body and self.command in BODY_METHODS and kind != "application/json":
            self._reply(415, b"Send JSON (Content-Type: application/json)")
            return True
        return False

    def _dispatch(self) -> None:
        if self._foreign():
            return None
        parts = urlsplit(self.path)
        prefix = self.server.route_prefix
        path = parts.path
        if prefix and not (path == prefix or path.startswith(prefix + "/")):
            return self._reply(404, b"Not Found")
        relative = path[len(prefix) :].strip("/")
        body = self._read_body()
        if body is None:
            return None
        for function in self.server.functions:
            route_params = function.match(relative)
            if route_params is not None:
                return self._serve(function, route_params, host_params(parts.query), body)
        return self._reply(404, b"Not Found")

    def _serve(self, function: HttpFunction, route_params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if function.methods is not None and self.command not in function.methods:
            return self._reply(404, b"", {})  # the Functions host: 404, empty body, for an undeclared method
        if function.needs_key and not self.server.has_key(query.get("code") or self.headers.get("x-functions-key")):
            return self._reply(401, b"Unauthorized")
        if self._not_json(function, body):
            return None
        return self._run(function, route_params, query, body)

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._reply(400, b"Bad Content-Length")
            return None
        if length < 0 or length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._reply(413, b"Request body too large")
            return None
        return self.rfile.read(length) if length else b""

    def _run(self, function: HttpFunction, route_params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        address, port = self.server.server_address[:2]
        host = self.headers.get("Host") or f"{address!s}:{port}"
        request = func.HttpRequest(
            method=self.command,
            url=f"http://{host}{self.path}",
            headers=host_headers(self.headers.items()),
            params=query,
            route_params=route_params,
            body=body,
        )
        try:
            response = invoke(
                function.user_function, function.arg_name, request, function.outputs, self.server.send_output
            )
        except Exception:
            log.exception("Function %s raised", function.name)
            return self._reply(500, b"")
        if not isinstance(response, func.HttpResponse):
            log.error("Function %s returned %r, not an HttpResponse", function.name, type(response))
            return self._reply(500, b"")
        headers = response_headers(response)
        return self._reply(response.status_code, response.get_body() or b"", headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers if headers is not None else {"Content-Type": "text/plain; charset=utf-8"}).items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch
