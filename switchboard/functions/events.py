"""Events (issue 24): the `events_republish` timer sends the outbox rows a write's own publish did not."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from datetime import datetime

    from switchboard.records.publisher import Summary
    from switchboard.settings import Settings

bp = func.Blueprint()
log = logging.getLogger("switchboard.events")


@bp.timer_trigger(arg_name="timer", schedule="30 * * * * *", run_on_startup=False, use_monitor=False)
def events_republish(timer: func.TimerRequest) -> None:
    """Every minute: pending events older than the grace, bounded per run (switchboard/records/publisher.py)."""
    from switchboard.settings import get_settings

    republish_now(get_settings())


def republish_now(settings: Settings, *, now: datetime | None = None, grace_seconds: float | None = None) -> Summary:
    """One republish run (the timer's; tests and `make demo` run one with a shorter grace)."""
    from datetime import timedelta

    from switchboard.adapters.events import sinks_for
    from switchboard.functions.glue_records import store_for
    from switchboard.records.publisher import REPUBLISH_GRACE, republish
    from switchboard.records.store import utcnow
    from switchboard.shared import telemetry

    grace = REPUBLISH_GRACE if grace_seconds is None else timedelta(seconds=grace_seconds)
    with telemetry.span("events.republish"):
        summary = republish(
            store_for(settings), sinks_for(settings.events_queue, settings.event_grid_topic_endpoint), now or utcnow(),
            include_body=settings.events_include_body, grace=grace,
        )  # fmt: skip
    if summary.sent or summary.failed:
        bound = "; stopped at the run's bound" if summary.stopped_early else ""
        log.info("Republish: %d event(s) sent, %d partition(s) failed, %d pending row(s) scanned%s", summary.sent,
                 summary.failed, summary.scanned, bound)  # fmt: skip
    return summary
