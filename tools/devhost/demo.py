"""`python -m tools.devhost.demo` (`make demo`): the whole loop, offline, on a private stack.

It starts its own Azurite (in memory), Twilio emulator and app on free ports, so it never clashes with a
running `make run`, then: the seed's "Hello world" call through the `outbound` queue, an SMS, an inbound
call through a menu, an inbound STOP, a voicemail played back from the user's own Blob Storage; then the
CloudEvents that arrived on the `events` queue (read and acknowledged with switchboard.client, as a consumer
would), and the final records from Table Storage.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tools.devhost.stack import Stack
from tools.localmachine import PROJECT_ROOT, Azurite, free_port

DEMO_TO = "+15558675310"
FINAL = frozenset({
    "completed", "busy", "no-answer", "failed", "canceled", "delivered", "undelivered", "read", "rejected",
    "dead_lettered", "unknown",
})  # fmt: skip
WAIT_SECONDS = 45.0


class Missing(RuntimeError):
    """A step needs a part of the app that this build does not have."""


@dataclass
class Tour:
    """Where the app is, as whom to sign, and how to print."""

    origin: str  # the app, e.g. http://127.0.0.1:7071
    function_key: str
    account_sid: str
    auth_token: str
    number: str  # our Twilio number
    features: frozenset[str]
    say: Callable[[str], None] = print
    caller: str = DEMO_TO  # who calls in and texts STOP
    emulator: str | None = None  # the Twilio emulator's origin, where a walked call leaves its recordings
    record_ids: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def out(self, text: str) -> None:
        self.lines.append(text)
        self.say(text)

    def need(self, feature: str, what: str) -> None:
        if feature not in self.features:
            raise Missing(f"missing: {what}")

    def record(self, record_id: str) -> tuple[int, dict[str, Any]]:
        import requests

        response = requests.get(
            f"{self.origin}/api/records/{record_id}", headers={"x-functions-key": self.function_key}, timeout=10
        )
        try:
            return response.status_code, dict(response.json())
        except ValueError:
            return response.status_code, {}

    def wait_for_record(self, record_id: str, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, last = self.record(record_id)
            if status == 200 and last.get("status") in FINAL:
                return last
            time.sleep(0.5)
        raise TimeoutError(f"record {record_id} did not reach a final status in {timeout:.0f}s (last: {last})")


def features_of(app: Any) -> frozenset[str]:
    """What this build of the app can do, read from its own function index."""
    from tools.devhost.index import index

    http, queues = index(app)
    found = {f"route:{f.route}" for f in http} | {f"queue:{f.queue_name}" for f in queues}
    # Twimlets may be served by one templated route (twiml/{name}) rather than one route each.
    if "route:twiml/menu" in found or (
        "route:twiml/{name}" in found and importlib.util.find_spec("switchboard.twiml.twimlets.menu") is not None
    ):
        found.add("twimlet:menu")
    if "route:twiml/{name}" in found and importlib.util.find_spec("switchboard.twiml.twimlets.voicemail") is not None:
        found.add("twimlet:voicemail")
    return frozenset(found)


def enqueue(message: dict[str, Any]) -> None:
    from switchboard.adapters.storage import queue_client

    client = queue_client("outbound", base64=False)
    try:
        client.create_queue()
    except Exception as error:  # already there
        if type(error).__name__ != "ResourceExistsError":
            raise
    client.send_message(base64.b64encode(json.dumps(message).encode("utf-8")).decode("ascii"))


def summary(record: dict[str, Any]) -> str:
    keys = ("id", "type", "direction", "status", "sid", "to", "from", "error_code", "attempts")
    shown = {key: record[key] for key in keys if record.get(key) is not None}
    events = [e.get("status") or e.get("kind") or e.get("type") for e in record.get("events", [])]
    return json.dumps(shown) + (f"\n      events: {' -> '.join(str(e) for e in events)}" if events else "")


def step_seed_call(tour: Tour) -> None:
    message = {"type": "call", "id": f"demo-hello-{uuid.uuid4().hex[:8]}", "to": DEMO_TO, "say": "Hello world."}
    outbound_step(tour, message, expected="completed")


def step_sms(tour: Tour) -> None:
    body = "Hello from the Switchboard demo."
    message = {"type": "sms", "id": f"demo-sms-{uuid.uuid4().hex[:8]}", "to": DEMO_TO, "body": body}
    outbound_step(tour, message, expected="delivered")


def outbound_step(tour: Tour, message: dict[str, str], *, expected: str) -> None:
    """Enqueue one outbound request as another app would, and wait for its record to reach `expected`."""
    tour.need("queue:outbound", "the outbound queue worker (a queue trigger on 'outbound')")
    tour.need("route:records/{id}", "the read API GET /api/records/{id}")
    tour.out(f"    enqueue to 'outbound' (base64): {json.dumps(message)}")
    enqueue(message)
    tour.record_ids.append(message["id"])
    record = tour.wait_for_record(message["id"])
    tour.out(f"    record: {summary(record)}")
    if record.get("status") != expected:
        raise AssertionError(f"the {message['type']} ended {record.get('status')}, not {expected}")


def step_menu_call(tour: Tour) -> None:
    from tools.emulator.inbound import inbound_call

    tour.need("twimlet:menu", "the menu twimlet (/api/twiml/menu)")
    message = f"{tour.origin}/api/twiml/message"
    url = f"{tour.origin}/api/twiml/menu?" + urlencode([
        ("Message", "Press 1 for sales. Press 2 for support."),
        ("Options[1]", f"{message}?{urlencode({'Message': 'You chose sales. Goodbye.'})}"),
        ("Options[2]", f"{message}?{urlencode({'Message': 'You chose support. Goodbye.'})}"),
    ])  # fmt: skip
    tour.out(f"    ring {tour.number} (Voice URL /api/twiml/menu), the caller presses 1")
    call_sid, result = inbound_call(
        url, account_sid=tour.account_sid, auth_token=tour.auth_token, to=tour.number, from_=tour.caller, digits=("1",)
    )
    for line in result.transcript:
        tour.out(f"      {line}")
    if result.exchanges and result.exchanges[0].status == 404:
        raise Missing("missing: the menu twimlet (/api/twiml/menu answers 404)")
    if result.errors or not any("You chose sales" in line for line in result.transcript):
        raise AssertionError(f"the menu call {call_sid} did not reach the sales message (errors {result.errors})")


def step_stop(tour: Tour) -> None:
    from tools.emulator.inbound import inbound_sms

    tour.out(f"    text STOP from {tour.caller} to {tour.number} (/api/sms/incoming)")
    result = inbound_sms(
        f"{tour.origin}/api/sms/incoming", account_sid=tour.account_sid, auth_token=tour.auth_token,
        to=tour.number, from_=tour.caller, body="STOP",
    )  # fmt: skip
    if result.error:
        raise AssertionError(result.error)
    for reply in result.replies:
        tour.out(f"      reply: {reply.body}")
    if not result.replies:
        tour.out("      (no reply: Twilio's own opt-out handling answers STOP on a real number)")
    if "route:records/{id}" in tour.features:
        tour.record_ids.append(result.message_sid)
    if "queue:outbound" in tour.features:
        request_id = f"demo-after-stop-{uuid.uuid4().hex[:8]}"
        message = {"type": "sms", "id": request_id, "to": tour.caller, "body": "Are you still there?"}
        tour.out(f"    then enqueue an SMS to the opted-out number: {json.dumps(message)}")
        enqueue(message)
        tour.record_ids.append(request_id)
        record = tour.wait_for_record(request_id)
        tour.out(f"    record: {summary(record)}")
        if record.get("status") != "rejected":
            raise AssertionError(f"an SMS to an opted-out number ended {record.get('status')}, not rejected")


def step_voicemail_playback(tour: Tour) -> None:
    """Leave a voicemail, wait for its recording to be copied into Blob Storage, play it back from there."""
    import io
    import wave

    import requests

    from tools.emulator.inbound import inbound_call
    from tools.emulator.recordings import RemoteMedia

    tour.need("twimlet:voicemail", "the voicemail twimlet (/api/twiml/voicemail)")
    tour.need("route:media/{id}/{name}", "the media route GET /api/media/{id}/{name}")
    tour.need("queue:media-downloads", "the media copy worker (a queue trigger on 'media-downloads')")
    if tour.emulator is None:
        raise Missing("missing: the Twilio emulator (the recording lives there)")
    url = f"{tour.origin}/api/twiml/voicemail?" + urlencode(
        {"Message": "Please leave a message.", "Transcribe": "false"}
    )
    tour.out(f"    ring {tour.number} (Voice URL /api/twiml/voicemail) and leave a message")
    media = RemoteMedia(tour.emulator, tour.account_sid, tour.auth_token)
    call_sid, result = inbound_call(
        url, account_sid=tour.account_sid, auth_token=tour.auth_token, to=tour.number, from_=tour.caller, media=media
    )
    for line in result.transcript:
        tour.out(f"      {line}")
    if result.errors:
        raise AssertionError(f"the voicemail call {call_sid} failed (errors {result.errors})")
    tour.record_ids.append(call_sid)
    deadline = time.monotonic() + WAIT_SECONDS
    blobs: list[str] = []
    while not blobs and time.monotonic() < deadline:
        status, record = tour.record(call_sid)
        blobs = list(record.get("blobs") or []) if status == 200 else []
        if not blobs:
            time.sleep(0.5)
    if not blobs:
        raise AssertionError(f"the recording of {call_sid} did not reach Blob Storage in {WAIT_SECONDS:.0f}s")
    name = blobs[0].rsplit("/", 1)[1]
    tour.out(f"    copied into your storage: container 'recordings', blob {blobs[0]}")
    answer = requests.get(
        f"{tour.origin}/api/media/{call_sid}/{name}", headers={"x-functions-key": tour.function_key}, timeout=10
    )
    if answer.status_code != 200 or answer.headers.get("Content-Type") != "audio/x-wav":
        raise AssertionError(f"GET /api/media answered {answer.status_code} {answer.headers.get('Content-Type')}")
    with wave.open(io.BytesIO(answer.content)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
        shape = f"{audio.getframerate()} Hz, {audio.getnchannels()} channel(s), {8 * audio.getsampwidth()}-bit"
    tour.out(f"    played back from your own storage (GET /api/media/{call_sid}/{name}):")
    tour.out(f"      a WAV of {seconds:.1f} s ({shape}, {len(answer.content)} bytes)")
    if seconds <= 0:
        raise AssertionError("the stored recording is empty")


# The events the steps above make, at least (docs/events.md): their final statuses, the arrivals, the opt-out.
EXPECTED_EVENTS = frozenset({"switchboard.message.received", "switchboard.call.received", "switchboard.optout.added",
                             "switchboard.message.rejected"})  # fmt: skip
EVENT_WAIT_SECONDS = 20.0


def step_events(tour: Tour) -> None:
    """Read the `events` queue as a consumer app would (switchboard.client), print each event, acknowledge it."""
    from switchboard.client import events_queue, receive_events
    from switchboard.shared.phones import mask

    queue = events_queue(os.environ["AzureWebJobsStorage"])
    seen: dict[str, str] = {}
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while time.monotonic() < deadline and not set(seen.values()) >= EXPECTED_EVENTS:
        for event in receive_events(queue):
            if event.id not in seen:  # de-duplicate on the id: delivery is at least once
                seen[event.id] = event.type
                who = f" {mask(event.subject)}" if event.subject else ""
                tour.out(f"    {event.type}{who} (id {event.id}, sequence {event.sequence})")
            event.ack()
        time.sleep(0.5)
    missing = EXPECTED_EVENTS - set(seen.values())
    if missing:
        raise AssertionError(f"no {', '.join(sorted(missing))} event on the events queue")


STEPS: tuple[tuple[str, Callable[[Tour], None]], ...] = (
    ('The seed\'s "Hello world" call, through the outbound queue', step_seed_call),
    ("An SMS, through the outbound queue", step_sms),
    ("An inbound call through a menu", step_menu_call),
    ("An inbound STOP", step_stop),
    ("A voicemail, played back from your own Blob Storage", step_voicemail_playback),
    ("Events on the 'events' queue, as your app reads them (switchboard.client)", step_events),
)


def run_tour(tour: Tour) -> list[str]:
    """Every step, then the final records; returns the failures (empty: the whole loop worked)."""
    failures = []
    for number, (title, step) in enumerate(STEPS, start=1):
        tour.out(f"\n[{number}/{len(STEPS)}] {title}")
        try:
            step(tour)
            tour.out("    ok")
        except Exception as error:
            tour.out(f"    FAILED: {error}")
            failures.append(f"{title}: {error}")
    tour.out("\nFinal records in Table Storage (GET /api/records/{id}, with the function key):")
    if "route:records/{id}" not in tour.features:
        tour.out("    missing: the read API GET /api/records/{id}")
        failures.append("records: missing the read API")
    for record_id in tour.record_ids:
        status, record = tour.record(record_id)
        tour.out(f"  - {record_id}: " + (summary(record) if status == 200 else f"HTTP {status} {record}"))
    return failures


def main(argv: list[str] | None = None) -> int:
    from tools.devhost.host import load_app
    from tools.localmachine import load_local_settings

    settings_path = PROJECT_ROOT / "local.settings.json"
    if not settings_path.exists():
        settings_path = PROJECT_ROOT / "local.settings.json.example"
    env = dict(os.environ)
    load_local_settings(settings_path, env)
    if not env.get("LOCAL_FUNCTION_KEY"):
        env["LOCAL_FUNCTION_KEY"] = "demo-function-key"
    log_dir = PROJECT_ROOT / ".run"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / "demo.log"
    print("Switchboard demo: a private stack on free ports (Azurite in memory, the Twilio emulator, the app)")
    with open(log_path, "wb") as log_file:
        # Always the emulator, whatever the settings say: the demo never reaches real Twilio.
        stack = Stack(
            app_port=free_port(), emulator_port=free_port(), azurite=Azurite.on_free_ports(),
            settings_path=settings_path, output=log_file, env=env,
            app_args=("--queue-setting", "visibility_timeout=2"),
        )  # fmt: skip
        with stack:
            print(*(f"  {line}" for line in stack.lines), f"  logs: {log_path.relative_to(PROJECT_ROOT)}", sep="\n")
            os.environ["AzureWebJobsStorage"] = stack.azurite.connection_string  # for enqueueing
            tour = Tour(
                origin=stack.app_origin, function_key=env["LOCAL_FUNCTION_KEY"],
                account_sid=env.get("TWILIO_ACCOUNT_SID", ""), auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
                number=env.get("TWILIO_PHONE_NUMBER") or "+15005550006", features=features_of(load_app()),
                emulator=stack.emulator_url,
            )  # fmt: skip
            failures = run_tour(tour)
    if failures:
        print("\nThe demo did not complete:", *(f"  - {f}" for f in failures), sep="\n")
        return 1
    print("\nThe whole loop worked: queue -> worker -> Twilio emulator -> signed TwiML fetch and callbacks -> records.")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Missing", "Tour", "main", "run_tour"]
