"""Quiescence, the checks of a chaos run, and its table."""

from __future__ import annotations

import functools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.callbacks import CallbackSender
from chaos.run import TRANSITIONAL, Request, Run, open_records, request_id_of, retrying
from chaos.stack import API_SECRET, AUTH_TOKEN

FULL_NUMBER = re.compile(r"(?:\+|%2[Bb])[1-9]\d{6,14}(?!\d)")
PROGRESS_KINDS = ("sent", "reconciled", "callback")


@dataclass
class State:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record entity
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> event entities, oldest first
    queues: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, str] = field(default_factory=dict)  # record id -> raw text
    settled: bool = False
    waited: float = 0.0
    open_before_reconcile: int | None = None


def scan(run: Run, state: State) -> None:
    from switchboard.adapters.storage import queue_client, table_client
    from switchboard.settings import get_settings

    table = table_client(get_settings().records_table)
    records: dict[str, dict[str, Any]] = {}
    events: dict[str, list[dict[str, Any]]] = {}
    for entity in retrying("table scan", lambda: list(table.list_entities()), run):
        partition, row = str(entity["PartitionKey"]), str(entity["RowKey"])
        if not partition.startswith("r:"):
            continue
        record_id = partition[2:]
        if row == "record":
            records[record_id] = dict(entity)
        elif row.startswith("event:"):
            events.setdefault(record_id, []).append(dict(entity))
    state.records, state.events = (
        records,
        {key: sorted(value, key=lambda e: e["RowKey"]) for key, value in events.items()},
    )
    for name in ("outbound", "outbound-poison", "outbound-poison-poison"):
        client = queue_client(name, base64=False)
        state.queues[name] = retrying(f"queue {name}", functools.partial(_count, client), run)
    state.undecodable = {
        record_id: str(entity.get("raw") or "")
        for record_id, entity in records.items()
        if record_id.startswith("undecodable-")
    }


def _count(client: Any) -> int:
    return int(client.get_queue_properties().approximate_message_count)


def records_of(request: Request, state: State) -> list[str]:
    """A request's record ids: its own id, or, for a message without one, every record whose text holds its marker.

    The app records an id-less message under its queue message id, which the harness cannot know when a send
    went unanswered: the text is what ties the record to the request.
    """
    if not request.id_less:
        return [str(request.record_id)] if request.record_id in state.records else []
    return sorted(rid for rid, record in state.records.items() if request.marker in str(record.get("raw") or ""))


def settled(run: Run, state: State) -> bool:
    for request in run.requests:
        ids = records_of(request, state)
        if not ids or any(state.records[rid].get("status") in TRANSITIONAL for rid in ids):
            return False
    return not any(state.queues.values())


def final_state(run: Run, emulator: Any, timeout: float, previous: State | None = None) -> State:
    """Poll until every request has a final record and the queues are empty, or `timeout` passes."""
    from switchboard.functions.outbound import sweep_undecodable
    from switchboard.settings import get_settings

    state = State()
    started = time.monotonic()
    deadline = started + timeout
    while True:
        # The timer's job, on the harness's clock: record what the host could not decode.
        retrying("sweep", lambda: sweep_undecodable(get_settings()), run)
        scan(run, state)
        if settled(run, state):
            state.settled = True
            break
        if time.monotonic() > deadline:
            break
        time.sleep(1.0)
    state.waited = time.monotonic() - started + (previous.waited if previous else 0.0)
    return state


@dataclass
class Matching:
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)  # request key -> its final record
    missing: list[str] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)  # id-less messages recorded twice, never resent
    expected_ids: set[str] = field(default_factory=set)
    resent_records: int = 0  # extra records of id-less messages the producer resent after an unanswered send


def match(requests: list[Request], state: State) -> Matching:
    """Pure: which records answer which requests."""
    found = Matching()
    for request in requests:
        ids = records_of(request, state)
        found.expected_ids.update(ids)
        records = [state.records[rid] for rid in ids]
        if not records:
            found.missing.append(request.key)
        elif any(record.get("status") in TRANSITIONAL for record in records):
            found.unsettled.append(f"{request.key}={[record.get('status') for record in records]}")
        else:
            found.matched[request.key] = records[0]
        if len(ids) > 1:
            # Only a message queued twice gets two records, and the producer queues one twice only by resending
            # an unanswered send: explained if that happened to this request, a broken promise otherwise.
            if request.ambiguous_sends:
                found.resent_records += len(ids) - 1
            else:
                found.doubled.append(request.key)
    return found


def check(run: Run, emulator: Any, sender: CallbackSender, state: State, host_logs: list[Path]) -> dict[str, Any]:
    from switchboard.records import lifecycle as lc

    violations: list[str] = []
    requests = run.requests
    found = match(requests, state)
    matched, missing, unsettled, doubled = found.matched, found.missing, found.unsettled, found.doubled
    expected_ids, resent_records = found.expected_ids, found.resent_records
    outbound = {rid: rec for rid, rec in state.records.items() if rec.get("direction") == "outbound"}
    extra = sorted(rid for rid in outbound if rid not in expected_ids)
    if missing:
        violations.append(f"{len(missing)} request(s) without a record: {missing[:5]}")
    if doubled:
        violations.append(f"{len(doubled)} message(s) without an id recorded more than once: {doubled[:5]}")
    if unsettled:
        violations.append(f"{len(unsettled)} request(s) not final: {unsettled[:5]}")
    if extra:
        violations.append(f"{len(extra)} record(s) for no request: {extra[:5]}")

    by_status = Counter(str(rec.get("status")) for rec in matched.values())
    creates: Counter[str] = Counter()
    no_id = 0
    for kind in ("calls", "messages"):
        for form in emulator.created(kind):
            request_id = request_id_of(form)
            if request_id is None:
                no_id += 1
            else:
                creates[request_id] += 1
    doubles = {rid: count for rid, count in creates.items() if count > 1}
    unexplained = {rid: c for rid, c in doubles.items() if state.records.get(rid, {}).get("status") != lc.UNKNOWN}
    if doubles:  # the promise: exactly one create per request id, even after a 500 that created
        violations.append(f"{len(doubles)} request(s) created more than once at Twilio: {list(doubles)[:5]}")
    if no_id:
        violations.append(f"{no_id} create(s) at Twilio without a request id")
    valid = [r for r in requests if r.kind in ("call", "sms")]
    not_created = [r.key for r in valid if creates[r.key] == 0 and matched.get(r.key, {}).get("status") != lc.UNKNOWN]
    unknown = by_status.get(lc.UNKNOWN, 0)
    # The promise: `unknown` only where a crash interrupted that very attempt (a kill can catch several:
    # every attempt its host had in flight, up to batchSize), never from a fault the worker saw.
    unexplained_unknown = sorted(
        rid for rid, rec in matched.items() if rec.get("status") == lc.UNKNOWN and rid not in run.interrupted
    )
    if unexplained_unknown:
        violations.append(
            f"{len(unexplained_unknown)} unknown record(s) whose attempt no kill interrupted: {unexplained_unknown[:5]}"
        )

    dead = [rid for rid, evs in state.events.items() if any(e.get("kind") == "dead_lettered" for e in evs)]
    # The storm's promise: a 429 is never carried out and always safe to retry, so none ends dead-lettered.
    by_storm = [rid for rid in dead if state.records.get(rid, {}).get("error_code") == 20429]
    if by_storm:
        violations.append(f"{len(by_storm)} request(s) dead-lettered by 429s: {by_storm[:5]}")
    still_open = open_records(state)
    if run.options.reconcile and still_open:
        violations.append(f"{len(still_open)} record(s) not final after the reconcile run: {still_open[:5]}")
    dead_without_final = [rid for rid in dead if state.records.get(rid, {}).get("status") in TRANSITIONAL]
    if dead_without_final:
        violations.append(f"{len(dead_without_final)} dead-lettered message(s) without a final record")
    left_in_queues = {name: count for name, count in state.queues.items() if count}
    if left_in_queues:
        violations.append(f"messages still queued at the end: {left_in_queues}")

    backwards = []
    for rid, record in outbound.items():
        kind = str(record.get("type"))
        if kind not in ("call", "sms") or not record.get("sid"):
            continue
        ranks = lc.ranks(kind)
        seen = [
            str(e["status"])
            for e in state.events.get(rid, [])
            if e.get("kind") in PROGRESS_KINDS and e.get("sid") == record["sid"] and str(e.get("status")) in ranks
        ]
        final = str(record.get("status"))
        if seen and final in ranks and ranks[final] < max(ranks[s] for s in seen):
            backwards.append(f"{rid}: {final} after {max(seen, key=lambda s: ranks[s])}")
    if backwards:
        violations.append(f"{len(backwards)} record(s) went backwards: {backwards[:5]}")

    stored = json.dumps([state.records, state.events], default=str)
    secrets_in_records = sum(stored.count(secret) for secret in (AUTH_TOKEN, API_SECRET))
    if secrets_in_records:
        violations.append(f"secrets in stored records: {secrets_in_records}")

    log_text = "\n".join(log.read_text(encoding="utf-8", errors="replace") for log in host_logs if log.exists())
    # Evidence that hosts held the same message at once: a copy found another host's attempt in flight.
    overlaps = log_text.count("may still be in flight")
    redeliveries = log_text.count("was delivered again")
    secrets_in_log = sum(log_text.count(secret) for secret in (AUTH_TOKEN, API_SECRET))
    numbers_in_log = len(FULL_NUMBER.findall(log_text))
    if secrets_in_log:
        violations.append(f"secrets in the host log: {secrets_in_log}")
    if numbers_in_log:
        violations.append(f"full phone numbers in the host log: {numbers_in_log}")

    options = run.options
    return {
        "requests": len(requests),
        "valid": len(valid),
        "malformed": len(requests) - len(valid),
        "enqueued_twice": sum(r.twice for r in requests),
        "messages_enqueued": run.enqueued,
        "unanswered_sends": sum(r.ambiguous_sends for r in requests),
        "records_of_resent_messages": resent_records,
        "final_records": len(matched),
        "missing": len(missing),
        "not_final": len(unsettled),
        "extra_records": len(extra),
        "by_status": dict(sorted(by_status.items())),
        "creates_at_twilio": sum(creates.values()),
        "create_attempts_at_twilio": len(emulator.attempts("calls")) + len(emulator.attempts("messages")),
        "faults_injected": dict(emulator.faults.injected),
        "requests_created_twice": len(doubles),
        "created_twice_unexplained": len(unexplained),
        "valid_never_created": len(not_created),
        "unknown": unknown,
        "interrupted": len(run.interrupted),
        "unknown_unexplained": len(unexplained_unknown),
        "unknown_reasons": dict(
            Counter(str(rec.get("reason")) for rec in matched.values() if rec.get("status") == lc.UNKNOWN)
        ),
        "hosts": len(host_logs),
        "same_message_held_twice_seen": overlaps,
        "found_already_claimed": redeliveries,
        "kills": run.kills,
        "azurite_restarts": run.azurite_restarts,
        "dead_lettered_events": len(dead),
        "dead_lettered_by_429": len(by_storm),
        "storms": run.storms,
        "storm_seconds": run.options.storm_seconds,
        "outage_seconds": run.options.outage_seconds,
        "callbacks_lost_5xx": sender.lost,
        "open_before_reconcile": state.open_before_reconcile,
        "open_after_reconcile": len(still_open) if run.options.reconcile else None,
        "reconcile": run.reconciled,
        "undecodable_recorded": len(state.undecodable),
        "left_in_queues": left_in_queues,
        "went_backwards": len(backwards),
        "callbacks_posted": sender.posted,
        "callbacks_duplicated": sender.duplicates,
        "callbacks_undeliverable": sender.failed,
        "secrets_in_host_log": secrets_in_log,
        "secrets_in_records": secrets_in_records,
        "full_numbers_in_host_log": numbers_in_log,
        "settled": state.settled,
        "settle_seconds": round(state.waited, 1),
        "options": {k: str(v) for k, v in vars(options).items()},
        "violations": violations,
    }


def print_report(report: dict[str, Any]) -> None:
    rows = [
        ("requests in (distinct)", report["requests"], f"{report['valid']} valid, {report['malformed']} malformed"),
        ("messages enqueued", report["messages_enqueued"], f"{report['enqueued_twice']} requests enqueued twice; "
         f"{report['unanswered_sends']} send(s) unanswered during the restart, resent: "
         f"{report['records_of_resent_messages']} extra record(s) of an id-less message"),
        ("final records out", report["final_records"], f"missing {report['missing']}, not final "
                                                       f"{report['not_final']}, extra {report['extra_records']}"),
        ("  by status", "", ", ".join(f"{k} {v}" for k, v in report["by_status"].items())),
        ("creates at Twilio", report["creates_at_twilio"], f"of {report['create_attempts_at_twilio']} attempts; "
                                                          f"faults {report['faults_injected']}"),
        ("request ids created twice", report["requests_created_twice"],
         f"unexplained (not unknown): {report['created_twice_unexplained']}"),
        ("valid requests never created", report["valid_never_created"], "e.g. refused by Twilio (failed)"),
        ("unknown", report["unknown"],
         f"each an attempt a kill interrupted ({report['kills']} kills caught {report['interrupted']} in flight)"),
        ("dead-lettered (poison)", report["dead_lettered_events"],
         f"undecodable recorded {report['undecodable_recorded']}; left in queues {report['left_in_queues'] or 0}"),
        ("dead-lettered by 429s", report["dead_lettered_by_429"],
         f"must be 0; {report['storms']} storm(s) of {report['storm_seconds']:g}s (hosts' visibility timeout 1s)"),
        ("callbacks lost (answered 5xx)", report["callbacks_lost_5xx"],
         f"storage outage of {report['outage_seconds']:g}s; not retried, as Twilio does not"),
        ("records not final: before / after reconcile", f"{report['open_before_reconcile']} / "
         f"{report['open_after_reconcile']}", f"after must be 0; the run fetched "
         f"{report['reconcile'].get('fetched', 0)}, changed {report['reconcile'].get('changed', 0)}"),
        ("status went backwards", report["went_backwards"], "must be 0"),
        ("status callbacks posted", report["callbacks_posted"],
         f"{report['callbacks_duplicated']} duplicated, shuffled; undeliverable {report['callbacks_undeliverable']}"),
        ("Azurite restarts", report["azurite_restarts"], ""),
        ("hosts on the same queues", report["hosts"],
         f"attempt found in flight elsewhere: {report['same_message_held_twice_seen']}; first delivery found "
         f"its id claimed: {report['found_already_claimed']}"),
        ("secrets / full numbers in logs", f"{report['secrets_in_host_log']} / {report['full_numbers_in_host_log']}",
         "must be 0 / 0"),
        ("secrets in stored records", report["secrets_in_records"], "must be 0"),
        ("settled", report["settled"], f"after {report['settle_seconds']}s"),
    ]  # fmt: skip
    print_checks(rows)
    for reason, count in report["unknown_reasons"].items():
        print(f"unknown x{count}: {reason}")
    print_verdict(report["violations"])


def print_checks(rows: list[tuple[str, Any, str]]) -> None:
    """The report's table: one check a row, its value and a note (the target)."""
    width = max(len(name) for name, _, _ in rows)
    print()
    print(f"{'check'.ljust(width)} | {'value':>8} | note")
    print(f"{'-' * width}-+-{'-' * 8}-+-{'-' * 40}")
    for name, value, note in rows:
        print(f"{name.ljust(width)} | {value!s:>8} | {note}")
    print()


def print_verdict(violations: list[str]) -> None:
    if violations:
        print("VIOLATIONS:")
        for violation in violations:
            print(f"  - {violation}")
    else:
        print("All promises held.")
