"""GET /api/dashboard: the operator page (function key)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from switchboard.dashboard.reader import TableRecordReader

bp = func.Blueprint()
logger = logging.getLogger(__name__)
_readers: dict[tuple[str, str], TableRecordReader] = {}


@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    # Imported here: webhooks never pay for the page's modules at cold start.
    import secrets
    from datetime import datetime, timezone

    from switchboard.dashboard.page import build_page, parse_days
    from switchboard.dashboard.reader import TableRecordReader
    from switchboard.settings import get_settings

    table = get_settings().records_table
    key = (table, os.environ.get("AzureWebJobsStorage", ""))  # one reader per table and account
    reader = _readers.get(key)
    if reader is None:
        from switchboard.adapters.storage import table_client

        reader = _readers[key] = TableRecordReader(table_client(table))
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
