"""The OUTBOUND_LIMITS counters and the auto-reply throttle (records/limits.py): on the table twin, and across
three "hosts" (their own TableClients and caches) on Azurite."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest

from switchboard.policies.limits import parse_outbound_limits
from switchboard.records.limits import TABLE, LimitCounters, subject
from tests.tabletwin import TwinAccount

KEY = b"test-fingerprint-key"
NOW = 1_765_000_000.0


@pytest.fixture
def twin() -> LimitCounters:
    table = TwinAccount().table(TABLE)
    table.create_table()
    return LimitCounters(table)


def own_number() -> str:
    """A number no other test counts against (the rows outlive a test in the session's Azurite)."""
    return "+1555" + str(uuid.uuid4().int % 9_000_000 + 1_000_000)


def test_forty_requests_to_one_number_within_a_minute_admit_exactly_ten(twin: LimitCounters) -> None:
    rules = parse_outbound_limits("sms:per_to=10/1h")
    verdicts = [twin.admit(rules, f"r{i}", "+15558675310", NOW + i, key=KEY) for i in range(40)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 30
    assert {v.rule.name for v in verdicts[10:] if v.rule} == {"sms:per_to=10/1h"}
    assert verdicts[10].retry_after == pytest.approx(3600 - 10)
    # Another number has its own counter.
    assert twin.admit(rules, "other", "+15558675311", NOW + 41, key=KEY).allowed
    # An hour after the window opened, the next one does.
    assert twin.admit(rules, "later", "+15558675310", NOW + 3600, key=KEY).allowed


def test_one_request_id_never_counts_twice_and_a_counted_one_stays_admitted(twin: LimitCounters) -> None:
    rules = parse_outbound_limits("sms:per_to=2/1h")
    number = "+15558675310"
    for _ in range(3):  # a redelivered message, a deferral's copy, a retry
        assert twin.admit(rules, "same", number, NOW, key=KEY).allowed
    assert twin.admit(rules, "second", number, NOW, key=KEY).allowed
    assert not twin.admit(rules, "third", number, NOW, key=KEY).allowed
    # The window is full now, yet a request it counted is still admitted when it comes again.
    assert twin.admit(rules, "same", number, NOW + 1, key=KEY).allowed
    assert twin.peek(rules, number, NOW + 1, key=KEY).rule == rules[0]


def test_a_request_another_rule_refuses_counts_nowhere(twin: LimitCounters) -> None:
    rules = parse_outbound_limits("sms:per_to=5/1h;all=2/1h")
    assert twin.admit(rules, "a", "+15558675310", NOW, key=KEY).allowed
    assert twin.admit(rules, "b", "+15558675311", NOW, key=KEY).allowed
    refused = twin.admit(rules, "c", "+15558675310", NOW, key=KEY)
    assert (refused.allowed, refused.rule.name if refused.rule else None) == (False, "all=2/1h")
    # "c" was taken back out of the per-recipient counter: 4 more fit there once `all` has room.
    wide = parse_outbound_limits("sms:per_to=5/1h")
    assert [twin.admit(wide, f"d{i}", "+15558675310", NOW, key=KEY).allowed for i in range(5)] == [True] * 4 + [False]


def test_no_number_is_stored_only_its_keyed_hash(twin: LimitCounters) -> None:
    rules = parse_outbound_limits("sms:per_to=10/1h")
    twin.admit(rules, "r1", "+15558675310", NOW, key=KEY)
    rows = list(twin.table.list_entities())
    assert rows
    assert all("5558675310" not in str(dict(row)) for row in rows)
    assert {row["PartitionKey"] for row in rows} == {f"sms.per_to.{subject(KEY, '+15558675310')}"}


def test_a_cached_counter_another_host_moved_is_read_again_not_overwritten() -> None:
    account = TwinAccount()
    account.table(TABLE).create_table()
    one, two = LimitCounters(account.table(TABLE)), LimitCounters(account.table(TABLE))
    rules = parse_outbound_limits("sms:per_to=3/1h")
    verdicts = [host.admit(rules, f"r{i}", "+15558675310", NOW, key=KEY) for i, host in enumerate([one, two] * 3)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, False]
    assert one.conflicts >= 1  # it wrote from a stale cache once and lost


def test_the_auto_reply_throttle_answers_one_sender_once_per_window(twin: LimitCounters) -> None:
    sender = "+15558675310"
    assert twin.reply_due(sender, 10, NOW, key=KEY)
    assert not twin.reply_due(sender, 10, NOW + 599, key=KEY)
    assert twin.reply_due("+15558675311", 10, NOW + 1, key=KEY)  # another sender
    assert twin.reply_due(sender, 10, NOW + 600, key=KEY)
    assert not twin.reply_due(sender, 10, NOW + 601, key=KEY)


def host_counters(connection: str) -> LimitCounters:
    from azure.core.exceptions import ResourceExistsError
    from azure.data.tables import TableClient

    table = TableClient.from_connection_string(connection, TABLE)
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    return LimitCounters(table)


def test_three_hosts_admit_exactly_ten_of_forty_and_count_each_id_once(azurite: str) -> None:
    rules = parse_outbound_limits("sms:per_to=10/1h;all=1000/24h")
    number = own_number()
    hosts = [host_counters(azurite) for _ in range(3)]
    admitted: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(hosts))

    def run(host: LimitCounters, ids: list[str]) -> None:
        start.wait(timeout=10)
        for request_id in ids:
            # Each id is delivered twice (on two hosts here and there): it still counts once.
            for _ in range(2):
                if host.admit(rules, request_id, number, NOW, key=KEY).allowed:
                    with lock:
                        admitted.append(request_id)

    ids = [f"caps-{uuid.uuid4().hex[:8]}-{i}" for i in range(40)]
    shares = [ids[n::3] + ids[(n + 1) % 3 :: 3][:2] for n in range(3)]  # a few ids on two hosts
    threads = [threading.Thread(target=run, args=(host, share)) for host, share in zip(hosts, shares, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(set(admitted)) == 10
    # An admitted id that comes again is admitted again; never a second unit.
    later = host_counters(azurite)
    assert all(later.admit(rules, request_id, number, NOW + 5, key=KEY).allowed for request_id in set(admitted))
    assert not later.admit(rules, "one-more", number, NOW + 5, key=KEY).allowed


def test_two_hosts_racing_for_one_senders_auto_reply_give_exactly_one(azurite: str) -> None:
    sender = own_number()
    hosts = [host_counters(azurite) for _ in range(3)]
    start = threading.Barrier(len(hosts))
    answers: list[bool] = []

    def run(host: LimitCounters) -> None:
        start.wait(timeout=10)
        answers.append(host.reply_due(sender, 10, NOW, key=KEY))

    threads = [threading.Thread(target=run, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers) == [False, False, True]


def test_a_counted_request_coming_again_costs_two_round_trips_and_keeps_the_cache() -> None:
    account = TwinAccount()
    table = account.table(TABLE)
    table.create_table()
    counters = LimitCounters(table)
    rules = parse_outbound_limits("sms:per_to=5/1h")
    counters.admit(rules, "first", "+15558675310", NOW, key=KEY)
    account.requests.clear()
    assert counters.admit(rules, "first", "+15558675310", NOW, key=KEY).allowed
    assert account.requests == [f"submit_transaction {TABLE}", f"get_entity {TABLE}"]
    account.requests.clear()
    assert counters.admit(rules, "second", "+15558675310", NOW, key=KEY).allowed
    assert account.requests == [f"submit_transaction {TABLE}"]  # from the cache: no read


def test_the_hourly_sweep_deletes_old_tickets_and_run_out_windows_and_keeps_the_rest(azurite: str) -> None:
    from azure.data.tables import TableClient

    from switchboard.records.limits import KEEP_SECONDS

    table_name = "limits" + uuid.uuid4().hex[:8]  # a table of its own: the sweep scans the whole table
    table = TableClient.from_connection_string(azurite, table_name)
    table.create_table()
    counters = LimitCounters(table)
    hour, day = parse_outbound_limits("sms:per_to=2/1h"), parse_outbound_limits("sms:per_to=2/24h")
    long_ago = NOW - KEEP_SECONDS - 10
    counters.admit(hour, "old", "+15558675310", long_ago, key=KEY)  # its ticket and window: both dead now
    counters.admit(day, "recent", "+15558675311", NOW - 7200, key=KEY)  # a window still open, a fresh ticket
    counters.admit(hour, "closed", "+15558675312", NOW - 7200, key=KEY)  # window run out, ticket kept
    counters.reply_due("+15558675313", 10, long_ago, key=KEY)
    assert len(list(table.list_entities())) == 7
    assert counters.sweep(NOW) == 4
    assert sorted(row["RowKey"] for row in table.list_entities()) == ["t:closed", "t:recent", "w86400"]
    # The open window still counts: one more fits, then it is full.
    fresh = LimitCounters(table)
    assert fresh.admit(day, "another", "+15558675311", NOW, key=KEY).allowed
    assert not fresh.admit(day, "third", "+15558675311", NOW, key=KEY).allowed
    assert counters.sweep(NOW) == 0
    table.delete_table()


def test_a_cached_window_the_sweep_deleted_is_read_again(twin: LimitCounters) -> None:
    rules = parse_outbound_limits("sms:per_to=1/1h")
    assert twin.admit(rules, "before", "+15558675310", NOW, key=KEY).allowed
    pk = f"sms.per_to.{subject(KEY, '+15558675310')}"
    twin.table.delete_entity(pk, "w3600")  # as the sweep does once the window has run out
    assert twin.admit(rules, "after", "+15558675310", NOW + 3600, key=KEY).allowed
    assert not twin.admit(rules, "third", "+15558675310", NOW + 3601, key=KEY).allowed
