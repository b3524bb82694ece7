"""`python -m chaos --scenario limits`: the caps' promise across hosts (issue 23).

40 SMS to one number within a minute, with `OUTBOUND_LIMITS=sms:per_to=10/1h`, consumed by three local hosts
on the same queue: exactly 10 creates at Twilio (the emulator) and 30 records `rejected` with a `limit:…`
reason. Some messages are enqueued twice (a redelivery must not count a second unit), and a few SMS to other
numbers show the cap is per recipient. Exits 1 if a promise was broken.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.report import FULL_NUMBER, print_checks, print_verdict
from chaos.run import request_id_of
from chaos.stack import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, app_environment, free_port, start_azurite
from tools.localmachine import LocalHostProcess

TARGET = "+15558670040"


@dataclass
class LimitsOptions:
    n: int = 40
    cap: int = 10
    others: int = 5  # SMS to other numbers: each under its own cap
    twice: int = 5  # of the n, enqueued twice
    enqueue_seconds: float = 20.0  # well within the minute
    settle_seconds: float = 120.0
    hosts: int = 3
    workdir: Path = Path(".run/chaos")


def execute_limits(options: LimitsOptions) -> int:
    from tools.emulator.rest import TwilioEmulator

    workdir = options.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{int(time.time()) % 100000:05d}"
    rule = f"sms:per_to={options.cap}/1h"
    azurite = start_azurite(workdir / f"azurite-limits-{tag}")
    emulator = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, api_keys={API_KEY: API_SECRET})
    emulator.start()
    hosts = []
    for number in range(max(1, options.hosts)):
        port = free_port()
        env = app_environment(port, emulator.base_url, azurite.connection_string, 2) | {"OUTBOUND_LIMITS": rule}
        hosts.append(LocalHostProcess(
            port, env, workdir / f"host-limits-{tag}-{number + 1}.log",
            {"visibility_timeout": 1, "max_polling_interval": 0.5},
        ))  # fmt: skip
    os.environ.update(hosts[0].env)  # the harness reads records through the app's own store
    to_target = [f"limits-{tag}-{i:03d}" for i in range(options.n)]
    to_others = {f"limits-{tag}-other-{i}": f"+1555867{i:04d}" for i in range(options.others)}
    try:
        for host in hosts:
            host.start()
        print(f"Limits run {tag}: {options.n} SMS to one number over {options.enqueue_seconds:g}s "
              f"({options.twice} enqueued twice) and {options.others} to others, OUTBOUND_LIMITS={rule}, "
              f"{len(hosts)} hosts on the same queue", flush=True)  # fmt: skip
        messages = [(rid, TARGET) for rid in to_target] + list(to_others.items())
        enqueue(messages, set(to_target[: options.twice]), options.enqueue_seconds)
        records = settle([rid for rid, _ in messages], options.settle_seconds)
    finally:
        for host in hosts:
            host.stop()
        emulator.stop()
        azurite.stop()
    report = check(options, rule, records, emulator, target=set(to_target), others=set(to_others))
    logs = "\n".join(host.log_path.read_text(encoding="utf-8", errors="replace") for host in hosts)
    report["full_numbers_in_host_log"] = len(FULL_NUMBER.findall(logs))
    report["limit_warnings_in_host_log"] = logs.count(f"is over limit:{rule}")
    if report["full_numbers_in_host_log"]:
        report["violations"].append(f"full phone numbers in the host log: {report['full_numbers_in_host_log']}")
    print_limits(report)
    (workdir / f"report-limits-{tag}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if not report["violations"] else 1


def enqueue(messages: list[tuple[str, str]], twice: set[str], seconds: float) -> None:
    from switchboard.adapters.storage import queue_client
    from tools.devhost.queues import create_if_missing

    queue = queue_client("outbound", base64=False)
    create_if_missing(queue)
    interval = seconds / max(1, len(messages))
    started = time.monotonic()
    for index, (request_id, to) in enumerate(messages):
        delay = started + index * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps({"id": request_id, "type": "sms", "to": to, "body": f"Limits {request_id}"})
        for _ in range(2 if request_id in twice else 1):
            queue.send_message(base64.b64encode(body.encode()).decode("ascii"))


def settle(ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll the records until every request has a final one and the queue is empty, or `timeout` passes."""
    from switchboard.adapters.storage import queue_client
    from switchboard.functions.glue_records import store_for
    from switchboard.records import lifecycle as lc
    from switchboard.settings import get_settings

    store = store_for(get_settings())
    queue = queue_client("outbound", base64=False)
    deadline = time.monotonic() + timeout
    records: dict[str, dict[str, Any]] = {}
    while True:
        for request_id in ids:
            record = store.get(request_id)
            if record is not None:
                records[request_id] = {"status": record.status, "reason": record.reason, "sid": record.sid}
        done = len(records) == len(ids) and all(r["status"] not in lc.PRE_SEND for r in records.values())
        if (done and not queue.get_queue_properties().approximate_message_count) or time.monotonic() > deadline:
            return records
        time.sleep(1.0)


def check(
    options: LimitsOptions, rule: str, records: dict[str, dict[str, Any]], emulator: Any, *, target: set[str],
    others: set[str],
) -> dict[str, Any]:  # fmt: skip
    creates = Counter(request_id_of(form) for form in emulator.created("messages"))
    to_target = sum(count for rid, count in creates.items() if rid in target)
    rejected = sorted(rid for rid in target if records.get(rid, {}).get("status") == "rejected")
    by_limit = [rid for rid in rejected if str(records[rid].get("reason") or "") == f"limit:{rule}"]
    created_and_rejected = [rid for rid in rejected if creates[rid]]
    twice = {rid: count for rid, count in creates.items() if count > 1}
    others_created = sum(1 for rid in others if creates[rid] == 1)
    missing = sorted(rid for rid in target | others if rid not in records)
    violations = []
    if to_target != options.cap:
        violations.append(f"{to_target} create(s) to the capped number, not exactly {options.cap}")
    if len(by_limit) != options.n - options.cap or len(rejected) != len(by_limit):
        violations.append(f"{len(by_limit)} rejected limit:{rule} of {len(rejected)} rejected, not exactly "
                          f"{options.n - options.cap}")  # fmt: skip
    if created_and_rejected:
        violations.append(f"{len(created_and_rejected)} rejected request(s) reached Twilio: {created_and_rejected[:5]}")
    if twice:
        violations.append(f"{len(twice)} request(s) created more than once: {list(twice)[:5]}")
    if others_created != len(others):
        violations.append(f"{others_created} of {len(others)} SMS to other numbers created")
    if missing:
        violations.append(f"{len(missing)} request(s) without a record: {missing[:5]}")
    return {
        "rule": rule, "requests_to_one_number": options.n, "enqueued_twice": options.twice,
        "creates_to_capped_number": to_target, "rejected_by_limit": len(by_limit), "rejected": len(rejected),
        "rejected_that_reached_twilio": len(created_and_rejected), "created_twice": len(twice),
        "others": len(others), "others_created": others_created, "hosts": options.hosts,
        "by_status": dict(Counter(str(r.get("status")) for r in records.values())), "violations": violations,
    }  # fmt: skip


def print_limits(report: dict[str, Any]) -> None:
    rows = [
        ("creates to the capped number", report["creates_to_capped_number"],
         f"target: exactly the cap ({report['rule']}), of {report['requests_to_one_number']} requests; "
         f"{report['enqueued_twice']} enqueued twice"),
        ("rejected limit:…", report["rejected_by_limit"], f"target: the other {report['requests_to_one_number']} "
         f"less the cap; {report['rejected_that_reached_twilio']} of them reached Twilio (target 0)"),
        ("request ids created twice", report["created_twice"], "target: 0"),
        ("SMS to other numbers created", f"{report['others_created']}/{report['others']}",
         "target: all (the cap is per recipient)"),
        ("hosts on the same queue", report["hosts"], f"by status: {report['by_status']}"),
        ("full numbers in logs", report["full_numbers_in_host_log"],
         f"target: 0; {report['limit_warnings_in_host_log']} over-limit warnings, the number masked"),
    ]  # fmt: skip
    print_checks(rows)
    print_verdict(report["violations"])
