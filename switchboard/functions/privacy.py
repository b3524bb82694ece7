"""Erasure and retention.

- DELETE /api/numbers?number=… or /api/numbers/{number} (function key; `optout=true` also deletes the
  opt-out): deletes every record, event, index row and blob that names the number, answers the counts,
  writes an audit row.
- A timer (hourly) deletes records older than RETENTION_DAYS, in bounded batches; unset keeps them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

import azure.functions as func

from switchboard.functions.glue_records import store_for

if TYPE_CHECKING:
    from switchboard.settings import Settings

bp = func.Blueprint()
log = logging.getLogger("switchboard.records")


def _blob_deleter(settings: Settings) -> Callable[[str], int]:
    from switchboard.media.blobs import delete_record_blobs

    return lambda record_id: delete_record_blobs(settings, record_id)


# `DELETE /api/numbers?number=%2B…` is the form to use: the Functions host's request telemetry keeps a URL's path
# (so `/api/numbers/%2B…` leaves the erased number in Application Insights) and strips its query.
@bp.route(route="numbers/{number?}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
def number_erase(req: func.HttpRequest) -> func.HttpResponse:
    """Erase one person's data: everything indexed under the number (either side of a call or message)."""
    from switchboard.records.forget import erase_number
    from switchboard.shared.phones import is_e164

    given = {_number(req.route_params.get("number")), _number(req.params.get("number"))} - {""}
    number = given.pop() if len(given) == 1 else ""
    if not is_e164(number):
        return _json(400, {"error": "number must be one E.164 phone number such as +15558675310 (?number=%2B…)"})
    settings = _settings()
    from switchboard.settings import TRUE_WORDS

    optout = (req.params.get("optout") or "").strip().lower() in TRUE_WORDS
    result = erase_number(store_for(settings), number, _blob_deleter(settings), salt=settings.salt, optout=optout)
    return _json(200, result)


@bp.timer_trigger(arg_name="timer", schedule="0 17 * * * *", run_on_startup=False, use_monitor=False)
def retention_sweep(timer: func.TimerRequest) -> None:
    """Delete records older than RETENTION_DAYS (a no-op when it is unset), and the caps' rows nothing reads."""
    settings = _settings()
    run_retention(settings)
    sweep_limits()


def sweep_limits() -> int:
    """The `limits` table's housekeeping (switchboard/records/limits.py); a failure waits for the next hour."""
    import time

    from switchboard.records.limits import get_counters

    try:
        return get_counters().sweep(time.time())
    except Exception as error:
        log.warning("Could not sweep the limits table: %s", type(error).__name__)
        return 0


def run_retention(settings: Settings) -> dict[str, int] | None:
    from dataclasses import asdict

    from switchboard.records.forget import sweep_retention

    if settings.retention_days is None:
        return None
    counts = sweep_retention(store_for(settings), settings.retention_days, _blob_deleter(settings), salt=settings.salt)
    return asdict(counts)


def _number(value: str | None) -> str:
    number = unquote(value or "").strip()
    return "+" + number if number.isdigit() else number  # a "+" sent unencoded arrives as a space, or not at all


def _json(status: int, payload: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json", charset="utf-8")


def _settings() -> Settings:
    from switchboard.settings import get_settings  # deferred: settings pull in the policy modules

    return get_settings()
