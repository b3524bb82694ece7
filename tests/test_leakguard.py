"""The leak guard itself: it must find what it is there to find, and stay quiet otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.leakguard import LeakGuard, find_numbers, find_secrets, secret_forms
from tests.support import ACCOUNT_SID, API_SECRET, AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[1]


def test_secrets_are_found_in_every_spelling() -> None:
    import base64

    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert find_secrets(f"token={AUTH_TOKEN}") == ["TWILIO_AUTH_TOKEN"]
    assert find_secrets(f"Authorization: Basic {basic}") == ["TWILIO_AUTH_TOKEN (in Basic auth)"]
    assert find_secrets(f"secret={quote(API_SECRET)}&x=1") == ["TWILIO_API_SECRET"]
    assert find_secrets("token=[redacted] and " + AUTH_TOKEN[:-1]) == []


def test_secret_forms_cover_other_values() -> None:
    forms = secret_forms({"TWILIO_AUTH_TOKEN": "a b/c"})
    assert find_secrets("x a%20b%2Fc y", forms) == ["TWILIO_AUTH_TOKEN"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("call from +15558675310 ended", ["+1555***5310"]),
        ("GET /x?From=%2B15558675310&To=%2b447700900123", ["+1555***5310", "+4477***0123"]),
        ("call from +1555***5310 ended", []),
        ("at 2026-11-27T04:44:32+00:00, id +12345", []),
        ("SID CA0123456789 and 15558675310 without a plus", ["+1555***5310"]),
        ("short 5551234, and double-encoded To=%252B15558675310", ["+1555***5310", "+5***4"]),
        ("GET /x?q=To%3D447700900123", ["+4477***0123"]),
        ("PartitionKey eq 'n:+15558675310'", ["+1555***5310"]),
        ("row event:0001764567890123456:9f, SID RE0123456789abcdef0123456789abcdef, 0.12345678 s", []),
    ],
)
def test_full_numbers_are_found_and_reported_masked(text: str, found: list[str]) -> None:
    assert find_numbers(text) == found


def test_guard_records_where_and_what() -> None:
    guard = LeakGuard()
    guard.check("log:x", f"a {AUTH_TOKEN} and +15558675310", numbers=True)
    guard.check("response:y", "+15558675310 is fine in TwiML")
    assert [(f.where, f.what) for f in guard.new_findings()] == [
        ("log:x", "secret TWILIO_AUTH_TOKEN"),
        ("log:x", "full phone number +1555***5310"),
    ]
    assert guard.new_findings() == []


def _run_session(tmp_path: Path, body: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body), encoding="utf-8")
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.leakguard", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-o", "addopts=", *options, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip


INNER_HEADER = """
    import logging
    import threading

    import azure.functions as func
    import pytest

    from tests.leakguard import test_nothing_leaked
    from tests.support import API_SECRET, AUTH_TOKEN, function, http_request

    app = func.FunctionApp()

    @app.route(route="echo", auth_level=func.AuthLevel.ANONYMOUS)
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.params.get("say", ""))
"""


def test_a_clean_session_passes(tmp_path: Path) -> None:
    result = _run_session(
        tmp_path,
        INNER_HEADER
        + """
    def test_clean():
        # Through the app's record factory, which redacts and masks.
        logging.getLogger("switchboard.x").warning("token %s from %s", AUTH_TOKEN, "+15558675310")
        assert function(app, "echo")(http_request("GET", "http://h/api/echo?say=hi")).get_body() == b"hi"
    """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_leaking_session_fails_and_names_each_leak(tmp_path: Path) -> None:
    result = _run_session(
        tmp_path,
        INNER_HEADER
        + """
    def test_record_built_past_the_factory():
        args = (AUTH_TOKEN, "+15558675310")
        record = logging.LogRecord("lib", logging.WARNING, __file__, 1, "tok %s to %s", args, None)
        logging.getLogger("lib").handle(record)

    def test_response_with_a_secret():
        function(app, "echo")(http_request("GET", "http://h/api/echo?say=" + API_SECRET))

    def test_thread_dies_with_a_secret():
        def boom():
            raise RuntimeError("bad token " + AUTH_TOKEN)
        thread = threading.Thread(target=boom, name="worker")
        thread.start()
        thread.join()

    @pytest.fixture(scope="session", autouse=True)
    def late_leak():
        yield
        logging.getLogger("late").handle(
            logging.LogRecord("late", logging.ERROR, __file__, 1, "late " + API_SECRET, None, None)
        )
    """,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "FAILED test_inner.py::test_nothing_leaked" in out
    assert "secret TWILIO_AUTH_TOKEN in log:lib" in out
    assert "full phone number +1555***5310 in log:lib" in out
    assert "secret TWILIO_API_SECRET in response:echo" in out
    assert "secret TWILIO_AUTH_TOKEN in exception:warning PytestUnhandledThreadExceptionWarning" in out
    assert "Leaks found after the last test" in out
    assert "secret TWILIO_API_SECRET in log:late" in out
    # The report names leaks without repeating them.
    report = result.stdout.split(" test_nothing_leaked ", 1)[1].split("Captured", 1)[0]
    assert "Leaks found:" in report
    assert AUTH_TOKEN not in report
    assert API_SECRET not in report


def test_under_xdist_every_workers_leaks_fail_the_run(tmp_path: Path) -> None:
    # Eight leaking tests over two workers: the last test runs in one of them, yet every leak is reported.
    leaks = "".join(
        f"""
    def test_leak_{n}():
        record = logging.LogRecord("lib{n}", logging.WARNING, __file__, 1, "tok %s", (AUTH_TOKEN,), None)
        logging.getLogger("lib{n}").handle(record)
        time.sleep(0.05)
    """
        for n in range(8)
    )
    result = _run_session(tmp_path, INNER_HEADER + "\n    import time\n" + leaks, "-n", "2")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Leaks found in the test workers" in out
    for n in range(8):
        assert f"secret TWILIO_AUTH_TOKEN in log:lib{n} (during test_inner.py::test_leak_{n})" in out, out
    assert "leak guard in 2 workers: scanned" in out
    assert AUTH_TOKEN not in out


def test_under_xdist_a_clean_session_passes_and_counts_every_worker(tmp_path: Path) -> None:
    clean = "".join(
        f"""
    def test_clean_{n}():
        logging.getLogger("switchboard.x").warning("call %s from %s", {n}, "+15558675310")
    """
        for n in range(6)
    )
    result = _run_session(tmp_path, INNER_HEADER + clean, "-n", "2")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "7 passed" in out
    assert "leak guard in 2 workers: scanned" in out
    assert "nothing leaked" in out
