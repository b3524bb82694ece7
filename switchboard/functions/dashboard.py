"""GET /api/dashboard: the operator page (function key)."""

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


@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
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
