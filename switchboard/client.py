"""Ask Switchboard to place a call or send an SMS from any Python app: one JSON message on its `outbound` queue.

This module is a copy-paste target. It needs only `azure-storage-queue` and the standard library, so you
can copy this one file into another app, or `pip install` this project and `from switchboard.client import ...`.

    from switchboard.client import outbound_queue, send_call, send_sms

    queue = outbound_queue(connection_string)          # or outbound_queue(account_url=..., credential=...)
    request_id = send_sms(queue, "+15558675310", body="Your order has shipped.")
    send_call(queue, "+15558675310", say="Hello world.", request_id="order-1234:call")
    send_sms(queue, "whatsapp:+15558675310", from_="whatsapp:+15005550006", content_sid="HX…",
             content_variables={"1": "1234"})      # a WhatsApp Content template (OUTBOUND_CHANNELS)
    enqueue(queue, {"format": "twilio-binding", "to": "+15558675310", "body": "Hi"})  # the Twilio binding's JSON
    send_sms(queue, "+15558675310", body="See you at 9", send_at="2027-01-05T08:00:00-05:00")  # held until then
    cancel(request_id, api_url="https://myapp.azurewebsites.net", function_key=key)  # before its send starts

Every message is base64-encoded on the queue, which is what the Functions queue trigger expects; a
queue client without base64 encoding is refused, because its messages would all end in `outbound-poison`.
The request id is the idempotency key: sending the same id twice never calls or texts twice. Leave it
out and one is generated. It is returned, so that you can look the request up later
(`GET /api/records/{id}`). Switchboard validates every message again before it spends money, against
the JSON Schema in `schemas/outbound-message.schema.json`; the checks here only catch mistakes early.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

QUEUE_NAME = "outbound"
# Copies of the app's shapes (this file stands alone; tests/test_shapes.py keeps them equal to the originals),
# matched against the whole value: a trailing newline or a non-ASCII digit is refused here as in the app.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_WHATSAPP = re.compile(r"whatsapp:\+[1-9][0-9]{1,14}")
_ALPHA_SENDER = re.compile(r"(?=[A-Za-z0-9 +\-_&]*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}")
_CONTENT_SID = re.compile(r"(?:HX)[0-9a-fA-F]{32}")
_HTTP_URL = re.compile(r"https?://[^\s/?#]+\S*")
_URL_LIMIT = 2048
# RFC 3339 with its offset (the app checks the date is real, and how far ahead it is).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
CALL_CONTENT = ("say", "play", "twiml", "url")
BINDING_FORMAT = "twilio-binding"


def new_request_id() -> str:
    return uuid.uuid4().hex


def outbound_queue(
    connection_string: str | None = None,
    *,
    account_url: str | None = None,
    credential: Any = None,
    queue_name: str = QUEUE_NAME,
) -> QueueClient:
    """A client for Switchboard's queue, with base64 message encoding.

    Give a connection string, or the queue service URL (`https://<account>.queue.core.windows.net`)
    and a credential, e.g. `azure.identity.DefaultAzureCredential()` with the Storage Queue Data
    Message Sender role on the account.
    """
    from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient, TextBase64EncodePolicy

    policies: dict[str, Any] = {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": BinaryBase64DecodePolicy(),
    }
    if connection_string:
        return QueueClient.from_connection_string(connection_string, queue_name, **policies)
    if account_url:
        return QueueClient(account_url, queue_name, credential=credential, **policies)
    raise ValueError("outbound_queue() needs a connection string or an account_url")


def call_message(
    to: str,
    *,
    say: str | None = None,
    play: str | None = None,
    twiml: str | None = None,
    url: str | None = None,
    from_: str | None = None,
    request_id: str | None = None,
    voice: str | None = None,
    language: str | None = None,
    timeout: int | None = None,
    machine_detection: str | None = None,
    record: bool | None = None,
    send_at: str | datetime | None = None,
    expires_at: str | datetime | None = None,
    quiet_hours: bool | None = None,
) -> dict[str, Any]:
    """The queue message for a call that says, plays, runs TwiML or fetches TwiML from a URL (exactly one)."""
    content = {"say": say, "play": play, "twiml": twiml, "url": url}
    given = [key for key, value in content.items() if value is not None]
    if len(given) != 1:
        raise ValueError(f"a call needs exactly one of {', '.join(CALL_CONTENT)}; got {given or 'none'}")
    for key in ("play", "url"):
        if content[key] is not None:
            _check_url(content[key], key)
    message = _base("call", to, from_, request_id)
    message.update(
        _present(
            {**content, "voice": voice, "language": language, "timeout": timeout,
             "machine_detection": machine_detection, "record": record}
        )
    )  # fmt: skip
    message.update(_timing(send_at, expires_at, quiet_hours))
    return message


def sms_message(
    to: str,
    *,
    body: str | None = None,
    media_url: list[str] | None = None,
    from_: str | None = None,
    request_id: str | None = None,
    messaging_service_sid: str | None = None,
    content_sid: str | None = None,
    content_variables: dict[str, str] | None = None,
    shorten_urls: bool | None = None,
    smart_encoded: bool | None = None,
    send_as_mms: bool | None = None,
    max_price: str | float | None = None,
    persistent_action: list[str] | None = None,
    validity_period: int | None = None,
    attempt: int | None = None,
    send_at: str | datetime | None = None,
    expires_at: str | datetime | None = None,
    quiet_hours: bool | None = None,
) -> dict[str, Any]:
    """The queue message for an SMS, MMS or WhatsApp message: a body and/or media URLs, or a Content template.

    `to` is an E.164 number, or `whatsapp:+E.164` (the app's OUTBOUND_CHANNELS must include whatsapp);
    `from_` a number, a WhatsApp address, or an alphanumeric sender ID listed in OUTBOUND_ALPHA_SENDERS.
    """
    if not body and not media_url and not content_sid:
        raise ValueError("an SMS needs a body and/or media_url, or a content_sid")
    if content_sid is not None and (body or media_url):
        raise ValueError("a content_sid template carries its own text and media: no body or media_url with it")
    if content_sid is not None:
        _check(_CONTENT_SID, content_sid, "content_sid", "HX followed by 32 hex digits")
    if content_variables is not None and content_sid is None:
        raise ValueError("content_variables needs a content_sid")
    if body is not None and len(body) > 1600:
        raise ValueError("an SMS body is at most 1600 characters")
    for link in media_url or []:
        _check_url(link, "media_url")
    message = _base("sms", to, from_, request_id, message_addresses=True)
    message.update(
        _present(
            {"body": body, "media_url": list(media_url) if media_url else None,
             "messaging_service_sid": messaging_service_sid, "content_sid": content_sid,
             "content_variables": dict(content_variables) if content_variables is not None else None,
             "shorten_urls": shorten_urls, "smart_encoded": smart_encoded, "send_as_mms": send_as_mms,
             "max_price": max_price, "persistent_action": list(persistent_action) if persistent_action else None,
             "validity_period": validity_period, "attempt": attempt}
        )
    )  # fmt: skip
    message.update(_timing(send_at, expires_at, quiet_hours))
    return message


def enqueue(queue: QueueClient, message: dict[str, Any]) -> str:
    """Put one message on the queue, base64-encoded, and return its request id (one is added if it has none).

    Any message of the contract works, the Twilio binding's JSON (`"format": "twilio-binding"`) too.
    """
    from azure.storage.queue import TextBase64EncodePolicy

    if not isinstance(getattr(queue, "_message_encode_policy", None), TextBase64EncodePolicy):
        raise ValueError(
            "the queue client must base64-encode messages (message_encode_policy=TextBase64EncodePolicy()); "
            "build it with outbound_queue() so that messages do not end in the poison queue"
        )
    if "id" not in message:
        message = {**message, "id": new_request_id()}
    queue.send_message(json.dumps(message, ensure_ascii=False, separators=(",", ":")))
    return str(message["id"])


def send_call(queue: QueueClient, to: str, **options: Any) -> str:
    """Ask for a call; see call_message() for the options. Returns the request id."""
    return enqueue(queue, call_message(to, **options))


def send_sms(queue: QueueClient, to: str, **options: Any) -> str:
    """Ask for an SMS; see sms_message() for the options. Returns the request id."""
    return enqueue(queue, sms_message(to, **options))


def _base(
    kind: str, to: str, from_: str | None, request_id: str | None, *, message_addresses: bool = False
) -> dict[str, Any]:
    if message_addresses and _matches(_WHATSAPP, to):
        if from_ is not None:
            _check(_WHATSAPP, from_, "from", "a whatsapp:+E.164 address when to is one")
    else:
        _check(_E164, to, "to", "an E.164 number like +15558675310" + (" or whatsapp:+E.164" * message_addresses))
    if from_ is not None and not _matches(_WHATSAPP, to):
        sender = _matches(_E164, from_) or (message_addresses and _matches(_ALPHA_SENDER, from_))
        what = "an E.164 number like +15558675310" + (" or an alphanumeric sender ID" * message_addresses)
        if not sender:
            raise ValueError(f"from must be {what}, not {from_!r}")
    request_id = new_request_id() if request_id is None else request_id
    _check(_REQUEST_ID, request_id, "request_id", "1-64 characters of A-Z a-z 0-9 _ . : -")
    message: dict[str, Any] = {"type": kind, "id": request_id, "to": to}
    if from_ is not None:
        message["from"] = from_
    return message


def _timing(
    send_at: str | datetime | None, expires_at: str | datetime | None, quiet_hours: bool | None
) -> dict[str, Any]:
    """`send_at` and `expires_at` as RFC 3339 text with an offset (an aware datetime, or such text); `quiet_hours`."""
    out: dict[str, Any] = {}
    for name, given in (("send_at", send_at), ("expires_at", expires_at)):
        if isinstance(given, datetime):
            if given.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime (a time without an offset is ambiguous)")
            given = given.isoformat()  # noqa: PLW2901 (the datetime, as its text)
        if given is not None:
            if not isinstance(given, str) or not _RFC3339.fullmatch(given):
                raise ValueError(f"{name} must be RFC 3339 with an offset, e.g. 2027-01-05T09:00:00-05:00")
            out[name] = given
    if quiet_hours is not None:
        out["quiet_hours"] = bool(quiet_hours)
    return out


class CancelRefused(Exception):
    """The request's send has started or finished (409): `status` is its record's status."""

    def __init__(self, request_id: str, status: str) -> None:
        super().__init__(f"request {request_id} is {status}: its send has started or finished")
        self.status = status


def cancel(request_id: str, *, api_url: str, function_key: str, timeout: float = 10.0) -> str:
    """Cancel a request whose send has not started (`DELETE /api/outbound/{id}`); returns `canceled`.

    Raises CancelRefused (409) once its send has started or finished, LookupError for an unknown id
    (also one the app has not recorded yet: a request on the queue is recorded within moments).
    """
    _check(_REQUEST_ID, request_id, "request_id", "1-64 characters of A-Z a-z 0-9 _ . : -")
    _check(_HTTP_URL, api_url, "api_url", "an http(s) URL")
    url = f"{api_url.rstrip('/')}/api/outbound/{urllib.parse.quote(request_id, safe='')}"
    headers = {"x-functions-key": function_key, "Accept": "application/json"}
    request = urllib.request.Request(url, method="DELETE", headers=headers)  # noqa: S310 (http(s) checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return str(json.loads(response.read().decode("utf-8"))["status"])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise LookupError(f"no request {request_id}") from None
        if error.code == 409:
            raise CancelRefused(request_id, str(json.loads(error.read().decode("utf-8")).get("status"))) from None
        raise


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _check(pattern: re.Pattern[str], value: object, name: str, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{name} must be {what}, not {value!r}")


def _check_url(value: object, name: str) -> None:
    if isinstance(value, str) and len(value) > _URL_LIMIT:
        raise ValueError(f"{name} must be an http(s) URL of at most {_URL_LIMIT} characters")
    _check(_HTTP_URL, value, name, "an http(s) URL")
