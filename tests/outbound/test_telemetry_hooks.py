"""Telemetry hooks in the outbound functions and status callbacks, with a real OpenTelemetry SDK tracer in memory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.shared import telemetry
from tests.outbound.conftest import callback, deliver, new_id
from tools.emulator.rest import TwilioEmulator


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Telemetry switched on for one test, exporting to memory instead of Application Insights."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_tracer", provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def test_a_send_is_a_span_with_request_id_sid_type_and_status(
    app, twilio: TwilioEmulator, spans, caplog: pytest.LogCaptureFixture
) -> None:
    request_id = new_id()
    with caplog.at_level(logging.INFO, logger="switchboard.outbound"):
        deliver(app, {"type": "sms", "id": request_id, "to": "+15558675310", "body": "hi"}, message_id="q-1")
    [span] = [s for s in spans.get_finished_spans() if s.name == "outbound.send"]
    attributes = dict(span.attributes)
    sid = attributes.pop("twilio.sid")
    assert sid in twilio.resources("messages")
    assert attributes == {
        "switchboard.queue_message_id": "q-1",
        "switchboard.dequeue_count": 1,
        "switchboard.request_id": request_id,
        "switchboard.type": "sms",
        "switchboard.status": "queued",
    }
    [line] = [r for r in caplog.records if r.getMessage().startswith("outbound.handled")]
    assert line.getMessage() == (
        f"outbound.handled request_id={request_id} type=sms to=+1555***5310 sid={sid} status=queued"
    )

    spans.clear()
    callback(app, "sms", {"MessageSid": sid, "MessageStatus": "delivered", "To": "+15558675310"})
    [status] = [s for s in spans.get_finished_spans() if s.name == "twilio.status_callback"]
    assert dict(status.attributes) == {
        "switchboard.type": "sms",
        "twilio.sid": sid,
        "switchboard.status": "delivered",
        "switchboard.request_id": request_id,  # found by SID, added once the record is known
    }


def test_a_rejected_message_is_annotated_too(app, azurite: str, spans) -> None:  # the rejection is recorded
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": "not-a-number", "body": "hi"})
    [span] = [s for s in spans.get_finished_spans() if s.name == "outbound.send"]
    assert span.attributes["switchboard.request_id"] == request_id
    assert span.attributes["switchboard.status"] == "rejected"
    assert "twilio.sid" not in span.attributes
