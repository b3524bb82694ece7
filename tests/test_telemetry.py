"""switchboard.shared.telemetry: nothing imported when off; spans with our attributes reach an ingestion endpoint."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from switchboard.shared import telemetry
from tests.support import serving
from tools.localmachine import LOOPBACK, PROJECT_ROOT

HEAVY = ("opentelemetry", "azure.monitor", "azure.identity", "azure.storage", "azure.data", "twilio.rest")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    return env | extra


def test_importing_the_app_without_a_connection_string_imports_no_exporter() -> None:
    script = (
        "import sys, function_app\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
        "from switchboard.shared import telemetry\n"
        "print(telemetry.is_enabled())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=PROJECT_ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "False"]


def test_when_off_span_and_annotate_do_nothing() -> None:
    assert not telemetry.is_enabled()
    assert telemetry.configure({}) is False
    first = telemetry.span("outbound.send", request_id="r1")
    assert first is telemetry.span("other")  # one shared no-op, no allocation per call
    with first as inside:
        assert inside is None
        telemetry.annotate(request_id="r1", sid="SM1", type="sms", status="sent")


def test_attributes_are_namespaced_and_numbers_masked() -> None:
    found = telemetry.attributes(
        {"request_id": "r1", "sid": "CA123", "type": "call", "status": None, "to": "+15558675310", "attempts": 2}
    )
    assert found == {
        "switchboard.request_id": "r1",
        "twilio.sid": "CA123",
        "switchboard.type": "call",
        "switchboard.to": "+1555***5310",
        "switchboard.attempts": 2,
    }


def test_log_event_writes_one_structured_masked_line(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("switchboard.test.telemetry")
    with caplog.at_level(logging.INFO, logger=logger.name):
        telemetry.log_event(logger, "outbound.sent", request_id="r1", to="+15558675310", sid="SM1", error=None)
    [record] = caplog.records
    assert record.getMessage() == "outbound.sent request_id=r1 to=+1555***5310 sid=SM1"
    assert record.switchboard == {"event": "outbound.sent", "request_id": "r1", "to": "+1555***5310", "sid": "SM1"}  # type: ignore[attr-defined]


def test_a_value_cannot_forge_a_field_of_the_structured_line(caplog: pytest.LogCaptureFixture) -> None:
    """A rejected message's `to` is the producer's own text: `x status=dead_lettered` made the alert queries (which
    extract the first `status=`) count a lost request, and `status=queued` would have diluted the failure rate."""
    import re

    logger = logging.getLogger("switchboard.test.telemetry")
    with caplog.at_level(logging.INFO, logger=logger.name):
        telemetry.log_event(logger, "outbound.handled", request_id="r1", type="sms", to="x status=dead_lettered q=1",
                            status="rejected")  # fmt: skip
    [record] = caplog.records
    line = record.getMessage()
    assert re.findall(r"\bstatus=(\S+)", line) == ["rejected"]  # as infra/app/alerts.bicep reads it
    assert len(line.split(" ")) == 5  # the event and one token per field
    assert record.switchboard["to"] == "x status=dead_lettered q=1"  # type: ignore[attr-defined]


def test_the_authentication_string_selects_the_managed_identity() -> None:
    from azure.identity import ManagedIdentityCredential

    assert telemetry._credential("") is None
    assert telemetry._credential("Authorization=Key") is None
    credential = telemetry._credential("ClientId=00000000-1111-2222-3333-444444444444;Authorization=AAD")
    assert isinstance(credential, ManagedIdentityCredential)


class _Ingestion(BaseHTTPRequestHandler):
    received: list[dict[str, object]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip" or body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        text = body.decode("utf-8")
        envelopes = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
        self.server.received.extend(envelopes)  # type: ignore[attr-defined]
        answer = json.dumps({"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes), "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _Ingestion)
    server.received = []  # type: ignore[attr-defined]
    with serving(server):
        yield server


def test_when_on_spans_carry_request_id_sid_type_and_status(ingestion: ThreadingHTTPServer) -> None:
    port = ingestion.server_address[1]
    connection = f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://{LOOPBACK}:{port}/"
    script = (
        "from opentelemetry import trace\n"
        "from switchboard.shared import telemetry\n"
        "assert telemetry.configure() is True\n"
        "with telemetry.span('outbound.send', request_id='r-42', type='sms', to='+15558675310'):\n"
        "    telemetry.annotate(sid='SM0123', status='sent')\n"
        "trace.get_tracer_provider().force_flush(10_000)\n"
    )
    env = _clean_env(
        APPLICATIONINSIGHTS_CONNECTION_STRING=connection,
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",  # statsbeat would call Microsoft's endpoint
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel",  # no cloud metadata probes
        OTEL_TRACES_SAMPLER="always_on",  # the distro's default sampler may drop a lone span
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    received: list[dict[str, Any]] = ingestion.received  # type: ignore[attr-defined]
    spans = [e for e in received if str(e.get("name", "")).endswith(("Request", "RemoteDependency"))]
    properties = [e["data"]["baseData"].get("properties", {}) for e in spans]
    assert {
        "switchboard.request_id": "r-42",
        "switchboard.type": "sms",
        "switchboard.to": "+1555***5310",
        "twilio.sid": "SM0123",
        "switchboard.status": "sent",
    }.items() <= properties[0].items(), received
