"""GET /api/health (function key): is this deployment able to work? 200 when every check passes, else 503."""

from __future__ import annotations

import json
import os

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    from switchboard.health.checks import Origin, run
    from switchboard.shared.logs import redact

    status, body = run(os.environ, Origin.of_request(req.url, dict(req.headers)))
    # Problems are worded by us, but an SDK's message is quoted here and there: redact as the logs do.
    text = redact(json.dumps(body, indent=2))
    return func.HttpResponse(
        text, status_code=status, mimetype="application/json", charset="utf-8", headers={"Cache-Control": "no-store"}
    )
