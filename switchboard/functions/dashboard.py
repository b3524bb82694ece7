"""GET /api/dashboard: the operator page (function key); POST /api/dashboard: its one action, cancel.

The page's cancel button posts `{"cancel": "<id>"}` as JSON to the page's own route, with the page's
own key, so a key of the `dashboard` function alone is enough (docs/operate.md). Only
`application/json` is taken: a cross-site page can send that only after a CORS preflight, which the
app never grants, and a form (text/plain, urlencoded) is refused before anything is read; without
the key nothing gets that far anyway.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from switchboard.dashboard.reader import RecordReader
    from switchboard.settings import Settings

bp = func.Blueprint()
logger = logging.getLogger(__name__)
_readers: dict[tuple[str, str, str], RecordReader] = {}
MAX_ACTION_BYTES = 1024  # {"cancel": "<an id of at most 64 characters>"}


def reader_for(settings: Settings) -> RecordReader:
    """One reader per table and account, over the records store; it creates no table (none yet reads as empty)."""
    key = (settings.records_table, settings.optouts_table, os.environ.get("AzureWebJobsStorage", ""))
    reader = _readers.get(key)
    if reader is None:
        from switchboard.adapters.storage import table_client
        from switchboard.dashboard.reader import StoreRecordReader
        from switchboard.records.store import RecordStore

        store = RecordStore(table_client(settings.records_table), table_client(settings.optouts_table))
        reader = _readers[key] = StoreRecordReader(store)
    return reader


@bp.route(route="dashboard", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    if len(req.get_body() or b"") > MAX_ACTION_BYTES:
        return _json(413, {"error": "request body too large"})
    if req.method == "POST":
        return _cancel(req)
    return _page(req)


def _cancel(req: func.HttpRequest) -> func.HttpResponse:
    """The Scheduled list's cancel button: the same answer as DELETE /api/outbound/{id}."""
    import json

    from switchboard.functions.glue_records import store_for
    from switchboard.outbound.cancel import answer
    from switchboard.records.store import utcnow
    from switchboard.settings import get_settings

    kind = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        return _json(415, {"error": "send JSON (Content-Type: application/json)"})
    try:
        data = json.loads((req.get_body() or b"").decode("utf-8"))
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        data = None
    wanted = data.get("cancel") if isinstance(data, dict) else None
    if not isinstance(wanted, str):
        return _json(400, {"error": 'expected {"cancel": "<request id>"}'})
    status, payload = answer(store_for(get_settings()), wanted, utcnow())
    if status == 200:
        logger.info("Canceled outbound request %s from the operator page", wanted)
    return _json(status, payload)


def _json(status: int, payload: dict[str, object]) -> func.HttpResponse:
    import json

    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json", charset="utf-8")


def _page(req: func.HttpRequest) -> func.HttpResponse:
    # Imported here: webhooks never pay for the page's modules at cold start.
    import secrets
    from datetime import datetime, timezone

    from switchboard.dashboard.page import build_page, parse_days
    from switchboard.settings import get_settings

    settings = get_settings()
    reader = reader_for(settings)
    table = settings.records_table
    params = req.params
    try:
        page = build_page(
            reader, now=datetime.now(timezone.utc), nonce=secrets.token_urlsafe(16), query=params.get("q", ""),
            code=params.get("code", ""), days=parse_days(params.get("days")),
        )  # fmt: skip
    except Exception:
        logger.exception("dashboard: cannot read records from table %s", table)
        return func.HttpResponse("Records are unavailable right now.", status_code=503, mimetype="text/plain")
    return func.HttpResponse(page.html, status_code=200, mimetype="text/html", charset="utf-8", headers=page.headers)
