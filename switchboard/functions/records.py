"""Read API (function key): GET /api/records/{id} and GET /api/records?number=+1...&limit=N."""

from __future__ import annotations

import json

import azure.functions as func

bp = func.Blueprint()
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@bp.route(route="records/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def record_get(req: func.HttpRequest) -> func.HttpResponse:
    """One record and its events, by request id or by the SID of its call or message."""
    from switchboard.functions.glue_records import store_for
    from switchboard.records.ids import is_indexed_sid, is_record_id
    from switchboard.settings import get_settings

    wanted = req.route_params.get("id", "")
    if not is_record_id(wanted):
        return _json(400, {"error": "id must be a request id or a Twilio SID"})
    store = store_for(get_settings())
    record, events = store.record_with_events(wanted)
    if record is None and is_indexed_sid(wanted):
        owner = store.record_id_for_sid(wanted)
        if owner is not None:
            record, events = store.record_with_events(owner)
    if record is None:
        # A message that never decoded, found under the id its producer gave it (an alias, not a claim).
        aliased = store.record_id_for_alias(wanted)
        if aliased is not None:
            record, events = store.record_with_events(aliased)
    if record is None:
        return _json(404, {"error": "no such record"})
    return _json(200, record.to_json(events))


@bp.route(route="records", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def records_list(req: func.HttpRequest) -> func.HttpResponse:
    """A number's records (either side of the call or message), newest first."""
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings
    from switchboard.shared.phones import is_e164

    number = (req.params.get("number") or "").strip()
    if number and not number.startswith("+") and number.isdigit():
        number = "+" + number  # a "+" sent unencoded in a query string arrives as a space
    if not is_e164(number):
        return _json(400, {"error": "number must be an E.164 phone number such as +15558675310"})
    try:
        limit = int(req.params.get("limit") or DEFAULT_LIMIT)
    except ValueError:
        return _json(400, {"error": "limit must be a whole number"})
    if not 1 <= limit <= MAX_LIMIT:
        return _json(400, {"error": f"limit must be between 1 and {MAX_LIMIT}"})
    records = store_for(get_settings()).history(number, limit)
    return _json(200, {"number": number, "records": [record.to_json() for record in records]})


def _json(status: int, payload: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload), status_code=status, mimetype="application/json", charset="utf-8")
