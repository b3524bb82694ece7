"""Pure: the keyword arguments of `client.calls.create` and `client.messages.create` for a request.

`say` and `play` go inline as `twiml` (built by the SDK's TwiML builder): no second round trip
for Twilio, and nothing for it to fetch from us. Status callbacks point at our own signed
routes and carry the request id, so a callback that arrives before the SID is stored (or
after an attempt whose answer was lost) still finds its record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from switchboard.outbound.contract import OutboundRequest
from switchboard.shared.tags import TAG_PARAM, tag, verify
from switchboard.shared.urls import public_url

VOICE_STATUS_PATH = "/api/voice/status"
RECORDING_STATUS_PATH = "/api/voice/recording"
SMS_STATUS_PATH = "/api/sms/status"
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
REQUEST_ID_PARAM = "request_id"
log = logging.getLogger("switchboard.records")


def status_callback_url(public_base_url: str | None, path: str, request_id: str, key: bytes | None) -> str | None:
    """`…/api/voice/status?request_id=<id>&tag=<HMAC>`: the tag binds the id to this route (shared/tags.py).

    Without a key (pure tests) the URL carries the id alone, and the callback routes ignore it.
    """
    if not public_base_url:
        return None
    query = {REQUEST_ID_PARAM: request_id} | ({TAG_PARAM: tag(key, path, request_id)} if key else {})
    return f"{public_url(public_base_url, path)}?{urlencode(query)}"


def bound_request_id(query: Callable[[str], str | None], path: str, keys: tuple[bytes, ...]) -> str | None:
    """The request id of a callback URL (`query`: its query's `get`) if its tag is the app's for this route, else None.

    Any TwiML on the account can point Twilio at `…?request_id=<someone else's id>`, and Twilio signs
    it: an untagged or wrongly tagged id is ignored (the callback is then found by its SID alone).
    """
    request_id = query(REQUEST_ID_PARAM)
    if not request_id:
        return None
    if verify(keys, path, request_id, query(TAG_PARAM)):
        return request_id
    log.warning("Ignored the request_id of a callback on %s: its tag is not the app's (found by SID instead)", path)
    return None


def inline_twiml(request: OutboundRequest) -> str | None:
    if request.twiml is not None:
        return request.twiml
    attributes = {key: value for key, value in (("voice", request.voice), ("language", request.language)) if value}
    response = VoiceResponse()
    if request.say is not None:
        response.say(request.say, **attributes)
    elif request.play is not None:
        response.play(request.play)
    else:
        return None
    return str(response)


def call_params(request: OutboundRequest, public_base_url: str | None, key: bytes | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"to": request.to, "from_": request.from_}
    twiml = inline_twiml(request)
    if twiml is not None:
        params["twiml"] = twiml
    else:
        params["url"] = request.url
    callback = status_callback_url(public_base_url, VOICE_STATUS_PATH, request.id, key)
    if callback:
        params |= {
            "status_callback": callback,
            "status_callback_method": "POST",
            "status_callback_event": list(CALL_STATUS_EVENTS),
        }
    optional = {
        "timeout": request.timeout,
        "machine_detection": request.machine_detection,
        "record": request.record,
    }
    params |= {key: value for key, value in optional.items() if value is not None}
    recording_callback = status_callback_url(public_base_url, RECORDING_STATUS_PATH, request.id, key)
    if request.record and recording_callback:
        # The recording is copied into the user's Blob Storage when Twilio says it is complete.
        params |= {
            "recording_status_callback": recording_callback,
            "recording_status_callback_method": "POST",
            "recording_status_callback_event": ["completed"],
        }
    return params


def sms_params(
    request: OutboundRequest, public_base_url: str | None, *, attempts: int = 1, key: bytes | None = None
) -> dict[str, Any]:
    """`attempts`: this worker's attempt count, 1 for the first; a producer's `attempt` counts them on."""
    params: dict[str, Any] = {"to": request.to}
    if request.from_:
        params["from_"] = request.from_
    if request.messaging_service_sid:
        params["messaging_service_sid"] = request.messaging_service_sid
    if request.body is not None:
        params["body"] = request.body
    if request.media_url:
        params["media_url"] = list(request.media_url)
    if request.persistent_action:
        params["persistent_action"] = list(request.persistent_action)
    if request.attempt is not None:
        # Twilio's Attempt is the total number of attempts, this one included, "regardless of the provider".
        params["attempt"] = request.attempt + max(attempts, 1) - 1
    optional = {
        "content_sid": request.content_sid,
        "content_variables": request.content_variables,
        "shorten_urls": request.shorten_urls,
        "smart_encoded": request.smart_encoded,
        "send_as_mms": request.send_as_mms,
        "max_price": request.max_price,
        "validity_period": request.validity_period,
    }
    params |= {key: value for key, value in optional.items() if value is not None}
    callback = status_callback_url(public_base_url, SMS_STATUS_PATH, request.id, key)
    if callback:
        params["status_callback"] = callback
    return params


def create_params(
    request: OutboundRequest, public_base_url: str | None, *, attempts: int = 1, key: bytes | None = None
) -> dict[str, Any]:
    """`key`: the app's tag key (Settings.tag_keys[0]) that binds the request id in the callback URLs."""
    if request.type == "call":
        return call_params(request, public_base_url, key)
    return sms_params(request, public_base_url, attempts=attempts, key=key)
