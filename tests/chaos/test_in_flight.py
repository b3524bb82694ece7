"""The chaos run's account of what a kill interrupted: only an attempt it caught may end `unknown`."""

from __future__ import annotations

from datetime import datetime, timedelta

from chaos.run import in_flight

LOG = """\
Switchboard local host: a development and test tool, NOT the Azure Functions host.
2026-12-07 13:15:40,000 INFO switchboard.outbound: Sending sms chaos-1-00001 to +1555***0001 (attempt 1)
2026-12-07 13:15:41,000 INFO switchboard.outbound: outbound.handled request_id=chaos-1-00001 type=sms status=queued
Switchboard local host: a development and test tool, NOT the Azure Functions host.
2026-12-07 13:15:49,840 INFO switchboard.outbound: Sending sms chaos-1-00018 to +1555***6338 (attempt 1)
2026-12-07 13:15:49,855 INFO switchboard.outbound: Sending call chaos-1-00020 to +1555***6386 (attempt 2)
2026-12-07 13:15:50,100 INFO switchboard.outbound: outbound.handled request_id=chaos-1-00020 type=call status=retrying
2026-12-07 13:15:20,000 INFO switchboard.outbound: Sending sms chaos-1-00030 to +1555***0030 (attempt 1)
2026-12-07 13:15:50,200 INFO switchboard.outbound: Starting attempt 2 of call chaos-1-00040
"""


def test_a_kill_caught_the_attempts_its_host_was_still_sending() -> None:
    now = datetime(2026, 12, 7, 13, 15, 55)
    # 00001 was before the last restart; 00020 was handled; 00030 is older than the in-flight window.
    # 00040: killed between marking the record `sending` and its "Sending" line.
    assert in_flight(LOG, now, timedelta(seconds=30)) == {"chaos-1-00018", "chaos-1-00040"}
    assert in_flight(LOG, now, timedelta(seconds=40)) == {"chaos-1-00018", "chaos-1-00030", "chaos-1-00040"}
    assert in_flight("", now, timedelta(seconds=30)) == set()
