"""Timer triggers for the local host: six-field NCRONTAB schedules (`sec min hour day month weekday`).

Supports what Functions apps commonly write: `*`, numbers, `a-b` ranges, `*/n` and `a-b/n` steps,
and comma lists. Times are UTC, as on Azure unless WEBSITE_TIME_ZONE is set.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.functions.timer import TimerRequest

from tools.devhost.index import OutputQueue, TimerFunction
from tools.devhost.invoke import invoke

log = logging.getLogger("tools.devhost")

# (low, high) of each field; the weekday is 0-6 with 0 = Sunday, as in NCRONTAB.
_FIELDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
MAX_LOOKAHEAD_MINUTES = 366 * 24 * 60  # bounded search for the next occurrence


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Schedule:
        parts = text.split()
        if len(parts) != 6:
            raise ValueError(f"a timer schedule has six fields (sec min hour day month weekday): {text!r}")
        values = [_field(part, low, high) for part, (low, high) in zip(parts, _FIELDS, strict=True)]
        return cls(*values)

    def next_after(self, moment: datetime.datetime) -> datetime.datetime:
        """The first occurrence strictly after `moment` (UTC)."""
        start = moment.replace(microsecond=0) + datetime.timedelta(seconds=1)
        minute = start.replace(second=0)
        for step in range(MAX_LOOKAHEAD_MINUTES):
            candidate = minute + datetime.timedelta(minutes=step)
            if not self._minute_matches(candidate):
                continue
            for second in sorted(self.seconds):
                due = candidate.replace(second=second)
                if due >= start:
                    return due
        raise ValueError("the schedule has no occurrence within a year")

    def _minute_matches(self, moment: datetime.datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Python: Monday = 0; NCRONTAB: Sunday = 0
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.day in self.days
            and moment.month in self.months
            and weekday in self.weekdays
        )


def _field(text: str, low: int, high: int) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        spread, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if spread == "*":
            first, last = low, high
        elif "-" in spread:
            first_text, last_text = spread.split("-", 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(spread)
            last = high if step_text else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(f"timer schedule field {text!r} is outside {low}-{high}")
        found.update(range(first, last + 1, step))
    return frozenset(found)


class TimerRunner:
    def __init__(
        self,
        function: TimerFunction,
        send_output: Callable[[OutputQueue, Any], None],
        stop: threading.Event,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc),
    ) -> None:
        self.function = function
        self.schedule = Schedule.parse(function.schedule)
        self.send_output = send_output
        self.stop = stop
        self.now = now
        self.runs = 0

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name=f"devhost-timer-{self.function.name}", daemon=True)
        thread.start()
        return thread

    def _loop(self) -> None:
        if self.function.run_on_startup:
            self._fire()
        while not self.stop.is_set():
            due = self.schedule.next_after(self.now())
            if self.stop.wait(max(0.0, (due - self.now()).total_seconds())):
                return
            self._fire()

    def _fire(self) -> None:
        self.runs += 1
        try:
            invoke(
                self.function.user_function,
                self.function.arg_name,
                TimerRequest(past_due=False),
                self.function.outputs,
                self.send_output,
            )
        except Exception:
            log.exception("Timer function %s failed", self.function.name)
