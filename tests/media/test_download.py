"""The downloader against a small local server: credentials only on the first hop, redirects bounded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from switchboard.media.copy import MAX_REDIRECTS, DownloadError, download, new_session
from switchboard.settings import Settings
from tests.support import ACCOUNT_SID, serving

PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'a' * 32}.wav"


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []
    hops = 0  # redirects before the file; more than MAX_REDIRECTS means a loop

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, self.headers.get("Authorization")))
        step = 0 if self.path == PATH else int(self.path.rsplit("/", 1)[1])
        if step < Recorder.hops:
            self.send_response(302)
            self.send_header("Location", f"/hop/{step + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"RIFF" + b"\0" * 60
        self.send_response(200)
        self.send_header("Content-Type", "audio/x-wav")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen = []
    with serving(httpd) as port:
        yield f"http://127.0.0.1:{port}"


def test_credentials_go_to_the_api_host_only_and_redirects_are_followed_without_them(server: str) -> None:
    Recorder.hops = MAX_REDIRECTS
    settings = replace(Settings.from_env(), api_base_url=server)
    fetched = download(f"https://api.twilio.com{PATH}", settings, new_session())
    assert (fetched.length, fetched.content_type) == (64, "audio/x-wav")
    assert fetched.file.read(4) == b"RIFF"
    first, *rest = Recorder.seen
    assert first[0] == PATH
    assert (first[1] or "").startswith("Basic ")
    assert len(rest) == MAX_REDIRECTS
    assert all(auth is None for _, auth in rest)  # the storage hops never see our credentials


def test_a_redirect_loop_ends(server: str) -> None:
    Recorder.hops = 100
    settings = replace(Settings.from_env(), api_base_url=server)
    with pytest.raises(DownloadError, match="redirects"):
        download(f"{server}{PATH}", settings, new_session())
    assert len(Recorder.seen) == MAX_REDIRECTS + 1
