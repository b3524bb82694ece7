"""Hostile queue input through the local host's real queue semantics: every message ends in a record, none loops.

What the host can decode and our code cannot use is `rejected`; what the host cannot decode (not
base64) goes through `outbound-poison` to `outbound-poison-poison`, where the sweep records it as
`dead_lettered` with its text and the reason.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from switchboard.adapters.storage import queue_client
from switchboard.functions.glue_records import store_for
from switchboard.functions.outbound import sweep_undecodable
from switchboard.outbound.undecodable import REASON
from switchboard.settings import get_settings
from tests.support import FUNCTION_KEY
from tools.devhost.host import LocalHost
from tools.emulator.rest import TwilioEmulator
from tools.localmachine import free_port

pytestmark = pytest.mark.slow
FINAL = ("rejected", "dead_lettered", "failed", "unknown", "queued", "accepted", "sent", "delivered", "completed")


def _hostile_messages() -> dict[str, tuple[bytes, str | None]]:
    """name -> (raw bytes before base64, the JSON id if it names one)."""
    n = uuid.uuid4().hex[:8]

    def js(value: Any) -> bytes:
        return json.dumps(value).encode()

    return {
        "array": (js([1, 2, 3]), None),
        "string": (js("call +15558675310"), None),
        "null": (b"null", None),
        "empty": (b"", None),
        "not json": (b"type=sms&to=+15558675310", None),
        "not utf-8": (b'\xff\xfe{"type":"sms"}', None),
        "nested": (b"[" * 3000 + b"]" * 3000, None),
        "unknown type": (js({"id": f"q-type-{n}", "type": "fax", "to": "+15558675310"}), f"q-type-{n}"),
        "number as int": (js({"id": f"q-int-{n}", "type": "sms", "to": 15558675310, "body": "x"}), f"q-int-{n}"),
        "number spaced": (js({"id": f"q-sp-{n}", "type": "sms", "to": "+1 555 867 5310", "body": "x"}), f"q-sp-{n}"),
        "number float": (b'{"id":"q-fl-%s","type":"sms","to":1.5558675310e10,"body":"x"}' % n.encode(), f"q-fl-{n}"),
        "timeout NaN": (
            b'{"id":"q-nan-%s","type":"call","to":"+15558675310","say":"x","timeout":NaN}' % n.encode(),
            f"q-nan-{n}",
        ),
        "timeout 1e400": (
            b'{"id":"q-inf-%s","type":"call","to":"+15558675310","say":"x","timeout":1e400}' % n.encode(),
            f"q-inf-{n}",
        ),
        "timeout string": (
            js({"id": f"q-ts-{n}", "type": "call", "to": "+15558675310", "say": "x", "timeout": "30"}),
            f"q-ts-{n}",
        ),
        "body too long": (js({"id": f"q-long-{n}", "type": "sms", "to": "+15558675310", "body": "x" * 40000}),
                          f"q-long-{n}"),
        "bad id": (js({"id": "../../etc", "type": "sms", "to": "+15558675310", "body": "x"}), None),
    }  # fmt: skip


def _wait_final(ids: dict[str, str], timeout: float = 60.0) -> dict[str, Any]:
    store = store_for(get_settings())
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(found) < len(ids):
        for name, record_id in ids.items():
            if name not in found:
                record = store.get(record_id)
                if record is not None and record.status in FINAL:
                    found[name] = record
        time.sleep(0.2)
    return found


def _undecodable_record(raw: str):
    store = store_for(get_settings())
    query = "RowKey eq 'record' and raw eq @raw"
    for entity in store.records.query_entities(query, parameters={"raw": raw}):
        if str(entity["PartitionKey"]).startswith("r:undecodable-"):
            return store.get(str(entity["PartitionKey"])[2:])
    return None


def test_hostile_queue_messages_end_in_records_not_loops(app, twilio: TwilioEmulator) -> None:
    messages = _hostile_messages()
    raw_queue = queue_client("outbound", base64=False)
    overrides = {"visibility_timeout": 0.0, "max_polling_interval": 0.2}
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), config_overrides=overrides):
        ids: dict[str, str] = {}
        for name, (raw, json_id) in messages.items():
            sent = raw_queue.send_message(base64.b64encode(raw).decode("ascii"))
            ids[name] = json_id or sent.id
        forgot = f"forgot base64 {uuid.uuid4().hex}: " + '{"type":"sms","to":"+15558675310","body":"hi"}'
        raw_queue.send_message(forgot)
        records = _wait_final(ids)
        # The host moves the undecodable one to poison on first receive, on each queue, then gives up.
        deadline = time.monotonic() + 60
        dead = None
        while time.monotonic() < deadline and dead is None:
            sweep_undecodable(get_settings())  # the timer's job, without waiting for its schedule
            dead = _undecodable_record(forgot)
            time.sleep(0.3)

    assert sorted(records) == sorted(ids), f"no final record for {sorted(set(ids) - set(records))}"
    for name, record in records.items():
        assert record.status == "rejected", (name, record.status, record.reason)
        assert record.reason, name
        assert record.attempts == 0, name
        assert len(record.raw or "") <= 2000, name
    # The Functions host hands the body over as a UTF-8 string with invalid bytes replaced (U+FFFD), so the
    # app sees text that is not JSON; the raw text keeps the replacement characters.
    assert "not valid JSON" in records["not utf-8"].reason
    assert (records["not utf-8"].raw or "").startswith("\ufffd\ufffd")
    assert records["body too long"].raw.endswith("…")
    # Nothing here reached Twilio.
    assert not [form for form in twilio.attempts("messages") + twilio.attempts("calls") if "x" in form.get("Body", [])]

    assert dead is not None
    assert (dead.status, dead.reason) == ("dead_lettered", REASON)
    assert dead.raw == forgot


def test_a_message_over_the_queue_limit_is_refused_to_the_producer(azurite: str) -> None:
    # Azure Storage caps a message at 64 KiB: the producer gets the error, nothing is half-sent.
    with pytest.raises(HttpResponseError):
        queue_client("outbound").send_message(json.dumps({"type": "sms", "to": "+15558675310", "body": "x" * 70000}))
