"""The records store's rules on the in-memory table twin (held to Azurite by tests/records/test_table_contract.py).

Claims and their index rows, inbound traffic in one transaction, what a replay or a process stopped
between two steps leaves, STOP/START once per MessageSid, and retention's bounded, resumable sweep.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError

from switchboard.records.callbacks import record_inbound_call, record_inbound_message, record_status_callback
from switchboard.records.forget import sweep_retention
from switchboard.records.model import IndexKey, Record, day_partition, index_keys, iso, number_row
from switchboard.records.store import RecordStore
from tests.records.conftest import all_rows
from tests.support import PHONE_NUMBER
from tests.tabletwin import TwinAccount, TwinTable

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
CUSTOMER = "+15558670601"
INDEX_PARTITIONS = ("n:", "d:", "sid:")


def sms(body: str = "hello", sid: str | None = None) -> dict[str, str]:
    return {"MessageSid": sid or "SM" + uuid.uuid4().hex, "From": CUSTOMER, "To": PHONE_NUMBER, "Body": body}


def partition(store: RecordStore, name: str) -> list[dict[str, Any]]:
    return [dict(e) for e in store.records.query_entities("PartitionKey eq @pk", parameters={"pk": name})]


def events(store: RecordStore, record_id: str) -> list[str]:
    return [str(e["kind"]) for e in store.record_with_events(record_id)[1]]


class IndexOutage(TwinTable):
    """The records table, where writes of index rows fail (as if the process stopped before them)."""

    down = True

    def create_entity(self, entity: Any, **kwargs: Any) -> dict[str, Any]:
        if self.down and str(entity["PartitionKey"]).startswith(INDEX_PARTITIONS):
            raise ServiceRequestError("the process stopped here")
        return super().create_entity(entity, **kwargs)


# -- the rule ------------------------------------------------------------------------------------------


def test_index_keys_name_both_numbers_once_the_day_and_the_sid() -> None:
    created = datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=timezone.utc)
    row = number_row(created, "r1")
    record = Record(id="r1", type="sms", direction="outbound", status="queued", created_at=iso(created),
                    updated_at=iso(created), to=CUSTOMER, from_=PHONE_NUMBER, sid="SM" + "0" * 32)  # fmt: skip
    assert index_keys(record) == [
        IndexKey(f"n:{CUSTOMER}", row), IndexKey(f"n:{PHONE_NUMBER}", row), IndexKey("d:2026-03-10", row),
        IndexKey("sid:SM" + "0" * 32, "sid"),
    ]  # fmt: skip
    assert day_partition(created + timedelta(microseconds=1)) == "d:2026-03-11"
    to_self = Record(id="r2", type="call", direction="inbound", status="ringing", created_at=iso(created),
                     updated_at=iso(created), to=CUSTOMER, from_=CUSTOMER)  # fmt: skip
    assert [key.partition for key in index_keys(to_self)] == [f"n:{CUSTOMER}", "d:2026-03-10"]
    whatsapp = Record(id="r4", type="sms", direction="inbound", status="received", created_at=iso(created),
                      updated_at=iso(created), to="whatsapp:" + PHONE_NUMBER, from_="whatsapp:" + CUSTOMER)  # fmt: skip
    assert [key.partition for key in index_keys(whatsapp)] == [f"n:{PHONE_NUMBER}", f"n:{CUSTOMER}", "d:2026-03-10"]
    others = ("WhatsApp:" + CUSTOMER, "messenger:123456789", "client:alice", "sip:alice@example.com", "ACME")
    for address in (*others, "+1 555 867 0601", "", None):
        other = Record(id="r3", type="sms", direction="inbound", status="received", created_at=iso(created),
                       updated_at=iso(created), to=address, from_=address)  # fmt: skip
        assert [key.partition for key in index_keys(other)] == ["d:2026-03-10"], address


# -- claims --------------------------------------------------------------------------------------------


def test_every_claimed_record_gets_one_day_row(twin_store: RecordStore) -> None:
    created = datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=timezone.utc)
    record = Record(id="d-claim", type="sms", direction="outbound", status="queued", created_at=iso(created),
                    updated_at=iso(created), to="not-a-number", from_=PHONE_NUMBER)  # fmt: skip
    assert twin_store.claim(record)[1] is True
    assert twin_store.claim(record)[1] is False  # a retried claim indexes nothing twice
    rows = partition(twin_store, "d:2026-03-10")
    assert [(row["RowKey"], row["record_id"]) for row in rows] == [(number_row(created, "d-claim"), "d-claim")]


def test_a_repeated_claim_writes_index_rows_a_cut_short_claim_missed(twin_store: RecordStore) -> None:
    record = Record(id="d-cut", type="sms", direction="outbound", status="queued", created_at=iso(NOW),
                    updated_at=iso(NOW), to="+15550004444", from_=PHONE_NUMBER)  # fmt: skip
    twin_store.records.create_entity(record.to_entity())  # the record row only, as if the claim stopped there
    _, created = twin_store.claim(record)
    assert not created
    for name in ("d:2026-03-10", "n:+15550004444", f"n:{PHONE_NUMBER}"):
        assert [row["record_id"] for row in partition(twin_store, name)] == ["d-cut"]


# -- inbound traffic -----------------------------------------------------------------------------------


def test_an_inbound_sms_is_one_transaction_then_its_index_rows(twin: TwinAccount, twin_store: RecordStore) -> None:
    twin.requests.clear()
    sid = record_inbound_message(twin_store, sms(), NOW)
    assert twin.requests[0] == "submit_transaction records"  # the record and its `incoming` event
    assert sorted(twin.requests[1:]) == ["create_entity records"] * 4  # To, From, day, SID: at once
    assert sid is not None
    assert events(twin_store, sid) == ["incoming"]
    assert [row["record_id"] for row in partition(twin_store, f"sid:{sid}")] == [sid]
    assert twin_store.history(CUSTOMER, 5)[0].id == sid


def test_an_inbound_call_is_one_transaction_then_its_index_rows(twin: TwinAccount, twin_store: RecordStore) -> None:
    twin.requests.clear()
    sid = "CA" + uuid.uuid4().hex
    assert record_inbound_call(twin_store, {"CallSid": sid, "From": CUSTOMER, "To": PHONE_NUMBER}, NOW) == sid
    assert twin.requests == ["submit_transaction records"] + ["create_entity records"] * 4
    stored = twin_store.get(sid)
    assert stored is not None
    assert (stored.status, stored.direction, stored.sid) == ("ringing", "inbound", sid)
    assert events(twin_store, sid) == ["incoming"]


def test_a_replayed_inbound_message_adds_nothing(twin: TwinAccount, twin_store: RecordStore) -> None:
    params = sms()
    sid = record_inbound_message(twin_store, params, NOW)
    rows = all_rows(twin_store)
    twin.requests.clear()
    assert record_inbound_message(twin_store, params, NOW + timedelta(seconds=30)) == sid
    assert all_rows(twin_store) == rows  # no second event; the index rows keep the first arrival's time
    assert twin.requests[:2] == ["submit_transaction records", "get_entity records"]


def test_a_process_stopped_before_the_index_rows_leaves_a_record_found_by_its_sid(twin: TwinAccount) -> None:
    records, optouts = IndexOutage(twin, "records"), twin.table("optouts")
    records.create_table()
    optouts.create_table()
    store = RecordStore(records, optouts)
    params = sms()
    sid = params["MessageSid"]
    with pytest.raises(ServiceRequestError):
        record_inbound_message(store, params, NOW)
    assert store.get(sid) is not None  # its id is its SID: the records API and the page find it
    assert events(store, sid) == ["incoming"]
    assert [key for key in all_rows(store) if key[0].startswith(INDEX_PARTITIONS)] == []
    records.down = False
    assert record_inbound_message(store, params, NOW + timedelta(minutes=1)) == sid  # a delivery again
    stored = store.get(sid)
    assert stored is not None
    assert {key for key in all_rows(store) if key[0].startswith(INDEX_PARTITIONS)} == set(index_keys(stored))
    assert events(store, sid) == ["incoming"]


def test_a_stop_costs_three_round_trips_in_order(twin: TwinAccount, twin_store: RecordStore) -> None:
    twin.requests.clear()
    record_inbound_message(twin_store, sms("STOP"), NOW)
    assert twin.requests[0] == "submit_transaction records"
    assert sorted(twin.requests[1:6]) == ["create_entity records"] * 4 + ["upsert_entity optouts"]
    assert twin.requests[6:] == ["create_entity records"]  # the marker, after the change it stands for
    assert twin_store.is_opted_out(CUSTOMER)


def test_an_old_start_replayed_after_a_newer_stop_does_not_opt_back_in(twin_store: RecordStore) -> None:
    start, stop = sms("START"), sms("STOP")
    record_inbound_message(twin_store, start, NOW)
    assert twin_store.is_opted_out(CUSTOMER) is False
    record_inbound_message(twin_store, stop, NOW + timedelta(seconds=1))
    assert twin_store.is_opted_out(CUSTOMER) is True
    record_inbound_message(twin_store, start, NOW + timedelta(seconds=2))  # the old, signed START again
    assert twin_store.is_opted_out(CUSTOMER) is True
    record_inbound_message(twin_store, sms("unstop"), NOW + timedelta(seconds=3))
    assert twin_store.is_opted_out(CUSTOMER) is False


def test_a_stop_cut_short_before_its_marker_is_applied_on_the_retry(twin_store: RecordStore) -> None:
    params = sms("STOP")
    record_inbound_message(twin_store, params, NOW)
    twin_store.records.delete_entity(*next(key for key in all_rows(twin_store) if key[1].startswith("dedupe:")))
    twin_store.set_opt_out(CUSTOMER, False, keyword="START", via=None, now=NOW)  # as if the STOP never landed
    record_inbound_message(twin_store, params, NOW + timedelta(minutes=1))
    assert twin_store.is_opted_out(CUSTOMER) is True


def test_an_orphan_callback_is_one_transaction_and_a_repeat_adds_nothing(
    twin: TwinAccount, twin_store: RecordStore
) -> None:
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "MessageStatus": "delivered", "To": CUSTOMER}
    twin.requests.clear()
    assert record_status_callback(twin_store, "sms", params, None, NOW) == sid
    assert twin.requests[:2] == ["get_entity records", "submit_transaction records"]  # the SID index, then all
    assert events(twin_store, sid) == ["callback"]
    rows = all_rows(twin_store)
    assert record_status_callback(twin_store, "sms", params, None, NOW + timedelta(seconds=5)) == sid
    assert all_rows(twin_store) == rows


# -- retention ------------------------------------------------------------------------------------------


def test_retention_runs_in_bounded_batches_and_resumes(twin_store: RecordStore) -> None:
    now = datetime.now(timezone.utc)
    old = [record_inbound_call(twin_store, {"CallSid": "CA" + uuid.uuid4().hex, "From": CUSTOMER, "To": PHONE_NUMBER},
                               now - timedelta(days=50, minutes=i)) for i in range(5)]  # fmt: skip
    kept = record_inbound_call(twin_store, {"CallSid": "CA" + uuid.uuid4().hex, "From": CUSTOMER}, now)
    first = sweep_retention(twin_store, 30, lambda _: 0, budget=2)
    assert first.records == 2
    assert sum(twin_store.get(str(sid)) is not None for sid in old) == 3
    second = sweep_retention(twin_store, 30, lambda _: 0, budget=2)
    third = sweep_retention(twin_store, 30, lambda _: 0, budget=2)
    assert (second.records, third.records) == (2, 1)
    assert all(twin_store.get(str(sid)) is None for sid in old)
    assert twin_store.get(str(kept)) is not None
    assert sweep_retention(twin_store, 30, lambda _: 0).records == 0


@pytest.mark.parametrize("sender", ["sip:a/b@example.com", "messenger:1#2?3", "client:al\x07ice", "12345"])
def test_a_stop_from_an_address_that_is_no_number_records_the_message_and_keys_nothing_by_it(
    twin_store: RecordStore, sender: str
) -> None:
    """A `From` that is no number never becomes an opt-out key: Table Storage refuses `/`, `#`, `?` and control
    characters in keys (the webhook answered 503 on every retry), and nothing outbound could reach it anyway."""
    params = sms("STOP") | {"From": sender}
    assert record_inbound_message(twin_store, params, NOW) == params["MessageSid"]
    assert [dict(e) for e in twin_store.optouts.list_entities()] == []
    assert twin_store.get(params["MessageSid"]) is not None


def test_a_stop_over_rcs_opts_the_number_out(twin_store: RecordStore) -> None:
    """One person's number is one person on every channel: `rcs:+1…` is that number, as `whatsapp:+1…` is."""
    record_inbound_message(twin_store, sms("STOP") | {"From": "rcs:" + CUSTOMER, "To": "rcs:acme_agent"}, NOW)
    assert twin_store.is_opted_out(CUSTOMER)
