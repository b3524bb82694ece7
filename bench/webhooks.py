"""2. Webhook cost in process: each handler, called as the host calls it, against the SDK work alone.

The floor for each route is what the twilio SDK must do anyway: `RequestValidator.validate`
on the same URL, form and signature, then building and serialising the same TwiML.
Handler and floor run in alternating blocks so that drift hits both alike.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from bench import stats
from bench.payloads import AUTH_TOKEN, AUTO_REPLY, GREETING, Webhook, webhooks

BLOCK = 500
RECORDED = ("voice_incoming", "sms_incoming")  # routes that record inbound traffic


def voice_twiml() -> str:
    response = VoiceResponse()
    response.say(GREETING)
    response.hangup()
    return str(response)


def sms_twiml() -> str:
    response = MessagingResponse()
    response.message(AUTO_REPLY)
    return str(response)


def message_twiml() -> str:
    response = VoiceResponse()
    response.say("Hello world.")
    return str(response)


FLOOR_TWIML: dict[str, Callable[[], str]] = {
    "voice_incoming": voice_twiml,
    "sms_incoming": sms_twiml,
    "twiml_message": message_twiml,
}


def handler_of(app: Any, name: str) -> Callable[..., Any]:
    from tools.devhost.index import functions_of

    for function in functions_of(app):
        if function.get_function_name() == name:
            return function.get_user_function()
    raise LookupError(f"the app has no function {name}")


def floor_call(validator: RequestValidator, hook: Webhook, signature: str, build: Callable[[], str]) -> str:
    if not validator.validate(hook.public_url, hook.form, signature):
        raise RuntimeError("floor: signature did not validate")
    return build()


class RecordWrites:
    """Wraps the handlers' inbound record write: times it, or turns it off for the figure that excludes it."""

    # The handlers import record_quietly from here when called, so patching it here reaches all of them.
    MODULES = ("switchboard.functions.glue_records",)

    def __init__(self) -> None:
        self.modules = [m for m in map(importlib.import_module, self.MODULES) if hasattr(m, "record_quietly")]
        self.originals = {m: m.record_quietly for m in self.modules}
        self.samples: list[int] = []

    @property
    def present(self) -> bool:
        return bool(self.modules)

    def _timed(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return original(*args, **kwargs)
            finally:
                self.samples.append(time.perf_counter_ns() - start)

        return wrapper

    @contextlib.contextmanager
    def mode(self, write: bool) -> Iterator[None]:
        for module, original in self.originals.items():
            module.record_quietly = self._timed(original) if write else _skip  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for module, original in self.originals.items():
                module.record_quietly = original  # type: ignore[attr-defined]


def _skip(*args: Any, **kwargs: Any) -> None:
    return None


def _parse(request: Any) -> Any:
    from switchboard.webhooks.request import WebhookRequest

    return WebhookRequest.parse(request.method, request.url, dict(request.headers), request.get_body())


def _time_calls(call: Callable[[Any], Any], items: list[Any], into: list[int]) -> None:
    for item in items:
        start = time.perf_counter_ns()
        call(item)
        into.append(time.perf_counter_ns() - start)


def _checked(handler: Callable[..., Any], name: str) -> Callable[[Any], Any]:
    def call(request: Any) -> Any:
        response = handler(request)
        if response.status_code != 200:
            raise RuntimeError(f"{name} answered {response.status_code}")
        return response

    return call


def run_route(app: Any, name: str, calls: int, records: RecordWrites, shipped_every: int) -> dict[str, Any]:
    handler = _checked(handler_of(app, name), name)
    build = FLOOR_TWIML[name]
    validator = RequestValidator(AUTH_TOKEN)
    # Same TwiML on both sides, or the comparison means nothing.
    sample = next(h for h in webhooks(0) if h.function == name)
    with records.mode(write=False):
        answer = handler(sample.http_request())
    if answer.get_body().decode() != build():
        raise RuntimeError(f"{name}: the handler's TwiML differs from the floor's: {answer.get_body()!r}")
    samples: dict[str, list[int]] = {"handler": [], "floor": [], "shipped": [], "parse": []}
    records.samples.clear()
    done = block = 0
    while done < calls:
        size = min(BLOCK, calls - done)
        # Requests are built outside the timed region: that is the host's work, not the handler's.
        hooks = [next(h for h in webhooks(done + i) if h.function == name) for i in range(size)]
        requests = [hook.http_request() for hook in hooks]
        signed = [(hook, hook.signature()) for hook in hooks]
        with records.mode(write=False):
            _time_calls(handler, requests, samples["handler"])
        _time_calls(lambda pair: floor_call(validator, pair[0], pair[1], build), signed, samples["floor"])
        # Where the gap comes from: parsing the raw request, which the floor is handed already parsed.
        _time_calls(_parse, requests, samples["parse"])
        if records.present and name in RECORDED and block % shipped_every == 0:
            # As shipped: the record write runs inside the handler; fresh CallSids, so each is a new record.
            shipped = [h.http_request() for h in (next(w for w in webhooks(calls + done + i) if w.function == name)
                                                  for i in range(size))]  # fmt: skip
            with records.mode(write=True):
                _time_calls(handler, shipped, samples["shipped"])
        done += size
        block += 1
    result = {
        "handler_us": stats.summary(samples["handler"], "us"),
        "floor_us": stats.summary(samples["floor"], "us"),
        "parse_us": stats.summary(samples["parse"], "us"),
        # Block by block (handler and floor alternate): the ratio's spread across the run.
        "block_ratios": stats.round_ratios(
            stats.round_medians(samples["handler"], BLOCK), stats.round_medians(samples["floor"], BLOCK)
        ),
    }
    if samples["shipped"]:
        result["shipped_us"] = stats.summary(samples["shipped"], "us")
        result["record_write_us"] = stats.summary(records.samples, "us")
    return result


def measure(app: Any, calls: int, shipped_every: int) -> dict[str, Any]:
    figures: list[dict[str, Any]] = []
    records = RecordWrites()
    detail: dict[str, Any] = {
        "calls_per_route": calls,
        "record_write_present": records.present,
        "shipped_calls_per_recorded_route": (calls + BLOCK * shipped_every - 1) // (BLOCK * shipped_every) * BLOCK
        if records.present
        else 0,
    }
    for name, route in (
        ("voice_incoming", "/api/voice/incoming"),
        ("sms_incoming", "/api/sms/incoming"),
        ("twiml_message", "/api/twiml/message"),
    ):
        result = run_route(app, name, calls, records, shipped_every)
        detail[name] = result
        handler, floor = result["handler_us"], result["floor_us"]
        excluded = " (record write excluded)" if records.present and name in RECORDED else ""
        figures.append(
            stats.figure(
                f"webhook_{name}", f"Webhook {route}{excluded}", measured=handler["median"],
                baseline=floor["median"], baseline_name="RequestValidator.validate + same TwiML, serialised",
                unit="us", op="<=", target=1.5, note=f"{calls} calls each, in process, valid signatures",
                rounds=result["block_ratios"],
            )
            | {"measured_p99": handler["p99"], "baseline_p99": floor["p99"]}
        )  # fmt: skip
        if "shipped_us" in result:
            shipped, write = result["shipped_us"], result["record_write_us"]
            figures.append(
                stats.figure(
                    f"webhook_{name}_as_shipped", f"Webhook {route} as shipped (inbound record write included)",
                    measured=shipped["median"], baseline=floor["median"], baseline_name="the same floor",
                    unit="us", op="<=", target=None,
                    note=f"{shipped['n']} calls; the record write alone: median {write['median']:.0f} us, "
                    f"p99 {write['p99']:.0f} us",
                )
                | {"measured_p99": shipped["p99"], "baseline_p99": floor["p99"]}
            )  # fmt: skip
    if not records.present:
        detail["record_write"] = "not yet measured: this build does not record inbound traffic"
    return {"figures": figures, "detail": detail}
