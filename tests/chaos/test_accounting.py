"""The chaos harness's own accounting: which records answer which requests, and sends Azurite left unanswered.

During the Azurite restart a send can reach Azurite and get no answer although the message is queued (seen
here: 6 of 7 such sends had landed). The producer resends it, so a message without an id can be recorded
twice. The harness counts those sends; only they explain a second record.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from chaos.report import State, match, records_of, settled
from chaos.run import Options, Request, Run, _send


class Queue:
    def __init__(self, *outcomes: Exception | str) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[str] = []

    def send_message(self, text: str) -> Any:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        self.sent.append(text)
        return outcome


def id_less(key: str) -> Request:
    return Request(key, "not json", f"{key}: please call +15550001".encode(), None, marker=key)


def record(record_id: str, status: str = "rejected", raw: str = "") -> dict[str, Any]:
    return {"PartitionKey": f"r:{record_id}", "RowKey": "record", "id": record_id, "status": status,
            "direction": "outbound", "raw": raw}  # fmt: skip


@pytest.mark.parametrize(
    ("error", "counted"), [(ServiceResponseError("no answer"), 1), (RuntimeError("500"), 1),
                           (ServiceRequestError("refused"), 0)],
)  # fmt: skip
def test_a_send_that_may_have_landed_is_counted(error: Exception, counted: int) -> None:
    request = id_less("chaos-1-00001")
    with pytest.raises(type(error)):
        _send(Queue(error), "text", request)
    assert request.ambiguous_sends == counted
    assert _send(Queue("sent"), "text", request) == "sent"
    assert request.ambiguous_sends == counted


def test_an_id_less_message_is_found_by_its_text_under_any_queue_message_id() -> None:
    request = id_less("chaos-1-00002")
    state = State(records={"q-1": record("q-1", raw="chaos-1-00002: please call"), "q-2": record("q-2", raw="x")})
    assert records_of(request, state) == ["q-1"]
    assert settled(Run(Options(n=1), [request]), state)
    state.records["q-1"]["status"] = "retrying"
    assert not settled(Run(Options(n=1), [request]), state)


def test_a_second_record_is_explained_only_by_a_resent_send() -> None:
    request = id_less("chaos-1-00003")
    state = State(records={rid: record(rid, raw="chaos-1-00003: please call") for rid in ("q-1", "q-2")})
    doubled = match([request], state)
    assert doubled.doubled == ["chaos-1-00003"]
    assert doubled.resent_records == 0
    request.ambiguous_sends = 1
    resent = match([request], state)
    assert resent.doubled == []
    assert resent.resent_records == 1
    assert resent.expected_ids == {"q-1", "q-2"}  # neither is a record "for no request"
    assert resent.matched["chaos-1-00003"]["id"] == "q-1"


def test_a_request_with_an_id_has_that_record_only() -> None:
    request = Request("chaos-1-00004", "sms", b"{}", "chaos-1-00004", marker="chaos-1-00004")
    state = State(records={"chaos-1-00004": record("chaos-1-00004", status="delivered"),
                           "q-9": record("q-9", raw="chaos-1-00004")})  # fmt: skip
    found = match([request], state)
    assert records_of(request, state) == ["chaos-1-00004"]
    assert found.missing == found.doubled == []
    assert found.expected_ids == {"chaos-1-00004"}
