"""The outbound_undecodable timer when its queue does not exist (yet): no exception every 5 minutes, one log line."""

from __future__ import annotations

import contextlib
import logging

from azure.core.exceptions import ResourceExistsError

from switchboard.adapters.storage import queue_client
from switchboard.functions import outbound
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
