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


@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=False)
def poison_queue_depths(timer: func.TimerRequest) -> None:
    """Every 5 minutes, one `queue.depth` line per poison queue: infra/'s alert fires on 10 minutes non-empty."""
    from switchboard.health.depths import log_poison_depths
    from switchboard.settings import get_settings

    log_poison_depths(get_settings())
