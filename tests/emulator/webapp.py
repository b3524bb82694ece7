"""A tiny app on 127.0.0.1 that serves TwiML and receives callbacks, checking each signature with the SDK."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from tests.support import AUTH_TOKEN

Route = Callable[[dict[str, str]], "tuple[int, str] | str"]


@dataclass
class Received:
    method: str
    path: str  # with the query
    params: dict[str, str]  # form fields (POST) or query parameters (GET)
    signature_valid: bool
    headers: dict[str, str] = field(default_factory=dict)


class WebApp:
    def __init__(self, routes: dict[str, Route] | None = None, token: str = AUTH_TOKEN) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.received: list[Received] = []
        self.validator = RequestValidator(token)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def posts_to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if urlsplit(r.path).path == path]

    def __enter__(self) -> WebApp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(app: WebApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.answer({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            self.answer(form)

        def answer(self, form: dict[str, str]) -> None:
            parts = urlsplit(self.path)
            url = app.base + self.path
            signature = self.headers.get("X-Twilio-Signature", "")
            valid = bool(app.validator.validate(url, form, signature))
            params = form if self.command == "POST" else dict(parse_qsl(parts.query, keep_blank_values=True))
            with app.lock:
                app.received.append(Received(self.command, self.path, params, valid, dict(self.headers.items())))
            route = app.routes.get(parts.path)
            status, body = (404, "") if route is None else (200, "<Response/>")
            if route is not None:
                answer = route(params)
                status, body = answer if isinstance(answer, tuple) else (200, answer)
            if not valid:
                status, body = 403, "bad signature"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
