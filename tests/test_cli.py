"""`python -m switchboard send ...` as a subprocess against Azurite, and `--wait` against a local records server.

The records API (`GET /api/records/{id}`) is served here by a small HTTP server on 127.0.0.1 whose
answers change from poll to poll, in the shape that API returns.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from switchboard import __main__ as cli
from tests.support import serving
from tools.localmachine import LOOPBACK, PROJECT_ROOT

KEY = "cli-test-key"


class RecordsServer(ThreadingHTTPServer):
    """Answers GET /api/records/{id} with the next scripted answer (the last one repeats)."""

    def __init__(self, answers: list[tuple[int, dict[str, object] | None]]) -> None:
        super().__init__((LOOPBACK, 0), _RecordsHandler)
        self.answers = answers
        self.seen: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _RecordsHandler(BaseHTTPRequestHandler):
    server: RecordsServer

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("x-functions-key")))
        if self.headers.get("x-functions-key") != KEY:
            status, record = 401, None
        else:
            answers = self.server.answers
            status, record = answers.pop(0) if len(answers) > 1 else answers[0]
        body = json.dumps(record if record is not None else {"error": "not found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_DELETE = do_GET  # DELETE /api/outbound/{id} (cancel): the same scripted answers

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def records() -> Iterator[RecordsServer]:
    server = RecordsServer([(404, None)])
    with serving(server):
        yield server


def run_cli(*args: str, azurite: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWITCHBOARD_", "AzureWebJobsStorage", "LOCAL_FUNCTION_KEY"))
    }
    environment |= {"AzureWebJobsStorage": azurite, "PYTHONPATH": str(PROJECT_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        check=False, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def received(queue_name: str) -> dict[str, object]:
    from switchboard.adapters.storage import queue_client

    [message] = queue_client(queue_name, base64=False).receive_messages()
    return dict(json.loads(base64.b64decode(message.content)))


def test_send_sms_prints_the_request_id_of_the_enqueued_message(azurite: str, queue_name: str, tmp_path: Path) -> None:
    done = run_cli("send", "sms", "--to", "+15558675310", "--body", "Hi there", "--queue", queue_name,
                   azurite=azurite, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    request_id = done.stdout.strip()
    assert received(queue_name) == {"type": "sms", "id": request_id, "to": "+15558675310", "body": "Hi there"}


def test_send_call_waits_for_a_final_status(
    azurite: str, queue_name: str, records: RecordsServer, tmp_path: Path
) -> None:
    records.answers = [
        (404, None),
        (200, {"id": "hello-1", "status": "queued"}),
        (200, {"id": "hello-1", "status": "ringing"}),
        (200, {"id": "hello-1", "status": "completed", "sid": "CA0123"}),
    ]
    done = run_cli(
        "send", "call", "--to", "+15558675310", "--say", "Hello world.", "--id", "hello-1", "--queue", queue_name,
        "--wait", "--poll-interval", "0.02", "--wait-timeout", "20",
        azurite=azurite, cwd=tmp_path, SWITCHBOARD_API_URL=records.url, SWITCHBOARD_FUNCTION_KEY=KEY,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["hello-1", "completed sid=CA0123"]
    # Not a terminal, so each status change is one line rather than a spinner.
    assert done.stderr.splitlines() == ["waiting to be recorded", "queued", "ringing", "completed"]
    assert records.seen[0] == ("/api/records/hello-1", KEY)
    assert received(queue_name)["say"] == "Hello world."


def test_a_failed_request_exits_1_with_twilios_error(
    azurite: str, queue_name: str, records: RecordsServer, tmp_path: Path
) -> None:
    records.answers = [(200, {"status": "failed", "error_code": 21211, "error_message": "Invalid 'To' Phone Number"})]
    settings = tmp_path / "local.settings.json"  # the local key is picked up like `make run` does
    settings.write_text(json.dumps({"Values": {"LOCAL_FUNCTION_KEY": KEY, "SWITCHBOARD_API_URL": records.url}}))
    done = run_cli("send", "sms", "--to", "+15558675310", "--body", "x", "--queue", queue_name, "--wait",
                   "--poll-interval", "0.02", azurite=azurite, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[1] == "failed error_code=21211 error_message=Invalid 'To' Phone Number"


def test_waiting_is_bounded(azurite: str, queue_name: str, records: RecordsServer, tmp_path: Path) -> None:
    records.answers = [(200, {"status": "queued"})]
    done = run_cli("send", "sms", "--to", "+15558675310", "--body", "x", "--queue", queue_name, "--wait",
                   "--poll-interval", "0.05", "--wait-timeout", "0.3", "--api-url", records.url,
                   "--function-key", KEY, azurite=azurite, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "no final status within 0.3s" in done.stderr
    assert 2 <= len(records.seen) <= 8


def test_an_invalid_request_is_refused_before_enqueueing(tmp_path: Path) -> None:
    done = run_cli("send", "sms", "--to", "0800-123", "--body", "x", azurite="UseDevelopmentStorage=true", cwd=tmp_path)
    assert done.returncode == 1
    assert "to must be an E.164 number" in done.stderr
    assert done.stdout == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_spinner_redraws_one_line_on_a_terminal() -> None:
    answers = iter([{"status": "queued"}, {"status": "sending"}, {"status": "delivered"}])
    ticks = iter(range(100))
    out = _Tty()
    record = cli.wait_for_final(lambda: next(answers), timeout=60, interval=1, out=out,
                                clock=lambda: float(next(ticks)), sleep=lambda _: None)  # fmt: skip
    assert record == {"status": "delivered"}
    frames = out.getvalue().split("\r")
    assert frames[1:4] == ["⠋ queued (1s)\x1b[K", "⠙ sending (2s)\x1b[K", "⠹ delivered (3s)\x1b[K"]
    assert frames[-1] == "\x1b[K"  # the spinner line is cleared at the end


def test_every_final_status_stops_the_wait() -> None:
    for status in sorted(cli.FINAL):

        def answer(status: str = status) -> dict[str, object]:
            return {"status": status}

        record = cli.wait_for_final(answer, timeout=5, interval=1, out=io.StringIO(), sleep=lambda _: None)
        assert record == {"status": status}
    assert {"sent", "delivered", "completed"} <= cli.SUCCESS
    assert {
        "failed",
        "rejected",
        "dead_lettered",
        "unknown",
        "busy",
        "no-answer",
        "canceled",
        "undelivered",
    } <= cli.FINAL


CANCEL_ANSWERS: dict[str, tuple[tuple[int, dict[str, object] | None], int, str, str]] = {
    "canceled": ((200, {"id": "r1", "status": "canceled"}), 0, "canceled\n", ""),
    "started": ((409, {"id": "r1", "status": "sending", "error": "started"}), 1, "sending\n", "request r1 is sending"),
    "unknown": ((404, None), 1, "", "no request r1"),
}


@pytest.mark.parametrize("case", CANCEL_ANSWERS)
def test_cancel_deletes_the_request_and_exits_by_the_answer(
    records: RecordsServer, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    answer, code, printed, said = CANCEL_ANSWERS[case]
    records.answers[:] = [answer]
    env = {"SWITCHBOARD_API_URL": records.url, "SWITCHBOARD_FUNCTION_KEY": KEY}
    assert cli.main(["cancel", "r1", "--settings", str(tmp_path / "none.json")], env=env) == code
    out, err = capsys.readouterr()
    assert out == printed
    assert said in err
    assert records.seen == [("/api/outbound/r1", KEY)]


def test_cancel_with_a_wrong_key_says_which_setting_to_fix(
    records: RecordsServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"SWITCHBOARD_API_URL": records.url, "SWITCHBOARD_FUNCTION_KEY": "wrong"}
    assert cli.main(["cancel", "r1", "--settings", str(tmp_path / "none.json")], env=env) == 2
    assert "SWITCHBOARD_FUNCTION_KEY" in capsys.readouterr().err


def test_send_carries_send_at_expires_at_and_no_quiet_hours(tmp_path: Path) -> None:
    args = cli.parser().parse_args(["send", "sms", "--to", "+15558675310", "--body", "Hi", "--id", "r2",
                                    "--send-at", "2027-01-05T09:00:00-05:00", "--expires-at", "2027-01-05T12:00:00Z",
                                    "--no-quiet-hours"])  # fmt: skip
    assert cli.build_message(args) == {
        "type": "sms", "id": "r2", "to": "+15558675310", "body": "Hi", "send_at": "2027-01-05T09:00:00-05:00",
        "expires_at": "2027-01-05T12:00:00Z", "quiet_hours": False,
    }  # fmt: skip
