"""The emulator under Twilio's Node SDK (twilio-node, pinned in package.json): REST and every webhook it sends.

A client the project did not write: `twilio_node_check.mjs` drives calls and messages over real HTTP and
receives the emulator's webhooks itself, checking each with twilio-node's `validateRequest`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.support import ACCOUNT_SID, AUTH_TOKEN
from tools.emulator.progress import Simulator
from tools.emulator.rest import TwilioEmulator

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("twilio_node_check.mjs")
NODE = shutil.which("node")
TWILIO_NODE = ROOT / "node_modules" / "twilio" / "package.json"
TO = "+15558675310"

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the twilio-node suite needs Node.js 20+"),
    pytest.mark.skipif(not TWILIO_NODE.exists(), reason="twilio-node is not installed (`make setup` runs npm ci)"),
]


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    from tests.support import BASE_ENV

    for key, value in BASE_ENV.items():
        os.environ.setdefault(key, value)
    emulator = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN).start()
    # Calls play at 1/20 of real time, so that one is still in progress when the script updates it.
    simulator = Simulator(emulator, pace=0.05, slow_answer_seconds=3)
    try:
        env = {"PATH": os.environ.get("PATH", ""), "EMULATOR_URL": emulator.base_url,
               "ACCOUNT_SID": ACCOUNT_SID, "AUTH_TOKEN": AUTH_TOKEN}  # fmt: skip
        run = subprocess.run(
            [str(NODE), str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert run.returncode == 0, run.stderr[-3000:]
        result: dict[str, Any] = json.loads(run.stdout)
        assert "error" not in result, result["error"]
        result["emulator_calls"] = emulator.resources("calls")
        yield result
    finally:
        simulator.close()
        emulator.stop()


def test_twilio_node_version_is_pinned() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["twilio"]
    installed = json.loads(TWILIO_NODE.read_text())["version"]
    assert pinned == installed
    assert int(installed.split(".")[0]) >= 5


def test_calls_over_rest(report: dict[str, Any]) -> None:
    call = report["call"]
    assert call["sid"].startswith("CA")
    assert (call["status"], call["direction"]) == ("queued", "outbound-api")
    assert report["callFetched"] == TO
    done = report["callDone"]
    assert done["status"] == "completed"
    start, end = (datetime.fromisoformat(done[k].replace("Z", "+00:00")) for k in ("startTime", "endTime"))
    assert (end - start).total_seconds() == int(done["duration"]) > 0
    filters = report["filters"]
    assert call["sid"] in filters["toMatches"]
    assert filters["toOther"] == 0
    assert call["sid"] in filters["startedAfter"]
    assert (filters["startedBefore2000"], filters["parent"]) == (0, 0)


def test_messages_over_rest_with_paging(report: dict[str, Any]) -> None:
    message = report["message"]
    assert (message["numSegments"], message["status"]) == ("2", "queued")  # 84 Cyrillic characters: UCS-2
    assert report["messageFetched"] == "Привет " * 12
    paging = report["paging"]
    assert paging["all"] == paging["created"][::-1]  # every page followed, newest first
    assert paging["firstPage"] == 2
    assert "PageSize=2" in paging["nextPageUrl"]
    assert message["sid"] in report["sentFilter"]["after"]
    assert report["sentFilter"]["before2000"] == 0


def test_errors_as_twilio_node_sees_them(report: dict[str, Any]) -> None:
    assert report["invalidTo"] == {
        "status": 400, "code": 21211, "moreInfo": "https://www.twilio.com/docs/errors/21211",
    }  # fmt: skip
    assert (report["badPageSize"]["status"], report["badPageSize"]["code"]) == (400, 20001)
    assert (report["unknownCall"]["status"], report["unknownCall"]["code"]) == (404, 20404)


def test_update_and_remove(report: dict[str, Any]) -> None:
    assert report["update"] == "in-progress"
    assert 0 < report["updatedDuration"] < 60  # the 60 s pause was replaced
    assert (report["updateFinished"]["status"], report["updateFinished"]["code"]) == (400, 21220)
    assert (report["removeRinging"]["status"], report["removeRinging"]["code"]) == (400, 20009)
    assert report["removeFinished"] is True
    assert report["fetchRemoved"]["status"] == 404
    assert report["removeMessage"] is True


def test_every_webhook_passes_twilio_nodes_validate_request(report: dict[str, Any]) -> None:
    received = report["received"]
    paths = {r["path"].split("?")[0] for r in received}
    assert {"/twiml", "/status", "/recording", "/transcribed", "/recorded"} <= paths
    assert len(received) >= 10
    invalid = [(r["method"], r["path"]) for r in received if not r["valid"]]
    assert invalid == []
    assert not any(r["validWithWrongToken"] for r in received)  # the check can fail
    # The TwiML URL had non-ASCII and "|" in its query: signed as sent on the wire, re-encoded.
    fetch = next(r for r in received if r["path"].startswith("/twiml"))
    assert "%7C" in fetch["path"]
    assert unquote(fetch["path"]) == "/twiml?who=Zoë|Ann"


def test_every_webhook_has_the_documented_parameters(report: dict[str, Any]) -> None:
    received = report["received"]
    assert all(r["token"] for r in received)
    assert len({r["token"] for r in received}) == len(received)  # one event each, no retries here
    location = {side + part for side in ("From", "To") for part in ("City", "State", "Zip", "Country")}
    for r in received:
        if r["path"].startswith(("/twiml", "/recorded", "/status?kind=call")):
            assert location | {"CallToken", "CallSid", "AccountSid", "ApiVersion"} <= set(r["params"]), r["path"]
    transcribed = next(r["params"] for r in received if r["path"].startswith("/transcribed"))
    assert {"From", "To", "CallStatus", "ApiVersion", "Direction"} <= set(transcribed)
    recording = next(r["params"] for r in received if r["path"].startswith("/recording"))
    assert {"RecordingStartTime", "RecordingTrack"} <= set(recording)
    delivered = next(r["params"] for r in received if r["params"].get("MessageStatus") == "delivered")
    assert len(delivered["RawDlrDoneDate"]) == 10
