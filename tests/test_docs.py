"""Every code block in README.md and docs/*.md is either run here against the local stack, in its documented
local form, or marked as not meant to run, with the reason.

The convention, on the line just before a fenced block:

    <!-- docs-test: run NAME -->     this module's runner NAME runs the block (and checks what it did)
    <!-- docs-test: skip REASON -->  not meant to run here (azd, az, a diagram, output, ...)

The stack is the one `make run` starts, on free ports: Azurite, the Twilio emulator (with its callbacks) and
the app in the local host with its queue worker. Blocks read the same settings a user's shell has
(`AzureWebJobsStorage`, `SWITCHBOARD_API_URL`, `LOCAL_FUNCTION_KEY`, `PUBLIC_BASE_URL`); only the
emulator's `--port 4011` is swapped for a free port.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, twilio_signature

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- docs-test: (?P<kind>run|skip) (?P<what>\S.*?) -->$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
FINAL = {"completed", "delivered", "sent", "failed", "rejected", "dead_lettered", "unknown", "busy", "no-answer"}


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    info: str
    text: str
    kind: str | None  # "run", "skip" or None (unmarked)
    what: str  # the runner's name, or the reason for skipping

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence = opening["fence"]
        end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith(fence)), len(lines))
        marker = MARKER.match(lines[index - 1]) if index > 0 else None
        found.append(
            Block(
                page=path.relative_to(ROOT).as_posix(), line=index + 1, info=opening["info"].strip(),
                text="\n".join(lines[index + 1 : end]) + "\n",
                kind=marker["kind"] if marker else None, what=marker["what"] if marker else "",
            )
        )  # fmt: skip
        index = end + 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]
RUNNABLE = [block for block in ALL_BLOCKS if block.kind == "run"]


# --- the stack ---------------------------------------------------------------------------------------------
@dataclass
class Stack:
    origin: str  # the app, as http://127.0.0.1:<port>
    env: dict[str, str]  # a user's shell in a checkout with `make run` up
    emulator: Any

    def record(self, request_id: str, want: str | None = None, timeout: float = 40.0) -> dict[str, Any]:
        """Poll the records API until the request reaches `want`, or any final status (`sent` counts as one)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            answer = requests.get(
                f"{self.origin}/api/records/{quote(request_id, safe='')}",
                headers={"x-functions-key": FUNCTION_KEY}, timeout=5,
            )  # fmt: skip
            if answer.status_code == 200:
                last = answer.json()
                if last.get("status") == want or (want is None and last.get("status") in FINAL):
                    return last
            time.sleep(0.2)
        raise AssertionError(f"{request_id} reached no final status in {timeout}s (last: {last})")


@pytest.fixture(scope="module")
def stack(app: Any, azurite: str) -> Iterator[Stack]:
    from switchboard.settings import Settings, get_settings
    from tools.devhost.host import LocalHost
    from tools.emulator.progress import Simulator
    from tools.emulator.rest import TwilioEmulator

    with pytest.MonkeyPatch.context() as patch:
        emulator = TwilioEmulator.from_settings(Settings.from_env()).start()
        simulator = Simulator(emulator)
        overrides = {"visibility_timeout": 1.0, "max_polling_interval": 0.2}
        host = LocalHost(app, port=0, function_keys=(FUNCTION_KEY,), config_overrides=overrides).start()
        origin = f"http://127.0.0.1:{host.port}"
        patch.setenv("PUBLIC_BASE_URL", origin)
        patch.setenv("TWILIO_API_BASE_URL", emulator.base_url)
        get_settings.cache_clear()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env |= {"AzureWebJobsStorage": azurite, "SWITCHBOARD_API_URL": origin, "LOCAL_FUNCTION_KEY": FUNCTION_KEY}
        try:
            yield Stack(origin, env, emulator)
        finally:
            host.stop()
            simulator.close()
            emulator.stop()
            get_settings.cache_clear()


def sh(block: Block, stack: Stack, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run a shell block as a user would, from the checkout, with `bash -e`."""
    if ".venv/bin/python" in block.text and not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("the block runs .venv/bin/python, and this checkout has no .venv (`make setup` makes it)")
    return subprocess.run(
        ["bash", "-e", "-c", block.text], cwd=ROOT, env=stack.env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def python(block: Block, stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", block.text], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


# --- runners: one per runnable block name --------------------------------------------------------------------
def run_hello_world_http(block: Block, stack: Stack, tmp_path: Path) -> None:
    """`GET <path>` then the exact answer: sent signed, as Twilio fetches a TwiML URL."""
    request, expected = block.text.strip().splitlines()
    method, path = request.split(" ", 1)
    url = stack.origin + path
    answer = requests.request(method, url, headers={"X-Twilio-Signature": twilio_signature(url)}, timeout=10)
    assert answer.status_code == 200
    assert answer.text == expected


def run_python_queue_hello(block: Block, stack: Stack, tmp_path: Path) -> None:
    done = python(block, stack)
    assert done.returncode == 0, done.stderr
    assert stack.record("hello-1")["status"] == "completed"


def run_python_client_local(block: Block, stack: Stack, tmp_path: Path) -> None:
    done = python(block, stack)
    assert done.returncode == 0, done.stderr
    assert stack.record("order-1234:shipped", "delivered")["status"] == "delivered"


def run_curl_outbound_local(block: Block, stack: Stack, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    done = sh(block, stack)
    assert done.returncode == 0, done.stderr
    request_id = json.loads(done.stdout)["id"]
    assert stack.record(request_id)["status"] == "completed"


def run_cli_send(block: Block, stack: Stack, tmp_path: Path) -> None:
    done = sh(block, stack)
    assert done.returncode == 0, done.stderr
    sms_id, call_id, final = done.stdout.splitlines()
    assert re.fullmatch(r"completed sid=CA[0-9a-f]{32}", final)
    assert stack.record(sms_id, "delivered")["status"] == "delivered"
    assert stack.record(call_id)["status"] == "completed"


def run_js_queue_local(block: Block, stack: Stack, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@azure" / "storage-queue").exists():
        pytest.skip("node or @azure/storage-queue is not installed (`make setup` installs them)")
    # As `node send.mjs` beside node_modules: an ES module whose imports resolve from the checkout.
    done = subprocess.run(
        [node, "--input-type=module", "-e", block.text], cwd=ROOT, env=stack.env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stack.record("welcome-42")["status"] == "completed"


def run_function_app_producer(block: Block, stack: Stack, tmp_path: Path) -> None:
    """The producing app, served by the local host with `SwitchboardStorage` = Azurite's connection string."""
    from tools.devhost.host import LocalHost

    source = tmp_path / "producer_app.py"
    source.write_text(block.text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("producer_app", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SwitchboardStorage", stack.env["AzureWebJobsStorage"])
        with LocalHost(module.app, port=0, function_keys=(FUNCTION_KEY,), queues=False) as producer:
            order = uuid.uuid4().hex[:8]
            answer = requests.post(
                f"http://127.0.0.1:{producer.port}/api/orders/{order}/shipped",
                json={"phone": "+15558675310"}, headers={"x-functions-key": FUNCTION_KEY}, timeout=10,
            )  # fmt: skip
    assert answer.status_code == 202
    record = stack.record(f"order-{order}:shipped", "delivered")
    assert record["status"] == "delivered"
    sent = [m for m in stack.emulator.resources("messages").values() if m["sid"] == record.get("sid")]
    assert [m["body"] for m in sent] == [f"Order {order} has shipped."]


def run_cli_whatsapp(block: Block, stack: Stack, tmp_path: Path) -> None:
    """A WhatsApp template from the CLI: the app in this process gets OUTBOUND_CHANNELS=sms,whatsapp for it."""
    from switchboard.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTBOUND_CHANNELS", "sms,whatsapp")
        get_settings.cache_clear()
        try:
            done = sh(block, stack)
        finally:
            get_settings.cache_clear()
    assert done.returncode == 0, done.stdout + done.stderr
    request_id, final = done.stdout.splitlines()
    assert re.fullmatch(r"(sent|delivered) sid=SM[0-9a-f]{32}", final), final
    record = stack.record(request_id)
    assert (record["channel"], record["to"]) == ("whatsapp", "whatsapp:+15558675310")
    sent = stack.emulator.resources("messages")[record["sid"]]
    assert (sent["content_sid"], sent["content_variables"]) == ("HX" + "0123456789abcdef" * 2, '{"1":"1234"}')


def run_function_app_binding(block: Block, stack: Stack, tmp_path: Path) -> None:
    """The Twilio binding's JSON from a producing app's queue output binding, in the local host."""
    from tools.devhost.host import LocalHost

    source = tmp_path / "binding_app.py"
    source.write_text(block.text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("binding_app", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SwitchboardStorage", stack.env["AzureWebJobsStorage"])
        with LocalHost(module.app, port=0, function_keys=(FUNCTION_KEY,), queues=False) as producer:
            order = uuid.uuid4().hex[:8]
            answer = requests.post(
                f"http://127.0.0.1:{producer.port}/api/orders/{order}/shipped",
                json={"phone": "+15558675310"}, headers={"x-functions-key": FUNCTION_KEY}, timeout=10,
            )  # fmt: skip
    assert answer.status_code == 202
    record = stack.record(f"order-{order}:binding", "delivered")
    assert record["request"]["format"] == "twilio-binding"
    sent = stack.emulator.resources("messages")[record["sid"]]
    assert (sent["body"], sent["validity_period"]) == (f"Order {order} has shipped.", 600)


def run_js_binding_local(block: Block, stack: Stack, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@azure" / "storage-queue").exists():
        pytest.skip("node or @azure/storage-queue is not installed (`make setup` installs them)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", block.text], cwd=ROOT, env=stack.env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = stack.record("binding-42", "delivered")
    sent = stack.emulator.resources("messages")[record["sid"]]  # the emulator echoes the options it was given
    assert (sent["body"], sent["validity_period"], sent["smart_encoded"]) == ("Your order has shipped.", 600, True)


def run_emulator_serve(block: Block, stack: Stack, tmp_path: Path) -> None:
    from tools.localmachine import free_port

    port = free_port()
    [command] = block.text.strip().splitlines()
    argv = shlex.split(command.replace("--port 4011", f"--port {port}"))
    if not Path(ROOT, argv[0]).exists():
        pytest.skip(f"{argv[0]} is not there (`make setup` makes it)")
    process = subprocess.Popen(argv, cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"on http://127.0.0.1:{port}" in banner, banner
        answer = requests.get(
            f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
            auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5,
        )  # fmt: skip
        assert (answer.status_code, answer.json()["calls"]) == (200, [])
    finally:
        process.send_signal(signal.SIGTERM)
        rc = process.wait(timeout=15)
    assert rc == 0


def run_emulator_inbound(block: Block, stack: Stack, tmp_path: Path) -> None:
    done = sh(block, stack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^Call CA[0-9a-f]{32} ended: completed", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^Message SM[0-9a-f]{32}: webhook answered 200$", done.stdout, re.MULTILINE), done.stdout


def inbound_text(stack: Stack, body: str) -> str:
    """An inbound SMS to the stack, signed as Twilio sends it; returns its MessageSid. The `events` queue is made
    first, as `make run` provisions it (this module's host does not)."""
    from azure.core.exceptions import ResourceExistsError

    from switchboard.client import events_queue
    from tools.emulator.inbound import inbound_sms

    with contextlib.suppress(ResourceExistsError):
        events_queue(stack.env["AzureWebJobsStorage"]).create_queue()

    result = inbound_sms(f"{stack.origin}/api/sms/incoming", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                         to="+15005550006", from_="+1555" + str(uuid.uuid4().int)[-7:], body=body)  # fmt: skip
    assert result.error is None, result.error
    return str(result.message_sid)


def run_function_app_events_consumer(block: Block, stack: Stack, tmp_path: Path) -> None:
    """The consuming app, served by the local host on the `events` queue (`SwitchboardStorage` = Azurite)."""
    from tools.devhost.host import LocalHost

    source = tmp_path / "consumer_app.py"
    source.write_text(block.text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("consumer_app", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sid = inbound_text(stack, "Is my order on its way?")  # Switchboard publishes its `received` event
    overrides = {"visibility_timeout": 1.0, "max_polling_interval": 0.2}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SwitchboardStorage", stack.env["AzureWebJobsStorage"])
        with LocalHost(module.app, port=0, function_keys=(FUNCTION_KEY,), config_overrides=overrides):
            deadline = time.monotonic() + 30
            while f"{sid}:received" not in module.handled and time.monotonic() < deadline:
                time.sleep(0.1)
    event = module.handled[f"{sid}:received"]
    assert (event["type"], event["data"]["id"]) == ("switchboard.message.received", sid)


def run_python_events_client(block: Block, stack: Stack, tmp_path: Path) -> None:
    sid = inbound_text(stack, "Hello")
    done = python(block, stack)
    assert done.returncode == 0, done.stderr
    assert f"switchboard.message.received {sid}:received received" in done.stdout.splitlines()


RUNNERS: dict[str, Callable[[Block, Stack, Path], None]] = {
    "hello-world-http": run_hello_world_http,
    "python-queue-hello": run_python_queue_hello,
    "python-client-local": run_python_client_local,
    "curl-outbound-local": run_curl_outbound_local,
    "cli-send": run_cli_send,
    "js-queue-local": run_js_queue_local,
    "function-app-producer": run_function_app_producer,
    "cli-whatsapp": run_cli_whatsapp,
    "function-app-binding": run_function_app_binding,
    "js-binding-local": run_js_binding_local,
    "emulator-serve": run_emulator_serve,
    "emulator-inbound": run_emulator_inbound,
    "function-app-events-consumer": run_function_app_events_consumer,
    "python-events-client": run_python_events_client,
}


# --- the tests -----------------------------------------------------------------------------------------------
def test_every_block_is_run_or_marked_not_to_run() -> None:
    unmarked = [block.where for block in ALL_BLOCKS if block.kind is None]
    assert unmarked == [], f"mark each with <!-- docs-test: run NAME --> or <!-- docs-test: skip REASON -->: {unmarked}"
    assert len(ALL_BLOCKS) >= 20


def test_every_runnable_block_has_a_runner_and_every_runner_a_block() -> None:
    assert {block.what for block in RUNNABLE} == set(RUNNERS)


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.what}@{b.where}" for b in RUNNABLE])
def test_runnable_block(block: Block, stack: Stack, tmp_path: Path) -> None:
    RUNNERS[block.what](block, stack, tmp_path)


def test_no_tracked_file_keeps_a_merge_conflict_marker() -> None:
    """A merge once committed `<<<<<<<` blocks into two docs; nothing else would have noticed."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    marker = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)
    texts = {".md", ".py", ".bicep", ".json", ".toml", ".txt", ".yaml", ".yml", ".in", ""}
    paths = [ROOT / name for name in listed.stdout.splitlines()]
    found = [
        str(path.relative_to(ROOT))
        for path in paths
        if path.suffix in texts and path.is_file() and marker.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []


def test_no_local_environment_is_tracked() -> None:
    """A merge once committed the `.venv` and `node_modules` links of a second checkout (ignored only as folders)."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    local = {".venv", "node_modules", "local.settings.json", ".azurite", ".run"}
    assert [name for name in listed.stdout.splitlines() if name.split("/")[0] in local] == []
