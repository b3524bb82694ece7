"""The outbound_undecodable timer when its queue does not exist (yet): no exception every 5 minutes, one log line."""

from __future__ import annotations

import contextlib
import json
import logging

from azure.core.exceptions import ResourceExistsError

from switchboard.adapters.storage import queue_client
from switchboard.functions import outbound
from switchboard.outbound.undecodable import producer_id
from switchboard.settings import get_settings
from tests.support import function


def test_the_sweep_tolerates_a_missing_queue_and_says_so_once(app, azurite: str, monkeypatch, caplog) -> None:
    monkeypatch.setattr(outbound, "_missing_logged", set())
    queue = queue_client(outbound.UNDECODABLE_QUEUE, base64=False)
    with contextlib.suppress(Exception):
        queue.delete_queue()
    timer = function(app, "outbound_undecodable")
    try:
        with caplog.at_level(logging.WARNING, logger="switchboard.outbound"):
            for _ in range(3):
                assert timer(None) is None  # the host would log a failed run if this raised
            assert outbound.sweep_undecodable(get_settings()) == []
        said = [r.getMessage() for r in caplog.records if "does not exist" in r.getMessage()]
        assert said == ["Queue outbound-poison-poison does not exist yet: nothing to sweep (infra/ creates it)"]
    finally:
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
    queue.send_message("not base64 {")
    assert len(outbound.sweep_undecodable(get_settings())) == 1  # once it exists, the sweep works as before


def test_an_undecodable_message_is_found_under_its_own_id_and_a_corrected_resend_still_sends(
    app, twilio, monkeypatch
) -> None:
    from tests.outbound.conftest import deliver, get_record, new_id

    given = new_id()
    message = {"id": given, "type": "sms", "to": "+15558675310", "body": "hello"}
    queue = queue_client(outbound.UNDECODABLE_QUEUE, base64=False)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message(json.dumps(message))  # plain text: a producer that forgot base64
    swept = outbound.sweep_undecodable(get_settings())
    assert len(swept) == 1
    assert swept[0].startswith("undecodable-")
    status, found = get_record(app, given)  # the alias: the id the producer knows
    assert status == 200, found
    assert (found["id"], found["status"]) == (swept[0], "dead_lettered")
    # An alias is not a claim: the corrected (base64) resend with the same id is sent, and then it is what the id reads.
    deliver(app, message)
    status, resent = get_record(app, given)
    assert status == 200
    assert resent["id"] == given
    assert resent["status"] != "dead_lettered", resent
    assert producer_id("not json {") is None
    assert producer_id('{"id": "bad id!"}') is None


def test_a_deeply_nested_message_is_swept_like_any_other(app, azurite: str) -> None:
    """JSON nested past Python's recursion limit raised RecursionError (not a ValueError) in the sweep: the message
    was never deleted, and every sweep after failed on it again."""
    assert producer_id("[" * 100_000) is None
    queue = queue_client(outbound.UNDECODABLE_QUEUE, base64=False)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message('{"id": "x", "a": ' + "[" * 30_000)
    assert len(outbound.sweep_undecodable(get_settings())) == 1
    assert outbound.sweep_undecodable(get_settings()) == []  # gone from the queue
