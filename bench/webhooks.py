"""2. Webhook cost in process: each handler, called as the host calls it, against the SDK work alone.

The floor for each route is what the twilio SDK must do anyway: `RequestValidator.validate`
on the same URL, form and signature, then building and serialising the same TwiML.
Handler and floor run in alternating blocks so that drift hits both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from bench import stats
from bench.payloads import AUTH_TOKEN, AUTO_REPLY, GREETING, Webhook, webhooks

BLOCK = 500


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
    from switchboard.devhost.index import functions_of

    for function in functions_of(app):
        if function.get_function_name() == name:
            return function.get_user_function()  # type: ignore[no-any-return]
    raise LookupError(f"the app has no function {name}")


def floor_call(validator: RequestValidator, hook: Webhook, signature: str, build: Callable[[], str]) -> str:
    if not validator.validate(hook.public_url, hook.form, signature):
        raise RuntimeError("floor: signature did not validate")
    return build()


def run_route(app: Any, name: str, calls: int) -> dict[str, Any]:
    handler = handler_of(app, name)
    build = FLOOR_TWIML[name]
    validator = RequestValidator(AUTH_TOKEN)
    # Same TwiML on both sides, or the comparison means nothing.
    sample = next(h for h in webhooks(0) if h.function == name)
    answer = handler(sample.http_request())
    if answer.status_code != 200 or answer.get_body().decode() != build():
        raise RuntimeError(f"{name}: the handler's TwiML differs from the floor's: {answer.get_body()!r}")
    handler_ns: list[int] = []
    floor_ns: list[int] = []
    done = 0
    while done < calls:
        size = min(BLOCK, calls - done)
        # Requests are built outside the timed region: that is the host's work, not the handler's.
        hooks = [next(h for h in webhooks(done + i) if h.function == name) for i in range(size)]
        requests = [hook.http_request() for hook in hooks]
        signed = [(hook, hook.signature()) for hook in hooks]
        for request in requests:
            start = time.perf_counter_ns()
            response = handler(request)
            handler_ns.append(time.perf_counter_ns() - start)
            if response.status_code != 200:
                raise RuntimeError(f"{name} answered {response.status_code}")
        for hook, signature in signed:
            start = time.perf_counter_ns()
            floor_call(validator, hook, signature, build)
            floor_ns.append(time.perf_counter_ns() - start)
        done += size
    return {"handler_us": stats.summary(handler_ns, "us"), "floor_us": stats.summary(floor_ns, "us")}


def measure(app: Any, calls: int, record_write: dict[str, Any] | None) -> dict[str, Any]:
    figures = []
    detail: dict[str, Any] = {"calls_per_route": calls}
    for name, route in (
        ("voice_incoming", "/api/voice/incoming"),
        ("sms_incoming", "/api/sms/incoming"),
        ("twiml_message", "/api/twiml/message"),
    ):
        result = run_route(app, name, calls)
        detail[name] = result
        handler, floor = result["handler_us"], result["floor_us"]
        figures.append(
            stats.figure(
                f"webhook_{name}",
                f"Webhook {route}",
                measured=handler["median"],
                baseline=floor["median"],
                baseline_name="RequestValidator.validate + same TwiML built and serialised",
                unit="us",
                op="<=",
                target=1.5,
                note=f"{calls} calls each, in process, valid signatures",
            )
            | {"measured_p99": handler["p99"], "baseline_p99": floor["p99"]}
        )
    detail["record_write"] = record_write or {"status": "not yet measured: inbound records are not in this build"}
    return {"figures": figures, "detail": detail}
