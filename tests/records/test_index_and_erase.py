"""Indexing and erasure follow one rule (`index_keys`): every kind of record, written by the app's own writers,
leaves no row behind once erased: by id, by retention, or by its number. On the twin and on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from switchboard.media.callbacks import call_record_id
from switchboard.records.callbacks import record_inbound_call, record_inbound_message, record_status_callback
from switchboard.records.forget import erase_number, forget_record, sweep_retention
from switchboard.records.model import Record, index_keys, iso
from switchboard.records.store import RecordStore, event_entity
from tests.records.conftest import all_rows
from tests.support import PHONE_NUMBER

NOW = datetime.now(timezone.utc)
OLD = NOW - timedelta(days=40)
CUSTOMER = "+15558670501"
Writer = Callable[[RecordStore, datetime], list[str]]  # writes one kind of record; returns the record ids


TOMBSTONE_FIELDS = {"PartitionKey", "RowKey", "finalised_at", "how", "content_mac"}


def left_over(store: RecordStore) -> list[tuple[str, str]]:
    """Every row but the tombstones, once each tombstone is checked to hold nothing personal."""
    rows = []
    for entity in store.records.list_entities():
        key = (str(entity["PartitionKey"]), str(entity["RowKey"]))
        if key[1] == "claim" and key[0].startswith("r:"):
            assert set(entity) <= TOMBSTONE_FIELDS, entity
            assert entity.get("finalised_at"), f"a live claim row outlived its record: {entity}"
            assert CUSTOMER not in str(dict(entity)), entity
            continue
        rows.append(key)
    return sorted(rows)


def hexid() -> str:
    return uuid.uuid4().hex


def claimed(store: RecordStore, kind: str, to: str, now: datetime) -> Record:
    """An outbound record as the worker claims it, before the send."""
    record = Record(id="t-" + hexid()[:16], type=kind, direction="outbound", status="sending", created_at=iso(now),
                    updated_at=iso(now), to=to, from_=PHONE_NUMBER)  # fmt: skip
    return store.claim(record)[0]


def outbound(kind: str, to: str) -> Writer:
    """As the worker writes it: claimed, sent (the SID and its event in one transaction), the SID linked."""

    def write(store: RecordStore, now: datetime) -> list[str]:
        record, sid = claimed(store, kind, to, now), ("CA" if kind == "call" else "SM") + hexid()
        record_id = record.id
        sent = record.with_changes(now, sid=sid, status="queued")
        store.commit(sent, event_entity(record_id, "sent", status="queued", sid=sid, now=now))
        store.link_sid(sid, record_id)
        if kind == "sms":
            params = {"MessageSid": sid, "MessageStatus": "delivered"}
        else:
            params = {"CallSid": sid, "CallStatus": "completed"}
        record_status_callback(store, kind, params, record_id, now)  # a marker and an event
        return [record_id]

    return write


def inbound_call(sender: str, to: str = PHONE_NUMBER) -> Writer:
    def write(store: RecordStore, now: datetime) -> list[str]:
        sid = "CA" + hexid()
        params = {"CallSid": sid, "From": sender, "To": to, "CallStatus": "ringing"}
        assert record_inbound_call(store, params, now) == sid
        return [sid]

    return write


def inbound_sms(sender: str, to: str = PHONE_NUMBER, body: str = "hello") -> Writer:
    def write(store: RecordStore, now: datetime) -> list[str]:
        sid = "SM" + hexid()
        params = {"MessageSid": sid, "From": sender, "To": to, "Body": body}
        assert record_inbound_message(store, params, now) == sid
        return [sid]

    return write


def orphan_then_outbound(store: RecordStore, now: datetime) -> list[str]:
    """A callback that beat the worker's SID write, without a request id: an orphan holds the SID first."""
    sid = "CA" + hexid()
    orphan = record_status_callback(store, "call", {"CallSid": sid, "CallStatus": "ringing", "To": CUSTOMER}, None, now)
    record = claimed(store, "call", CUSTOMER, now)
    record_id = record.id
    store.commit(record.with_changes(now, sid=sid, status="queued"), event_entity(record_id, "sent", sid=sid, now=now))
    assert store.link_sid(sid, record_id) == orphan  # the SID row stays the orphan's
    return [str(orphan), record_id]


def recording_without_a_call(store: RecordStore, now: datetime) -> list[str]:
    record_id = call_record_id(store, None, "CA" + hexid(), now)
    assert record_id is not None
    return [record_id]


KINDS: dict[str, Writer] = {
    "outbound-call": outbound("call", CUSTOMER),
    "outbound-sms": outbound("sms", CUSTOMER),
    "outbound-whatsapp": outbound("sms", "whatsapp:" + CUSTOMER),
    "inbound-call": inbound_call(CUSTOMER),
    "inbound-call-client": inbound_call("client:alice"),
    "inbound-call-sip": inbound_call("sip:alice@example.com", to="sip:desk@example.com"),
    "inbound-sms": inbound_sms(CUSTOMER),
    "inbound-stop": inbound_sms(CUSTOMER, body="STOP"),
    "inbound-whatsapp": inbound_sms("whatsapp:" + CUSTOMER, to="whatsapp:" + PHONE_NUMBER),
    "inbound-messenger": inbound_sms("messenger:1234567890", to="messenger:0987654321"),
    # Twilio writes an RCS user as `rcs:+E.164` (the agent as `rcs:<agent id>`): a number, like WhatsApp's.
    "inbound-rcs": inbound_sms("rcs:" + CUSTOMER, to="rcs:acme_agent"),
    "inbound-rcs-stop": inbound_sms("rcs:" + CUSTOMER, to="rcs:acme_agent", body="STOP"),
    "orphan-and-outbound": orphan_then_outbound,
    "recording-without-a-call": recording_without_a_call,
}


# The kinds that name the customer's number: in E.164, or as the number of a WhatsApp or RCS address (indexed under
# it); other channel addresses are not numbers, and not indexed by one.
NAMING_THE_NUMBER = ["outbound-call", "outbound-sms", "outbound-whatsapp", "inbound-call", "inbound-sms",
                     "inbound-stop", "inbound-whatsapp", "inbound-rcs", "inbound-rcs-stop",
                     "orphan-and-outbound"]  # fmt: skip


class ErasureRules:
    """Each subclass gives `store`: an empty records store."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_erasing_a_record_by_id_leaves_no_row(self, store: RecordStore, kind: str) -> None:
        ids = KINDS[kind](store, NOW)
        rows = all_rows(store)
        for record_id in ids:
            record = store.get(record_id)
            assert record is not None
            assert set(index_keys(record)) <= set(rows), "the writer left out an index row the rule names"
        for record_id in ids:
            counts = forget_record(store, record_id, lambda _: 0)
            assert counts.records == 1
        assert left_over(store) == []

    @pytest.mark.parametrize("kind", KINDS)
    def test_retention_leaves_no_row(self, store: RecordStore, kind: str) -> None:
        ids = KINDS[kind](store, OLD)
        counts = sweep_retention(store, 30, lambda _: 0, now=NOW)
        assert counts.records == len(ids)
        assert left_over(store) == []

    @pytest.mark.parametrize("kind", NAMING_THE_NUMBER)
    def test_erasing_a_number_leaves_no_row_but_the_audit(self, store: RecordStore, kind: str) -> None:
        ids = KINDS[kind](store, NOW)
        result = erase_number(store, CUSTOMER, lambda _: 0, salt="s")
        assert (result["records"], result["complete"]) == (len(ids), True)
        assert {partition for partition, _ in left_over(store)} == {"audit:erasure"}


class TestTheTwin(ErasureRules):
    @pytest.fixture
    def store(self, twin_store: RecordStore) -> RecordStore:
        return twin_store


class TestAzurite(ErasureRules):
    @pytest.fixture
    def store(self, azurite_store: RecordStore) -> RecordStore:
        return azurite_store
