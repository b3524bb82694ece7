"""Events (issue 24): CloudEvents 1.0 in structured mode, held to the spec by the `cloudevents` library and to
schemas/event.schema.json; an outbox row shares the record change's transaction; suppression and reasons parse."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from cloudevents.v1.exceptions import MissingRequiredFields

from switchboard.policies.suppression import (
    SuppressionConfigError,
    is_suppressed,
    parse_suppress_on_errors,
    suppressed_until,
)
from switchboard.records.model import Record, iso, record_partition
from switchboard.records.outbox import TYPES, cloud_event, event_type, outbox_entity, parse_event
from switchboard.records.store import RecordStore
from switchboard.shared.reasons import reason_for

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "event.schema.json").read_text())
NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
DATA = {"id": "r1", "type": "sms", "status": "undelivered", "to": "+15558670601", "body": "hi", "error_code": "30006"}


def event(**overrides: object) -> bytes:
    args: dict[str, object] = {"subject": "+15558670601", "sequence": 2, "time": iso(NOW)} | overrides
    return cloud_event("r1", "message", "undelivered", DATA, **args)


def test_an_event_is_a_valid_cloudevent_and_matches_the_schema() -> None:
    raw = event()
    parsed = parse_event(raw)  # the library refuses an event without the spec's required attributes
    assert parsed["specversion"] == "1.0"
    assert parsed["id"] == "r1:undelivered"
    assert parsed["type"] == "switchboard.message.undelivered"
    assert parsed["subject"] == "+15558670601"
    assert parsed["sequence"] == "000002"
    assert parsed["data"]["error_reason"] == "landline or unreachable carrier"
    jsonschema.validate(json.loads(raw), SCHEMA, format_checker=jsonschema.FormatChecker())


def test_the_spec_library_refuses_an_event_without_required_attributes() -> None:
    broken = json.loads(event())
    del broken["source"]
    with pytest.raises(MissingRequiredFields):
        parse_event(json.dumps(broken))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_bodies_are_left_out_when_asked_and_the_id_is_stable() -> None:
    without = json.loads(event(include_body=False))
    assert "body" not in without["data"]
    assert without["data"]["to"] == "+15558670601"
    assert json.loads(event(sequence=9))["id"] == without["id"]


def test_only_documented_types_exist() -> None:
    assert "switchboard.message.delivered" in TYPES
    assert "switchboard.call.no_answer" in TYPES
    assert event_type("call", "no-answer") == "switchboard.call.no_answer"
    with pytest.raises(ValueError, match="undocumented"):
        event_type("message", "queued")
    assert set(SCHEMA["properties"]["type"]["enum"]) == TYPES


def test_the_outbox_row_is_written_in_the_record_changes_transaction(twin_store: RecordStore) -> None:
    record = Record(id="r1", type="sms", direction="outbound", status="queued", created_at=iso(NOW),
                    updated_at=iso(NOW), to="+15558670601")  # fmt: skip
    assert twin_store.insert(record) is not None
    stored = twin_store.get("r1")
    assert stored is not None
    row = outbox_entity("r1", 1, event(sequence=1))
    twin_store.commit(stored.__class__(**{**stored.__dict__, "status": "undelivered"}), row)
    rows = {e["RowKey"]: e for e in twin_store.records.query_entities(
        "PartitionKey eq @pk", parameters={"pk": record_partition("r1")})}  # fmt: skip
    assert rows["record"]["status"] == "undelivered"
    assert parse_event(rows["outbox:000001"]["event"])["id"] == "r1:undelivered"
    assert rows["outbox:000001"]["published"] is False


def test_suppress_on_errors_parses_and_lapses() -> None:
    rules = parse_suppress_on_errors(None)
    assert rules == {"30003": timedelta(days=7), "30005": timedelta(days=30), "30006": timedelta(days=30)}
    assert parse_suppress_on_errors("off") == {}
    until = suppressed_until(rules, "30006", NOW)
    assert until == NOW + timedelta(days=30)
    assert is_suppressed(until, NOW + timedelta(days=29))
    assert not is_suppressed(until, NOW + timedelta(days=30))
    assert suppressed_until(rules, "30007", NOW) is None
    assert parse_suppress_on_errors(" 30006 : 90m , 30034:12h ") == {"30006": timedelta(minutes=90),
                                                                    "30034": timedelta(hours=12)}  # fmt: skip


@pytest.mark.parametrize("raw", ["99999:7d", "30006:7w", "30006", "30006:0d", "30006:d", "21610:7d", "30006:7d,"])
def test_bad_suppress_on_errors_fails_naming_the_setting(raw: str) -> None:
    with pytest.raises(SuppressionConfigError, match="SUPPRESS_ON_ERRORS"):
        parse_suppress_on_errors(raw)


def test_error_codes_have_reasons_and_remedies() -> None:
    for code in ("21611", "30001", "30007", "30034", "30032", "30006", "21610"):
        reason = reason_for(code)
        assert reason is not None
        assert reason.reason
        assert reason.remedy
    assert reason_for(30034) == reason_for("30034")
    assert reason_for("12345") is None
    assert reason_for(None) is None


def test_a_final_status_callback_writes_one_outbox_event_with_the_change(twin_store: RecordStore) -> None:
    from switchboard.records.callbacks import record_status_callback

    record = Record(id="r9", type="sms", direction="outbound", status="queued", created_at=iso(NOW),
                    updated_at=iso(NOW), to="+15558670601", sid="SM" + "a" * 32)  # fmt: skip
    assert twin_store.insert(record) is not None
    base = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "0" * 32}
    for status in ("sent", "delivered", "delivered", "read"):
        record_status_callback(twin_store, "sms", base | {"MessageStatus": status}, "r9", NOW)
    partition = twin_store.records.query_entities("PartitionKey eq @pk", parameters={"pk": record_partition("r9")})
    rows = [e for e in partition if str(e["RowKey"]).startswith("outbox:")]
    events = [parse_event(row["event"]) for row in rows]
    assert [e["id"] for e in events] == ["r9:delivered", "r9:read"]
    assert [int(e["sequence"]) for e in events] == sorted(int(e["sequence"]) for e in events)
    assert events[0]["type"] == "switchboard.message.delivered"


def test_twilios_opt_out_type_is_authoritative_over_the_word_list(twin_store: RecordStore) -> None:
    from switchboard.records.callbacks import record_inbound_message
    from switchboard.records.keywords import opt_keyword

    assert opt_keyword("ARRET") is None
    assert opt_keyword("ARRET", "STOP") == "stop"
    assert opt_keyword("STOP", "HELP") == "help"
    assert opt_keyword("hello", "START") == "start"
    assert opt_keyword("STOP", "") == "stop"
    customer, ours = "+15558670601", "+15005550006"
    base = {"From": customer, "To": ours, "AccountSid": "AC" + "0" * 32}
    record_inbound_message(
        twin_store, base | {"MessageSid": "SM" + "1" * 32, "Body": "ARRET", "OptOutType": "STOP"}, NOW
    )
    assert twin_store.is_opted_out(customer)
    record_inbound_message(twin_store, base | {"MessageSid": "SM" + "2" * 32, "Body": "STOP", "OptOutType": ""}, NOW)
    record_inbound_message(twin_store, base | {"MessageSid": "SM" + "3" * 32, "Body": "ok", "OptOutType": "START"}, NOW)
    assert not twin_store.is_opted_out(customer)
