"""The pace across hosts: creates per second at Twilio under a backlog, with 3 hosts, against the configured rate.

A backlog of SMS from one sender waits on a Storage queue in Azurite. Three "hosts" consume it, each
with its own clients (queue, tables, pace meter, Twilio) and a few threads, as a Functions host runs a
batch at once: receive, `handle_message` (the worker itself, with the shell's deferral port), delete.
A message whose slot is ahead goes back on the queue with a visibility delay, as in Azure. Polling backs
off to 2 s when the queue shows nothing (host.json's maxPollingInterval).

The emulator notes when each create arrives (`created_times`); the rate kept is (creates - 1) over the
time from the first to the last. Targets: at most the configured rate (100 %), at least 90 % of it.
Also reported: the most creates seen in any one-second window, and how often the meter row was contended.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import stats
from bench.payloads import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER

QUEUE = "benchpacing"
THREADS_PER_HOST = 4
IDLE_POLL_CAP = 2.0  # host.json maxPollingInterval


class Host:
    """One consumer of the queue with its own clients: what a separate Functions instance holds."""

    def __init__(self, name: str, connection: str, settings: Any, done: threading.Event) -> None:
        from azure.data.tables import TableClient
        from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient, TextBase64EncodePolicy

        from switchboard.adapters.meter import TABLE, TableMeter
        from switchboard.adapters.twilio_client import build_client
        from switchboard.records.store import RecordStore

        self.name, self.settings, self.done = name, settings, done
        self.queue = QueueClient.from_connection_string(
            connection, QUEUE, message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )  # fmt: skip
        self.store = RecordStore(
            TableClient.from_connection_string(connection, settings.records_table),
            TableClient.from_connection_string(connection, settings.optouts_table),
        )
        self.meter = TableMeter(TableClient.from_connection_string(connection, TABLE))
        self.twilio = build_client(settings)
        self.handled = 0
        self.put_back = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def requeue(self, body: str, delay_seconds: int) -> str:
        with self._lock:
            self.put_back += 1
        return str(self.queue.send_message(body, visibility_timeout=delay_seconds, time_to_live=-1).id)

    def run(self) -> None:
        from switchboard.outbound.worker import Deps, handle_message

        deps = Deps(
            settings=self.settings, store=self.store, client=lambda: self.twilio, requeue=self.requeue,
            pace=self.meter.claim,
        )  # fmt: skip
        idle = 0.1
        while not self.done.is_set():
            found = list(self.queue.receive_messages(messages_per_page=1, visibility_timeout=30, max_messages=1))
            if not found:
                self.done.wait(idle)
                idle = min(IDLE_POLL_CAP, idle * 2)
                continue
            idle = 0.1
            for message in found:
                try:
                    handle_message(message.id, message.content, message.dequeue_count or 1, deps)
                    self.queue.delete_message(message)
                except Exception as error:  # the host would redeliver it after its visibility timeout
                    self.errors.append(f"{type(error).__name__}: {error}")
                with self._lock:
                    self.handled += 1


def windows(times: list[float], seconds: float = 1.0) -> int:
    """The most creates in any window of `seconds` (a burst the rate over the whole run would hide)."""
    ordered, most, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def measure(
    connection: str, *, rate: float, messages: int, hosts: int = 3, log: Callable[[str], None] = print
) -> dict[str, Any]:
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    from switchboard.settings import Settings, get_settings
    from tools.emulator.rest import TwilioEmulator
    from tools.emulator.sendqueue import SendPacing

    # Twilio's own send queue at the same rate: paced right, it never fills and never refuses (21611).
    emulator = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, pacing=SendPacing(message_rate=rate)).start()
    saved = {key: os.environ.get(key) for key in ("OUTBOUND_MESSAGES_PER_SECOND", "TWILIO_API_BASE_URL")}
    os.environ |= {"OUTBOUND_MESSAGES_PER_SECOND": f"{rate:g}", "TWILIO_API_BASE_URL": emulator.base_url}
    get_settings.cache_clear()
    settings = Settings.from_env()
    producer = QueueClient.from_connection_string(connection, QUEUE, message_encode_policy=TextBase64EncodePolicy())
    done = threading.Event()
    try:
        producer.create_queue()
        from azure.data.tables import TableServiceClient

        from switchboard.adapters.meter import TABLE

        tables = TableServiceClient.from_connection_string(connection)
        for name in (settings.records_table, settings.optouts_table, TABLE):
            tables.create_table_if_not_exists(name)
        label = uuid.uuid4().hex[:8]
        for index in range(messages):
            body = {"type": "sms", "id": f"pace-{label}-{index}", "to": "+15558675310", "from": OUR_NUMBER,
                    "body": f"Backlog message {index}"}  # fmt: skip
            producer.send_message(json.dumps(body))
        consumers = [Host(f"host-{n}", connection, settings, done) for n in range(hosts)]
        threads = [
            threading.Thread(target=host.run, name=f"{host.name}-{n}", daemon=True)
            for host in consumers
            for n in range(THREADS_PER_HOST)
        ]
        log(f"   {messages} SMS from one sender, {hosts} hosts x {THREADS_PER_HOST} threads, pace {rate:g}/s")
        started = time.monotonic()
        for thread in threads:
            thread.start()
        deadline = started + messages / rate * 2 + 60
        while len(emulator.created("messages")) < messages and time.monotonic() < deadline:
            time.sleep(0.2)
        wall = time.monotonic() - started
    finally:
        done.set()
        for thread in threads if "threads" in locals() else []:
            thread.join(timeout=15)
        emulator.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
    times = emulator.created_times("messages")
    kept = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
    burst = windows(times)
    detail = {
        "rate": rate, "messages": messages, "hosts": hosts, "threads_per_host": THREADS_PER_HOST,
        "creates": len(times), "attempts": len(emulator.attempts("messages")), "rate_kept": kept,
        "most_in_one_second": burst, "put_back": sum(h.put_back for h in consumers),
        "meter_conflicts": sum(h.meter.conflicts for h in consumers), "wall_seconds": wall,
        "refused_21611": emulator.send_queues.refused["21611"],
        "errors": [e for h in consumers for e in h.errors][:5],
    }  # fmt: skip
    note = (
        f"{len(times)} creates of {messages}, {hosts} hosts x {THREADS_PER_HOST} threads, each its own clients; "
        f"most in one second {burst}; put back on the queue {detail['put_back']} times; "
        f"meter 412s {detail['meter_conflicts']}; Twilio 21611s {detail['refused_21611']}"
    )
    missing = "not measured: fewer than two creates"
    figures = [
        stats.figure(
            "pacing_at_most", "Pacing: creates per second at Twilio, 3 hosts, backlog (at most the rate)",
            measured=kept, baseline=rate, baseline_name=f"OUTBOUND_MESSAGES_PER_SECOND={rate:g}", unit="/s",
            op="<=", target=1.0, ratio_label="%", note=note, missing=missing,
        ),
        stats.figure(
            "pacing_at_least", "Pacing: creates per second at Twilio, 3 hosts, backlog (at least 90 % of it)",
            measured=kept, baseline=rate, baseline_name=f"OUTBOUND_MESSAGES_PER_SECOND={rate:g}", unit="/s",
            op=">=", target=0.9, ratio_label="%", missing=missing,
        ),
        stats.figure(
            "pacing_burst", "Pacing: the most creates in any one second (for information)",
            measured=float(burst), baseline=rate, baseline_name=f"OUTBOUND_MESSAGES_PER_SECOND={rate:g}", unit="",
            op="<=", target=None, ratio_label="x",
            note="a message comes back from its wait up to a second or two late (the queue hides it for whole "
            "seconds; an idle host polls every 2 s) and then takes its slot at once, so late ones can meet in one "
            "second; the slots themselves are never closer than 1/rate, and Twilio queues the few extra",
            missing=missing,
        ),
    ]  # fmt: skip
    return {"figures": figures, "detail": detail}
