"""Issue 20 points 3, 6, 7: erasure and retention keep tombstones with no personal data, and check them.

Before, `DELETE /api/numbers/…` deleted the state that made replays harmless: a replayed old START
opted the number back in and re-created the erased record, redelivering an already-sent request texted
the person again, fingerprints were unsalted SHA-256 rows that outlived their record, and a media copy
racing an erasure left an orphan blob.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from switchboard.records.callbacks import record_inbound_message
from switchboard.records.forget import erase_number, forget_record, sweep_retention
from switchboard.records.model import Record, iso
from switchboard.records.store import RecordStore, fingerprint
from tests.support import ACCOUNT_SID, PHONE_NUMBER, serving

NOW = datetime.now(timezone.utc)
CUSTOMER = "+15558670577"


def _sms(store: RecordStore, body: str, now: datetime = NOW) -> str:
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "From": CUSTOMER, "To": PHONE_NUMBER, "Body": body}
    assert record_inbound_message(store, params, now) == sid
    return sid


def _replay(store: RecordStore, sid: str, body: str) -> str | None:
    return record_inbound_message(store, {"MessageSid": sid, "From": CUSTOMER, "To": PHONE_NUMBER, "Body": body}, NOW)


@pytest.mark.parametrize("optout", [False, True])
def test_a_replayed_old_start_after_erasure_changes_nothing_and_recreates_nothing(
    twin_store: RecordStore, optout: bool
) -> None:
    _sms(twin_store, "STOP")
    start = _sms(twin_store, "START")
    _sms(twin_store, "STOP")
    assert twin_store.is_opted_out(CUSTOMER)
    erase_number(twin_store, CUSTOMER, lambda _: 0, salt="s", optout=optout)
    assert twin_store.is_opted_out(CUSTOMER) is not optout
    assert _replay(twin_store, start, "START") is None
    assert twin_store.get(start) is None  # not re-created
    assert twin_store.is_opted_out(CUSTOMER) is not optout  # kept opted out, or left as erasure left it
    assert list(twin_store.number_ids(CUSTOMER, page=10)) == []


def test_retention_keeps_the_same_tombstones(twin_store: RecordStore) -> None:
    old = NOW - timedelta(days=40)
    _sms(twin_store, "STOP", old)
    start = _sms(twin_store, "START", old)
    _sms(twin_store, "STOP", old)
    assert sweep_retention(twin_store, 30, lambda _: 0, now=NOW, salt="s").records == 3
    assert _replay(twin_store, start, "START") is None
    assert twin_store.get(start) is None
    assert twin_store.is_opted_out(CUSTOMER)


def test_fingerprints_are_keyed() -> None:
    raw = b'{"type":"sms","to":"+15558670577","body":"Your code is 1234"}'
    assert fingerprint(raw, b"k1") != hashlib.sha256(raw).hexdigest()  # not recoverable by hashing guesses
    assert fingerprint(raw, b"k1") != fingerprint(raw, b"k2")


def test_a_tombstone_keeps_a_keyed_content_hash_and_nothing_personal(twin_store: RecordStore) -> None:
    record = Record(id="t-" + uuid.uuid4().hex[:16], type="sms", direction="outbound", status="delivered",
                    created_at=iso(NOW), updated_at=iso(NOW), to=CUSTOMER, from_=PHONE_NUMBER, body="Your code is 1234",
                    content_hash=hashlib.sha256(b"summary").hexdigest())  # fmt: skip
    twin_store.claim(record)
    forget_record(twin_store, record.id, lambda _: 0, key=b"k")
    [tombstone] = list(twin_store.records.list_entities())
    assert set(tombstone) == {"PartitionKey", "RowKey", "finalised_at", "how", "content_mac"}
    assert tombstone["content_mac"] not in (record.content_hash, None)
    assert twin_store.finalised(record.id)


class _Twilio(BaseHTTPRequestHandler):
    """Twilio's media URL; while it answers, someone erases the record (the race the copy must survive)."""

    during: ClassVar[list[Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        for action in _Twilio.during:
            action()
        body = b"RIFF" + b"\0" * 60
        self.send_response(200)
        self.send_header("Content-Type", "audio/x-wav")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def media_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Twilio)
    with serving(httpd) as port:
        yield f"http://127.0.0.1:{port}"
        _Twilio.during = []


def test_a_copy_racing_an_erasure_leaves_no_blob(azurite: str, configure, media_server: str) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.media.blobs import container, delete_record_blobs
    from switchboard.media.copy import copy, new_session
    from switchboard.media.jobs import recording_job
    from switchboard.settings import get_settings

    configure(RECORDINGS_CONTAINER="rec" + uuid.uuid4().hex[:10])
    settings = replace(get_settings(), api_base_url=media_server)
    store = store_for(settings)
    call_sid, recording_sid = "CA" + uuid.uuid4().hex, "RE" + uuid.uuid4().hex
    record = Record(id=call_sid, type="call", direction="inbound", status="completed", created_at=iso(NOW),
                    updated_at=iso(NOW), from_=CUSTOMER, to=PHONE_NUMBER, sid=call_sid)  # fmt: skip
    store.claim(record)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
    job = recording_job(call_sid, {"CallSid": call_sid, "RecordingSid": recording_sid, "RecordingUrl": url})
    assert job is not None
    bucket = container(settings.recordings_container)
    _Twilio.during = [lambda: erase_number(store, CUSTOMER, lambda rid: delete_record_blobs(settings, rid), salt="s")]
    outcome = copy(job, settings, store, bucket, new_session())
    assert outcome == "erased"
    assert [blob.name for blob in bucket.list_blobs(name_starts_with=f"{call_sid}/")] == []
    assert store.get(call_sid) is None
    assert [row["RowKey"] for row in store.records.query_entities(f"PartitionKey eq 'r:{call_sid}'")] == ["claim"]


def test_a_live_record_under_the_sid_keeps_its_claim(twin_store: RecordStore) -> None:
    """Erasing a record tombstones its SID as an id too (no orphan for a late callback), unless one lives there."""
    sid = "CA" + uuid.uuid4().hex
    orphan = Record(id=sid, type="call", direction="unknown", status="completed", created_at=iso(NOW),
                    updated_at=iso(NOW), sid=sid)  # fmt: skip
    twin_store.claim(orphan)
    outbound = Record(id="t-" + uuid.uuid4().hex[:16], type="call", direction="outbound", status="completed",
                      created_at=iso(NOW), updated_at=iso(NOW), to=CUSTOMER, sid=sid)  # fmt: skip
    twin_store.claim(outbound)
    forget_record(twin_store, outbound.id, lambda _: 0)
    assert twin_store.finalised(outbound.id)
    assert not twin_store.finalised(sid)
    assert twin_store.get(sid) is not None
    lonely = Record(id="t-" + uuid.uuid4().hex[:16], type="call", direction="outbound", status="completed",
                    created_at=iso(NOW), updated_at=iso(NOW), to=CUSTOMER, sid="CA" + uuid.uuid4().hex)  # fmt: skip
    twin_store.claim(lonely)
    forget_record(twin_store, lonely.id, lambda _: 0)
    assert twin_store.finalised(lonely.sid or "")
