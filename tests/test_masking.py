"""Issue 11 point 7: every number masked in logs and telemetry, in every spelling; ids and times left alone."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from switchboard.shared.logs import redact
from switchboard.shared.phones import mask, mask_in_text
from tests.leakguard import find_numbers
from tests.support import serving
from tests.test_telemetry import _clean_env, ingestion  # noqa: F401 (a fixture)
from tools.localmachine import LOOPBACK, PROJECT_ROOT

# Any run of 7+ digits left in masked text would be a leak; the leak guard looks for the same.
RUN = re.compile(r"\d{7,}")


@pytest.mark.parametrize(
    "text",
    [
        "to +15558675310 failed",
        "to 15558675310 failed",  # a malformed `to` without the plus
        "short number 5551234",
        "eight 55512345 digits",
        "To=%2B15558675310&From=%2B15005550006",
        "To=%252B15558675310",  # double-encoded
        "q=To%3D15558675310",
        "PartitionKey='n%3A%2B15558675310'",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%2B15558675310",
        "https://h.example/n/15558675310/x",
        "tel:+447700900123,",
        "(+15558675310)",
        # Written with separators, as people and upstream apps do.
        "to '+1 555-867-5310' is not an E.164 number",
        "call +44 20 7946 0000 now",
        "+1 (555) 867-5310",
        "{'to': '(555) 867-5310'}",
        "555.867.5310 and 555-867-5310",
        # Free text around identifiers is still masked.
        "order-7a to +15558675310 failed",
        "sent to 15558675310 (id=order-1)",
    ],
)
def test_numbers_in_any_spelling_are_masked(text: str) -> None:
    masked = mask_in_text(text)
    assert not RUN.search(masked), masked
    assert masked != text
    assert find_numbers(masked) == []
    assert find_numbers(text) != []  # and the leak guard knows the unmasked form as a leak


@pytest.mark.parametrize(
    "text",
    [
        "CallSid CA0123456789abcdef0123456789abcdef",
        "RecordingSid RE1234567890123456789012345678901a",
        "at 2026-11-27T04:44:32.123456+00:00 took 0.1234567 s",
        "event:0001764567890123456:9f3a",  # a 16-digit row key
        "request t-1234567890abcdef and queue id 8c1d9d2e",
        "+1555***5310 and 1555***5310",
        "status 200 in 1234 ms, port 7071",
        "on 2026-12-01 20:08:01 +00:00 after 12-34-56, version 1.2.3-4",
        "offset +01:00, delta +12 -3",
        # Digits inside [0-9a-f-] identifiers and id= fields are ids, not numbers (issue 22).
        "message order-12345678:shipped dead-lettered",
        "uuid 12345678-1234-4123-8123-123456789012 and 0f8fad5b-d9cb-469f-a165-70867728950e",
        "GET /api/records/order-15558675310 id=15558675310&x=1, request_id=20261207093859",
    ],
)
def test_ids_times_and_masked_numbers_are_left_alone(text: str) -> None:
    assert mask_in_text(text) == text
    assert find_numbers(text) == []


def test_short_numbers_hide_at_least_half_their_digits() -> None:
    assert mask("+15558675310") == "+1555***5310"
    assert mask("+12345678") == "+12***78"
    assert mask("+1234567") == "+1***7"
    assert mask("+123456") == "+******"


def test_log_lines_are_masked_in_every_spelling(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="switchboard.test"):
        logging.getLogger("switchboard.test").info("to=%s url=%s", "15558675310", "x?To=%252B15558675310")
    assert not RUN.search(caplog.text), caplog.text
    assert redact("call 5551234") == "call 5***4"


# -- telemetry ------------------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _Answer)
    with serving(server) as port:
        yield f"http://{LOOPBACK}:{port}"


def test_spans_are_scrubbed_before_export(local_server: str) -> None:
    """The SDK's in-memory exporter after the scrubber: what an exporter would see, with automatic HTTP tracing."""
    import requests
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    from switchboard.shared.telemetry import scrubbing_processor

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(scrubbing_processor())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("lookup n:+15558675310", attributes={
        "url.full": "https://t.example/Messages.json?To=%2B15558675310",
        "db.statement": "PartitionKey eq 'n:+15558675310'",
        "numbers": ("15558675310", "ok"),
        "count": 15558675310,
    }) as span:  # fmt: skip
        span.add_event("exception", {"exception.message": "no route to 15558675310"})
        span.set_status(Status(StatusCode.ERROR, "failed for %2B15558675310"))
        span.set_attribute("late", "+447700900123")
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        requests.get(f"{local_server}/2010-04-01/Messages.json?To=%2B15558675310&PartitionKey='%2B15005550006'",
                     timeout=5)  # fmt: skip
    finally:
        instrumentor.uninstrument()
    spans = exported.get_finished_spans()
    assert len(spans) == 2
    for finished in spans:
        texts = {key: value for key, value in (finished.attributes or {}).items() if not isinstance(value, int)}
        text = " ".join([finished.name, str(texts), finished.status.description or "",
                         *(f"{e.name} {dict(e.attributes or {})}" for e in finished.events)])  # fmt: skip
        assert "***" in text
        assert find_numbers(text) == [], text
    manual = spans[0]
    assert manual.name == "lookup n:+1555***5310"
    assert manual.attributes is not None
    assert manual.attributes["count"] == 15558675310  # numbers that are not text are not phone numbers in text
    assert manual.attributes["late"] == "+4477***0123"
    http = spans[1]
    assert any("To=%2B1555***5310" in str(value) for value in (http.attributes or {}).values()), http.attributes


def test_the_exporter_gets_scrubbed_http_spans(ingestion, local_server: str) -> None:  # noqa: F811
    """As Azure runs it: configure() with Application Insights, automatic requests tracing, one HTTP call."""
    port = ingestion.server_address[1]
    connection = f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://{LOOPBACK}:{port}/"
    script = (
        "import requests\n"
        "from opentelemetry import trace\n"
        "from switchboard.shared import telemetry\n"
        "assert telemetry.configure() is True\n"
        "with telemetry.span('outbound.send n:+15558675310', to='15558675310'):\n"
        f"    requests.get('{local_server}/Messages.json?To=%2B15558675310&From=%252B15005550006', timeout=5)\n"
        "trace.get_tracer_provider().force_flush(10_000)\n"
    )
    env = _clean_env(
        APPLICATIONINSIGHTS_CONNECTION_STRING=connection,
        APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL="true",
        OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel",
        OTEL_TRACES_SAMPLER="always_on",
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=90)  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    received = json.dumps(ingestion.received)
    spans = [e for e in ingestion.received if str(e.get("name", "")).endswith(("Request", "RemoteDependency"))]
    assert len(spans) >= 2, received[:2000]
    assert "Messages.json" in received
    assert "1555***5310" in received
    assert "15558675310" not in received
    assert "15005550006" not in received


def test_a_number_next_to_an_id_is_masked_and_the_id_kept() -> None:
    text = "order-12345678:shipped to +15558675310, id=15558675310, uuid 12345678-1234-4123-8123-123456789012"
    assert mask_in_text(text) == (
        "order-12345678:shipped to +1555***5310, id=15558675310, uuid 12345678-1234-4123-8123-123456789012"
    )
    assert find_numbers(text) == ["+1555***5310"]  # the leak guard still catches the real number


def test_log_redaction_and_the_telemetry_scrubber_keep_ids_and_mask_numbers() -> None:
    from switchboard.shared.logs import redact
    from switchboard.shared.telemetry import scrub_value

    text = "message order-12345678:shipped to +15558675310"
    expected = "message order-12345678:shipped to +1555***5310"
    assert redact(text, secrets=()) == expected
    assert scrub_value(text) == expected
    assert scrub_value([text]) in ([expected], (expected,))


def test_a_log_line_stays_one_line_whatever_a_caller_sent() -> None:
    """A caller's CR/LF (or terminal escapes) in a logged value cannot forge a second log line."""
    import logging

    from switchboard.shared.logs import install, one_line

    install()
    record = logging.getLogRecordFactory()(
        "switchboard.x", logging.WARNING, __file__, 1, "Refused %s", ("body\r\n2026-01-01 INFO forged \x1b[2J",), None
    )
    assert record.getMessage() == "Refused body\\r\\n2026-01-01 INFO forged \\x1b[2J"
    assert one_line("tab\tstays") == "tab\tstays"


@pytest.mark.parametrize("breaker", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x9b"])
def test_every_character_a_reader_takes_for_a_line_break_is_escaped(breaker: str) -> None:
    """Unicode's line breaks too (NEL, LINE/PARAGRAPH SEPARATOR: `str.splitlines` and some viewers split on them),
    and the C1 controls (CSI `\x9b` is a terminal escape)."""
    from switchboard.shared.logs import one_line

    line = one_line(f"forged{breaker}2026-01-01 INFO next")
    assert len(line.splitlines()) == 1
    assert breaker not in line
    assert one_line("café ünïcode stays") == "café ünïcode stays"
