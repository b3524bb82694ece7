"""Timer triggers in the local host: NCRONTAB schedules, and functions run on them."""

from __future__ import annotations

import datetime
import threading
import time

import azure.functions as func
import pytest

from tools.devhost.host import LocalHost
from tools.devhost.timers import Schedule
from tools.localmachine import free_port

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2026-11-27T05:26:10", "2026-11-27T05:30:00"),
        ("0 */5 * * * *", "2026-11-27T05:30:00", "2026-11-27T05:35:00"),
        ("*/15 * * * * *", "2026-11-27T05:26:10", "2026-11-27T05:26:15"),
        ("30 0 9 * * 1-5", "2026-11-27T10:00:00", "2026-11-30T09:00:30"),  # Friday -> Monday
        ("0 0 0 1 1 *", "2026-11-27T00:00:00", "2027-01-01T00:00:00"),
        ("0 15,45 8-9 * * *", "2026-11-27T08:20:00", "2026-11-27T08:45:00"),
    ],
)
def test_next_occurrence(schedule: str, after: str, expected: str) -> None:
    moment = datetime.datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert Schedule.parse(schedule).next_after(moment) == datetime.datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["* * * * *", "61 * * * * *", "*/0 * * * * *", "0 0 0 31 2 *"])
def test_bad_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(schedule).next_after(datetime.datetime(2026, 1, 1, tzinfo=UTC))


def test_the_local_host_runs_timer_functions() -> None:
    app = func.FunctionApp()
    fired: list[bool] = []
    twice = threading.Event()

    @app.timer_trigger(arg_name="timer", schedule="* * * * * *", run_on_startup=True, use_monitor=False)
    def tick(timer: func.TimerRequest) -> None:
        fired.append(timer.past_due)
        if len(fired) >= 3:
            twice.set()

    with LocalHost(app, port=free_port(), queues=True) as host:
        assert any("tick: timer '* * * * * *'" in line for line in host.describe())
        assert twice.wait(5)
    count = len(fired)
    time.sleep(1.2)
    assert len(fired) == count  # stopped with the host
    assert fired[0] is False
