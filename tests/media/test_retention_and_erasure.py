"""Retention (RETENTION_DAYS) and erasure (DELETE /api/numbers/{number}) over Azurite: tables and blobs."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from switchboard.records.model import Record, day_partition, iso, number_partition
from switchboard.records.store import RecordStore
from tests.support import AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER

NOW = datetime.now(timezone.utc)


@pytest.fixture
def store(azurite: str, configure) -> RecordStore:
    """Tables and containers of this test alone, named in the settings the app reads."""
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    mark = uuid.uuid4().hex[:10]
    configure(
        RECORDS_TABLE=f"rec{mark}", OPTOUTS_TABLE=f"opt{mark}", RECORDINGS_CONTAINER=f"rec{mark}",
        MEDIA_CONTAINER=f"media{mark}",
    )  # fmt: skip
    return store_for(get_settings())


def seed(store: RecordStore, *, to: str, from_: str, created: datetime, kind: str = "call", blob: bool = False) -> str:
    """A record with two events, its SID index row and, when asked, a recording in the recordings container."""
    from switchboard.media.blobs import container
    from switchboard.settings import get_settings

    sid = ("CA" if kind == "call" else "SM") + uuid.uuid4().hex
    record = Record(id=sid, type=kind, direction="inbound", status="completed", created_at=iso(created),
                    updated_at=iso(created), to=to, from_=from_, sid=sid)  # fmt: skip
    store.claim(record)
    store.link_sid(sid, sid)
    store.add_event(sid, "incoming", status="ringing", sid=sid, params={"From": from_}, now=created)
    store.add_event(sid, "callback", status="completed", sid=sid, now=created + timedelta(seconds=5))
    if blob:
        name = f"{sid}/RE{uuid.uuid4().hex}.wav"
        container(get_settings().recordings_container).upload_blob(name, b"RIFF....WAVE", overwrite=True)
        store.update(sid, lambda current: current.with_blob(created, name))
    return sid


def partition_rows(store: RecordStore, partition: str) -> list[dict[str, Any]]:
    return list(store.records.query_entities("PartitionKey eq @pk", parameters={"pk": partition}))


def blob_names(prefix: str = "") -> list[str]:
    from switchboard.adapters.storage import blob_service_client
    from switchboard.settings import get_settings

    names = []
    for container in (get_settings().recordings_container, get_settings().media_container):
        client = blob_service_client().get_container_client(container)
        if client.exists():
            names += [blob.name for blob in client.list_blobs(name_starts_with=prefix)]
    return names


def test_retention_deletes_a_seeded_old_day_and_keeps_recent_records_and_opt_outs(
    store: RecordStore, configure
) -> None:
    from switchboard.functions.privacy import run_retention
    from switchboard.settings import get_settings

    old_day = NOW - timedelta(days=40)
    customer = "+15558670401"
    old = [seed(store, to=PHONE_NUMBER, from_=customer, created=old_day + timedelta(minutes=i), blob=i == 0)
           for i in range(3)]  # fmt: skip
    recent = seed(store, to=PHONE_NUMBER, from_=customer, created=NOW - timedelta(days=2), blob=True)
    store.set_opt_out(customer, True, keyword="STOP", via=PHONE_NUMBER, now=old_day)
    assert len(blob_names()) == 2
    assert run_retention(get_settings()) is None  # unset: keep forever
    assert store.get(old[0]) is not None

    configure(RETENTION_DAYS="30")
    counts = run_retention(get_settings())
    assert counts == {"records": 3, "events": 6, "index_rows": 3 * 4, "blobs": 1, "optouts": 0}
    for sid in old:
        assert [row["RowKey"] for row in partition_rows(store, f"r:{sid}")] == ["claim"]  # only the tombstone
        assert partition_rows(store, f"r:{sid}")[0]["how"] == "retention"
        assert partition_rows(store, f"sid:{sid}") == []
    assert partition_rows(store, day_partition(old_day)) == []
    history = [row["record_id"] for row in partition_rows(store, number_partition(customer))]
    assert history == [recent]  # the old rows of the number index are gone, the recent one stays
    assert store.get(recent) is not None
    assert [name.split("/")[0] for name in blob_names()] == [recent]
    assert store.is_opted_out(customer)  # opt-outs stay
    assert run_retention(get_settings()) == {"records": 0, "events": 0, "index_rows": 0, "blobs": 0, "optouts": 0}


def test_erasure_of_a_number_answers_counts_and_leaves_other_numbers_alone(
    store: RecordStore, served, configure
) -> None:
    configure(ERASURE_AUDIT_SALT="test-salt-7f3a")
    erased, kept = "+15558670411", "+15558670412"
    gone = [
        seed(store, to=PHONE_NUMBER, from_=erased, created=NOW - timedelta(days=3), blob=True),
        seed(store, to=erased, from_=PHONE_NUMBER, created=NOW - timedelta(days=1), kind="sms"),
        seed(store, to=PHONE_NUMBER, from_=erased, created=NOW - timedelta(hours=1)),
    ]
    stays = [
        seed(store, to=PHONE_NUMBER, from_=kept, created=NOW - timedelta(days=3), blob=True),
        seed(store, to=kept, from_=PHONE_NUMBER, created=NOW - timedelta(hours=2), kind="sms"),
    ]
    store.set_opt_out(erased, True, keyword="STOP", via=PHONE_NUMBER, now=NOW)
    store.set_opt_out(kept, True, keyword="STOP", via=PHONE_NUMBER, now=NOW)
    url = f"{served.base_url}/numbers/{erased.replace('+', '%2B')}"
    assert requests.delete(url, timeout=10).status_code == 401
    answer = requests.delete(url, params={"code": FUNCTION_KEY}, timeout=30)
    assert answer.status_code == 200
    result = answer.json()
    expected_hash = hmac.new(b"test-salt-7f3a", erased.encode(), hashlib.sha256).hexdigest()
    # Each record: its 2 events, and 4 index rows (two numbers, the day, the SID); one recording blob.
    assert {k: result[k] for k in ("records", "events", "index_rows", "blobs", "optouts", "complete")} == {
        "records": 3, "events": 6, "index_rows": 12, "blobs": 1, "optouts": 0, "complete": True,
    }  # fmt: skip
    assert result["number_hash"] == expected_hash
    assert erased not in answer.text
    for sid in gone:
        [tombstone] = partition_rows(store, f"r:{sid}")  # record and events gone; the tombstone holds no number
        assert (tombstone["RowKey"], tombstone["how"]) == ("claim", "erasure")
        assert erased not in str(dict(tombstone))
        assert partition_rows(store, f"sid:{sid}") == []
    assert partition_rows(store, number_partition(erased)) == []
    # The other number keeps everything; our own number's index keeps only its rows.
    assert sorted(row["record_id"] for row in partition_rows(store, number_partition(kept))) == sorted(stays)
    assert sorted(row["record_id"] for row in partition_rows(store, number_partition(PHONE_NUMBER))) == sorted(stays)
    for sid in stays:
        assert store.get(sid) is not None
        assert len(partition_rows(store, f"r:{sid}")) == 4  # record, claim row, 2 events
    assert [name.split("/")[0] for name in blob_names()] == [stays[0]]
    # Opt-outs stay unless asked.
    assert store.is_opted_out(erased)
    assert store.is_opted_out(kept)
    # The audit row: when, how much, the salted hash; never the number.
    [audit] = partition_rows(store, "audit:erasure")
    assert audit["number_hash"] == expected_hash
    assert (audit["records"], audit["blobs"], audit["kind"]) == (3, 1, "erasure")
    assert erased not in json.dumps(audit, default=str)
    assert erased[1:] not in json.dumps(audit, default=str)

    again = requests.delete(url, params={"code": FUNCTION_KEY, "optout": "true"}, timeout=30).json()
    assert (again["records"], again["optouts"]) == (0, 1)
    assert not store.is_opted_out(erased)
    assert store.is_opted_out(kept)
    assert len(partition_rows(store, "audit:erasure")) == 2


def test_erasure_refuses_what_is_not_a_number(served) -> None:
    for bad in ("12ab", "%2B1", "x" * 40):
        answer = requests.delete(f"{served.base_url}/numbers/{bad}", params={"code": FUNCTION_KEY}, timeout=10)
        assert answer.status_code == 400, bad


def test_erasure_takes_the_number_in_the_query_so_no_request_log_keeps_it(store: RecordStore, served) -> None:
    """The Functions host's request telemetry keeps a URL's path and strips its query: the number belongs there."""
    erased, kept = "+15558670413", "+15558670414"
    gone = seed(store, to=PHONE_NUMBER, from_=erased, created=NOW - timedelta(hours=1))
    stays = seed(store, to=PHONE_NUMBER, from_=kept, created=NOW - timedelta(hours=1))
    answer = requests.delete(f"{served.base_url}/numbers", params={"code": FUNCTION_KEY, "number": erased}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["records"], answer.json()["complete"]) == (1, True)
    assert store.get(gone) is None
    assert store.get(stays) is not None
    for query in ({"number": "12ab"}, {}, {"number": kept}):  # not a number, none, or two different numbers
        path = f"{served.base_url}/numbers" + ("/%2B15558670413" if query.get("number") == kept else "")
        assert requests.delete(path, params={"code": FUNCTION_KEY, **query}, timeout=10).status_code == 400, query
    assert store.get(stays) is not None


def test_the_audit_salt_falls_back_to_a_secret_derived_from_the_auth_token() -> None:
    from switchboard.records.forget import derived_salt, number_hash

    salt = derived_salt(AUTH_TOKEN)
    assert AUTH_TOKEN not in salt
    assert number_hash("+15558670411", salt) != number_hash("+15558670411", derived_salt(AUTH_TOKEN + "x"))
    assert number_hash("+15558670411", salt) != hashlib.sha256(b"+15558670411").hexdigest()


def test_a_copy_that_cannot_be_queued_is_noted_on_the_record(store: RecordStore, monkeypatch) -> None:
    """The queue service is down (a dead port) while tables work: the record says so; nothing is lost silently."""
    import os
    import re

    from switchboard.media import blobs
    from switchboard.media.jobs import recording_job
    from tools.localmachine import free_port

    call = seed(store, to=PHONE_NUMBER, from_="+15558670421", created=NOW)
    sid = "RE" + uuid.uuid4().hex
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{sid}"
    job = recording_job(call, {"RecordingSid": sid, "RecordingUrl": url, "CallSid": call})
    assert job is not None
    dead = re.sub(r"QueueEndpoint=http://127\.0\.0\.1:\d+/", f"QueueEndpoint=http://127.0.0.1:{free_port()}/",
                  os.environ["AzureWebJobsStorage"])  # fmt: skip
    assert dead != os.environ["AzureWebJobsStorage"]
    monkeypatch.setenv("AzureWebJobsStorage", dead)
    blobs.reset()
    blobs.enqueue_or_note(store, [job], b"k")
    [failed] = [e for e in partition_rows(store, f"r:{call}") if e.get("kind") == "copy_failed"]
    assert failed["sid"] == sid
    assert "could not queue the copy" in failed["detail"]
