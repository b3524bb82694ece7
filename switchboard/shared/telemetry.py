"""Telemetry: OpenTelemetry to Application Insights when it is configured, and nothing at all otherwise.

With `APPLICATIONINSIGHTS_CONNECTION_STRING` set (Azure sets it; see infra/), `configure()` sets up
`azure-monitor-opentelemetry` for traces and metrics. The Functions host already ships the worker's
log lines to Application Insights, so the distro's log export is left off to avoid duplicates.
When Application Insights refuses local auth, `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
(`ClientId=<id>;Authorization=AAD`) selects the managed identity that authenticates the exporter.

Without the setting nothing is imported: `span()` returns a shared no-op context manager and
`annotate()` returns at once, so local runs and tests stay quiet and fast.

With it, the exporter is configured on the first `span()` (or an explicit `configure()`), not when the
app is imported: importing and configuring azure-monitor-opentelemetry costs several times
`import azure.functions`, and a cold start that answers a webhook without a span need not pay it.

Hooks for the code paths that place calls and send messages:

    with telemetry.span("outbound.send", request_id=rid, type="sms"):
        ...
        telemetry.annotate(request_id=rid, sid=message.sid, type="sms", status="queued")
        telemetry.log_event(logger, "outbound.sent", request_id=rid, to=to, sid=message.sid)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from switchboard.shared.phones import mask_in_text

CONNECTION_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION_SETTING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
TRACER_NAME = "switchboard"
# Attribute names: our own namespace, plus Twilio's SID under its own.
ATTRIBUTE_NAMES = {
    "request_id": "switchboard.request_id",
    "sid": "twilio.sid",
    "type": "switchboard.type",
    "status": "switchboard.status",
    "direction": "switchboard.direction",
    "error_code": "twilio.error_code",
    "to": "switchboard.to",
    "from": "switchboard.from",
}
_NOOP: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
_lock = threading.Lock()
_tracer: Any = None
_configured = False


def is_enabled() -> bool:
    return _tracer is not None


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Set up the exporter once per process if a connection string is set. Returns whether telemetry is on."""
    global _tracer, _configured
    env = os.environ if env is None else env
    connection_string = env.get(CONNECTION_SETTING, "").strip()
    if not connection_string:
        if env is os.environ:
            _configured_off()
        return False
    with _lock:
        if _configured:
            return _tracer is not None
        _configured = True
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry import trace

        options: dict[str, Any] = {
            "connection_string": connection_string,
            "disable_logging": True,
            # Runs before the exporter's batch processor: automatic HTTP and storage spans carry URLs
            # with numbers in them (`Messages.json?To=%2B1555...`, `PartitionKey='n:+1555...'`).
            "span_processors": [scrubbing_processor()],
        }
        credential = _credential(env.get(AUTHENTICATION_SETTING, ""))
        if credential is not None:
            options["credential"] = credential
        configure_azure_monitor(**options)
        _tracer = trace.get_tracer(TRACER_NAME)
        return True


def _configured_off() -> None:
    """The process's own environment has no connection string: later spans need not look again."""
    global _configured
    _configured = True


def _credential(authentication: str) -> Any:
    """`ClientId=<id>;Authorization=AAD` -> that managed identity; `Authorization=AAD` -> the system identity."""
    parts = dict(part.split("=", 1) for part in authentication.split(";") if "=" in part)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId", "").strip()
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def attributes(values: Mapping[str, object]) -> dict[str, str | int | float | bool]:
    """Telemetry attributes from keyword values: namespaced names, no None, phone numbers masked."""
    result: dict[str, str | int | float | bool] = {}
    for key, value in values.items():
        if value is None:
            continue
        name = ATTRIBUTE_NAMES.get(key, key if "." in key else f"switchboard.{key}")
        shown = mask_in_text(value) if isinstance(value, str) else value
        result[name] = shown if isinstance(shown, str | int | float | bool) else str(shown)
    return result


def _lazily() -> bool:
    """Configure on first use: True when telemetry is on (checked once per process, then a flag)."""
    if _tracer is not None:
        return True
    if _configured:
        return False
    return configure()


def span(name: str, **values: object) -> contextlib.AbstractContextManager[Any]:
    """A span around a unit of work (`with span("outbound.send", request_id=...)`); a shared no-op when off."""
    if _tracer is None and not _lazily():
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes(values))  # type: ignore[no-any-return]


def annotate(
    *,
    request_id: str | None = None,
    sid: str | None = None,
    type: str | None = None,  # the message contract's own word
    status: str | None = None,
    **values: object,
) -> None:
    """Attach the request id, Twilio SID, message type and status to the current span."""
    if _tracer is None and not _lazily():
        return
    from opentelemetry import trace

    found = {"request_id": request_id, "sid": sid, "type": type, "status": status, **values}
    trace.get_current_span().set_attributes(attributes(found))


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **values: object) -> None:
    """One structured line: `outbound.sent request_id=r1 to=+1555***5310 status=queued`.

    The fields also travel as the record's `switchboard` attribute, which log exporters keep
    as custom dimensions. Phone numbers are masked here, before any handler sees them.
    """
    if not logger.isEnabledFor(level):
        return
    fields = {key: (mask_in_text(v) if isinstance(v, str) else v) for key, v in values.items() if v is not None}
    text = " ".join(f"{key}={_token(value)}" for key, value in fields.items())
    logger.log(level, "%s %s", event, text, extra={"switchboard": {"event": event, **fields}})


def _token(value: object) -> str:
    """A field's value as one token: a producer's text (a rejected message's `to`) holding a space or `=` would
    otherwise forge fields the alert queries read (`status=`). Percent-escaped; masked numbers stay readable."""
    from urllib.parse import quote

    return quote(str(value), safe="+*:@/._-,")


def scrub_value(value: Any) -> Any:
    """A span attribute value with phone numbers masked (strings, and sequences of strings)."""
    if isinstance(value, str):
        return mask_in_text(value)
    if isinstance(value, tuple | list):
        return type(value)(mask_in_text(item) if isinstance(item, str) else item for item in value)
    return value


def scrub_span(span: Any) -> None:
    """Mask numbers in an ended span's name, attributes, events and status, before any exporter sees it.

    The SDK offers no public way to change a span once it has ended, so this replaces the
    ReadableSpan's own fields (`_name`, `_attributes`, `_events`, `_status`); the test runs the
    real SDK and exporter to keep that honest across SDK versions.
    """
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import Event
    from opentelemetry.trace import Status

    span._name = mask_in_text(span._name or "")
    attributes = span._attributes
    if attributes:
        scrubbed = {key: scrub_value(value) for key, value in attributes.items()}
        span._attributes = BoundedAttributes(
            maxlen=getattr(attributes, "maxlen", None), attributes=scrubbed, immutable=True,
            max_value_len=getattr(attributes, "max_value_len", None),
        )  # fmt: skip
    if span._events:
        events = [
            Event(mask_in_text(event.name), {k: scrub_value(v) for k, v in (event.attributes or {}).items()},
                  event.timestamp)
            for event in span._events
        ]  # fmt: skip
        span._events = _bounded(span._events, events)
    status = span._status
    if status is not None and status.description:
        span._status = Status(status.status_code, mask_in_text(status.description))


def _bounded(original: Any, items: list[Any]) -> Any:
    from opentelemetry.sdk.util import BoundedList

    if not isinstance(original, BoundedList):
        return tuple(items)
    maxlen = getattr(getattr(original, "_dq", None), "maxlen", None)  # the SDK's own bound, kept
    bounded: Any = BoundedList(maxlen)
    bounded.extend(items)
    bounded.dropped = original.dropped
    return bounded


def scrubbing_processor() -> Any:
    """A SpanProcessor that masks phone numbers in every span as it ends (see `scrub_span`)."""
    from opentelemetry.sdk.trace import SpanProcessor

    class ScrubbingSpanProcessor(SpanProcessor):
        def on_end(self, span: Any) -> None:
            scrub_span(span)

    return ScrubbingSpanProcessor()
