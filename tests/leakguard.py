"""A pytest plugin that watches the whole test session for leaked secrets and phone numbers.

For the whole session it:
- attaches a handler to the root logger and scans every log record (message, traceback,
  extra fields) for the auth token and API secret, and for full E.164 numbers;
- scans every response body the tests see: functions called through `tests.support.function`,
  and every `requests` response (the local host, the emulator), and the messages of
  exceptions those functions raise or threads die with;
- when the session's Azurite stops (the `azurite` fixture's teardown), scans every entity and
  queued message in it.

`test_nothing_leaked` runs last (the collection hook moves it there) and fails with every
finding; anything found after it (session teardown, the storage scan) fails the run from
`pytest_sessionfinish`. Under pytest-xdist each worker has its own guard and its own Azurite:
a worker sends its findings and counts to the controller (`workeroutput`), which fails the run
and prints them, whichever worker the last test ran in.
The app is imported first, as the Functions host does, so its log masking is in force.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from tests.support import ACCOUNT_SID, API_SECRET, AUTH_TOKEN, BASE_ENV

LAST = "leak_check_last"
# A full number as it could show up in text: any run of 7-15 digits, with "+" or not, after a URL escape
# (%2B, %252B, %3D...) or standing alone; not digits inside a longer word (SIDs, hex ids) or a decimal.
FULL_NUMBER = re.compile(
    r"(?:%25[0-9A-Fa-f]{2}|%[0-9A-Fa-f]{2}|\+|(?<![A-Za-z0-9_.]))(\d{7,15})(?![0-9A-Za-z_])(?!\.\d)"
)
# LogRecord attributes that are not text someone logged.
_RECORD_PLUMBING = frozenset(
    {"name", "levelname", "pathname", "filename", "module", "funcName", "threadName", "processName", "taskName"}
)


def secret_forms(secrets: dict[str, str] | None = None) -> dict[str, str]:
    """Every spelling of each secret worth looking for: plain, URL-encoded, and inside Basic auth."""
    secrets = secrets or {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_SECRET": API_SECRET}
    users = {"TWILIO_AUTH_TOKEN": ACCOUNT_SID, "TWILIO_API_SECRET": BASE_ENV["TWILIO_API_KEY"]}
    forms: dict[str, str] = {}
    for name, value in secrets.items():
        forms[value] = name
        forms[quote(value, safe="")] = name
        user = users.get(name, "")
        forms[base64.b64encode(f"{user}:{value}".encode()).decode()] = f"{name} (in Basic auth)"
    return forms


def find_secrets(text: str, forms: dict[str, str] | None = None) -> list[str]:
    forms = forms or _FORMS
    return sorted({name for value, name in forms.items() if value in text})


def find_numbers(text: str) -> list[str]:
    """Full phone numbers in `text`, reported masked so the report itself leaks nothing."""
    from switchboard.shared.phones import SEPARATED_NUMBER, identifier_spans, mask

    ids = identifier_spans(text)

    def outside(match: re.Match[str]) -> bool:
        return not any(low <= match.start() and match.end() <= high for low, high in ids)

    found = [m.group(1) for m in FULL_NUMBER.finditer(text) if outside(m)]
    found += ["".join(c for c in m.group(0) if c.isdigit()) for m in SEPARATED_NUMBER.finditer(text) if outside(m)]
    return sorted({mask("+" + digits) for digits in found if 7 <= len(digits) <= 15})


_FORMS = secret_forms()


@dataclass(frozen=True)
class Finding:
    where: str
    what: str
    test: str

    def __str__(self) -> str:
        return f"{self.what} in {self.where} (during {self.test})"


@dataclass
class LeakGuard:
    findings: list[Finding] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)
    reported: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, where: str, text: str, *, numbers: bool = False) -> None:
        found = [f"secret {name}" for name in find_secrets(text)]
        if numbers:
            found += [f"full phone number {masked}" for masked in find_numbers(text)]
        test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)").rsplit(" ", 1)[0]
        with self._lock:
            kind = where.split(":", 1)[0]
            self.scanned[kind] = self.scanned.get(kind, 0) + 1
            self.findings.extend(Finding(where, what, test) for what in found)

    def check_record(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), record.exc_text or "", record.stack_info or ""]
        if record.exc_info and not record.exc_text:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        parts += [str(v) for k, v in vars(record).items() if k not in _RECORD_PLUMBING and isinstance(v, str)]
        self.check(f"log:{record.name}", "\n".join(parts), numbers=True)

    def check_response(self, where: str, body: bytes | str | None) -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
        self.check(f"response:{where}", text)

    def check_exception(self, where: str, error: BaseException) -> None:
        self.check(f"exception:{where}", "".join(traceback.format_exception(type(error), error, error.__traceback__)))

    def new_findings(self) -> list[Finding]:
        with self._lock:
            fresh = self.findings[self.reported :]
            self.reported = len(self.findings)
            return fresh


class CaptureHandler(logging.Handler):
    def __init__(self, guard: LeakGuard) -> None:
        super().__init__(logging.NOTSET)
        self.guard = guard

    def emit(self, record: logging.LogRecord) -> None:
        self.guard.check_record(record)


GUARD = LeakGuard()


def observe_response(where: str, response: Any) -> None:
    """Called by the test utilities (tests.support) with every response they see."""
    get_body = getattr(response, "get_body", None)
    GUARD.check_response(where, get_body() if callable(get_body) else getattr(response, "content", None))


def observe_exception(where: str, error: BaseException) -> None:
    GUARD.check_exception(where, error)


def _watch_requests() -> Callable[[], None]:
    import requests

    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        try:
            response = original(self, request, **kwargs)
        except Exception as error:
            observe_exception(f"requests {request.method}", error)
            raise
        if not kwargs.get("stream"):
            GUARD.check_response(f"http {request.method} {request.path_url.split('?')[0]}", response.content)
        return response

    requests.Session.send = send  # type: ignore[method-assign]

    def undo() -> None:
        requests.Session.send = original  # type: ignore[method-assign]

    return undo


def _watch_threads() -> Callable[[], None]:
    original = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            observe_exception(f"thread {args.thread.name if args.thread else '?'}", args.exc_value)
        original(args)

    threading.excepthook = hook

    def undo() -> None:
        threading.excepthook = original

    return undo


_undo: list[Callable[[], None]] = []
_handler = CaptureHandler(GUARD)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{LAST}: runs after every other test (the session-wide leak check)")
    # The app first, as in Azure: importing it installs the log masking under test here.
    import function_app  # noqa: F401

    root = logging.getLogger()
    root.addHandler(_handler)
    # Application Insights records Information and up by default (host.json); look at as much.
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    _undo.extend([_watch_requests(), _watch_threads()])


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_handler)
    while _undo:
        _undo.pop()()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker(LAST)]
    items[:] = [item for item in items if not item.get_closest_marker(LAST)] + last


def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str, location: Any) -> None:
    # pytest reports exceptions that kill threads (and unraisable ones) as warnings.
    GUARD.check(f"exception:warning {warning_message.category.__name__}", str(warning_message.message))


def scan_storage(connection_string: str, guard: LeakGuard = GUARD) -> None:
    """Every table entity and (peeked) queue message in the account, checked for secrets."""
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    tables = TableServiceClient.from_connection_string(connection_string)
    for table in tables.list_tables():
        client = tables.get_table_client(table.name)
        for entity in client.list_entities():
            guard.check(f"table:{table.name}", json.dumps(dict(entity), default=str))
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue in queues.list_queues():
        for message in queues.get_queue_client(queue.name).peek_messages(max_messages=32):
            content = message.content
            guard.check(f"queue:{queue.name}", content if isinstance(content, str) else repr(content))
            guard.check(f"queue:{queue.name}", _unbase64(content))


def _unbase64(content: Any) -> str:
    try:
        return base64.b64decode(content, validate=True).decode("utf-8", "replace")
    except Exception:
        return ""


@pytest.mark.leak_check_last
def test_nothing_leaked(request: pytest.FixtureRequest) -> None:
    """No secret in any log, response or exception so far; no full number in any log.

    Stored records are scanned when the session's Azurite stops, after this test (a finding there fails the run).
    """
    findings = GUARD.new_findings()
    if findings:
        pytest.fail("Leaks found:\n" + "\n".join(f"  {finding}" for finding in _first(findings, 50)), pytrace=False)
    if not _is_worker(request.config):
        # Under xdist this worker may have run few tests: the controller checks the total instead.
        assert GUARD.scanned.get("log", 0) > 0, NO_LOGS


def _first(findings: list[Finding], count: int) -> Iterator[Finding]:
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        if (finding.where, finding.what) not in seen and len(seen) < count:
            seen.add((finding.where, finding.what))
            yield finding


NO_LOGS = "the leak guard saw no log records at all: is its handler attached?"
WORKER_KEY = "leakguard"


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@dataclass
class Workers:
    """What the xdist workers reported (controller side): every finding and every count."""

    findings: list[Finding] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)
    reports: int = 0

    def add(self, payload: str) -> None:
        data = json.loads(payload)
        self.reports += 1
        self.findings.extend(Finding(**item) for item in data["findings"])
        for kind, count in data["scanned"].items():
            self.scanned[kind] = self.scanned.get(kind, 0) + int(count)


WORKERS = Workers()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    payload = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if payload:
        WORKERS.add(payload)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    late = GUARD.new_findings()
    if late:
        lines = "\n".join(f"  {finding}" for finding in _first(late, 50))
        session.config.get_terminal_writer().line(f"\nLeaks found after the last test:\n{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _is_worker(session.config):
        # xdist sends workeroutput after every sessionfinish hook has run (its own is a wrapper).
        payload = {"findings": [asdict(f) for f in GUARD.findings], "scanned": GUARD.scanned}
        session.config.workeroutput[WORKER_KEY] = json.dumps(payload)  # type: ignore[attr-defined]
    elif WORKERS.reports:
        writer = session.config.get_terminal_writer()
        if WORKERS.findings:
            lines = "\n".join(f"  {finding}" for finding in _first(WORKERS.findings, 50))
            writer.line(f"\nLeaks found in the test workers:\n{lines}", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if not WORKERS.scanned.get("log", 0) and session.testscollected > 1:
            writer.line(f"\n{NO_LOGS}", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    scanned = dict(GUARD.scanned)
    for kind, count in WORKERS.scanned.items():
        scanned[kind] = scanned.get(kind, 0) + count
    findings = len(GUARD.findings) + len(WORKERS.findings)
    seen = ", ".join(f"{count} {kind}" for kind, count in sorted(scanned.items()))
    verdict = f"{findings} finding(s)" if findings else "nothing leaked"
    where = f" in {WORKERS.reports} workers" if WORKERS.reports else ""
    terminalreporter.write_line(f"leak guard{where}: scanned {seen or 'nothing'}; {verdict}")
