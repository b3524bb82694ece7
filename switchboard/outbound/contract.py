"""The outbound message contract: one JSON object per queue message, checked before any money is spent.

`parse` turns raw queue bytes into an `OutboundRequest`, or a `Rejection` that says why not.
It is pure and agrees with `schemas/outbound-message.schema.json` (a test runs both on the
same examples). The schema cannot see what this module checks beyond shapes: that TwiML parses
with a `<Response>` root, that a sender exists when "from" is left out, what the operator allows
(`Allowed`: OUTBOUND_CHANNELS for WhatsApp, OUTBOUND_ALPHA_SENDERS for alphanumeric senders), and
the combinations of message fields Twilio refuses or would silently ignore.

A message with `"format": "twilio-binding"` is the Azure Functions Twilio binding's JSON
(`outbound.binding`): it is mapped onto the same fields first, then checked like any other.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from switchboard.outbound import binding
from switchboard.records.ids import ID_PATTERN
from switchboard.shared.phones import E164, channel_of, is_alpha_sender, is_whatsapp, number_part, region_of
from switchboard.shared.sids import is_content_sid, is_messaging_service_sid
from switchboard.shared.text import MEDIA_LIMIT, SAY_LIMIT, SMS_LIMIT, TWIML_LIMIT, clip
from switchboard.shared.urls import URL_LIMIT, is_http_url

if TYPE_CHECKING:
    from switchboard.settings import Settings

LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")

VOICE_LIMIT = 64
TIMEOUT_RANGE = (1, 600)
RAW_LIMIT = 2000  # how much of a refused message's text is kept in its record

# Twilio's limits on a message's options (Messages.json; the Content API guide for the variables).
VALIDITY_RANGE = (1, 36000)  # seconds a message may wait in Twilio's queue
ATTEMPT_RANGE = (1, 1000)  # the producer's own count of attempts, this one included
CONTENT_VARIABLES_BYTES = 16 * 1024  # the serialized JSON object, UTF-8
CONTENT_VARIABLES_PAIRS = 100  # "up to 100 key-value pairs per request"
MAX_PRICE_PLACES = 4  # US dollars, "up to 4 decimal places"
PERSISTENT_ACTIONS = 1  # a WhatsApp location message carries one pin
WHATSAPP_MEDIA = 1  # WhatsApp sends one attachment per message and ignores the rest
# `geo:<latitude>,<longitude>` and an optional `|<label>`: the one persistent action Twilio documents.
GEO_ACTION = re.compile(
    r"geo:(?P<lat>[+-]?[0-9]{1,2}(?:\.[0-9]+)?),(?P<long>[+-]?[0-9]{1,3}(?:\.[0-9]+)?)(?:\|[^\r\n]*)?"
)
# RFC 3339's date-time: a full date, a time to the second (a fraction allowed) and an offset (Z or ±HH:MM).
RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<fraction>\.[0-9]+)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
MAX_LEAD = timedelta(days=35)  # the furthest ahead send_at may be (Twilio's own scheduling limit too)
NO_ALPHA_REGIONS = ("US", "CA")  # alphanumeric sender IDs do not reach these (Twilio error 21612)

CALL_CONTENT = ("say", "play", "twiml", "url")
# When (issue 23): send_at and expires_at are RFC 3339 times with an offset; quiet_hours: false skips quiet hours.
TIMING_FIELDS = ("send_at", "expires_at", "quiet_hours")
COMMON_FIELDS = frozenset({"type", "id", "to", "from", *TIMING_FIELDS})
CALL_FIELDS = COMMON_FIELDS | {*CALL_CONTENT, "voice", "language", "timeout", "machine_detection", "record"}
MESSAGE_OPTIONS = ("content_sid", "content_variables", "shorten_urls", "smart_encoded", "send_as_mms", "max_price",
                   "persistent_action", "validity_period", "attempt")  # fmt: skip
SMS_FIELDS = COMMON_FIELDS | {"body", "media_url", "messaging_service_sid", *MESSAGE_OPTIONS}

Kind = Literal["call", "sms"]


@dataclass(frozen=True)
class Allowed:
    """What the operator allows beyond SMS from numbers: OUTBOUND_CHANNELS and OUTBOUND_ALPHA_SENDERS."""

    channels: frozenset[str] = frozenset({"sms"})
    alpha_senders: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> Allowed:
        return cls(channels=settings.outbound_channels, alpha_senders=settings.outbound_alpha_senders)


DEFAULT_ALLOWED = Allowed()


@dataclass(frozen=True)
class OutboundRequest:
    id: str
    type: Kind
    to: str
    from_: str | None
    id_given: bool = True  # False when the id defaulted to the queue message id
    say: str | None = None
    play: str | None = None
    twiml: str | None = None
    url: str | None = None
    voice: str | None = None
    language: str | None = None
    timeout: int | None = None
    machine_detection: str | None = None
    record: bool | None = None
    body: str | None = None
    media_url: tuple[str, ...] = ()
    messaging_service_sid: str | None = None
    content_sid: str | None = None
    content_variables: str | None = None  # the JSON object's text, exactly as Twilio gets it
    shorten_urls: bool | None = None
    smart_encoded: bool | None = None
    send_as_mms: bool | None = None
    max_price: str | None = None  # a decimal, as text
    persistent_action: tuple[str, ...] = ()
    validity_period: int | None = None
    attempt: int | None = None
    send_at: str | None = None  # UTC, as records.model.iso writes it: when to send, at the earliest
    expires_at: str | None = None  # UTC: not sent at all once this has passed
    quiet_hours: bool | None = None  # False: send even in quiet hours (urgent)
    format: str | None = None  # "twilio-binding" when it came in the binding's format

    @property
    def channel(self) -> str | None:
        """`whatsapp` or `sms` for a message (by its `to`), None for a call."""
        return channel_of(self.to) if self.type == "sms" else None

    @property
    def number(self) -> str:
        """The number `to` reaches: what the destination policy, opt-outs and the number index key on."""
        return number_part(self.to) or self.to

    def summary(self) -> dict[str, Any]:
        """The request as it is kept in its record (what was asked, not how it was sent)."""
        keys: tuple[str, ...] = ("say", "play", "twiml", "url", "voice", "language", "timeout")
        keys += ("machine_detection", "record", "body", "messaging_service_sid", "content_sid", "shorten_urls")
        keys += ("smart_encoded", "send_as_mms", "max_price", "validity_period", "attempt", "format", *TIMING_FIELDS)
        out: dict[str, Any] = {"type": self.type, "to": self.to, "from": self.from_}
        out |= {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
        if self.media_url:
            out["media_url"] = list(self.media_url)
        if self.content_variables is not None:
            out["content_variables"] = json.loads(self.content_variables)
        if self.persistent_action:
            out["persistent_action"] = list(self.persistent_action)
        return out


@dataclass(frozen=True)
class Rejection:
    """A message that must not reach Twilio, with enough of it kept to find it again."""

    id: str
    reason: str
    raw: str
    type: str | None = None
    to: str | None = None
    from_: str | None = None
    id_given: bool = False
    fields: Mapping[str, Any] = field(default_factory=dict)


class Invalid(ValueError):
    pass


def parse(
    raw: bytes | str, *, default_id: str, default_from: str | None = None, allowed: Allowed = DEFAULT_ALLOWED
) -> OutboundRequest | Rejection:
    """Parse one queue message. `default_id` is the queue message id; `default_from` TWILIO_PHONE_NUMBER."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    kept = clip(text, RAW_LIMIT)
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return Rejection(default_id, "message is not UTF-8", kept)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # ValueError: JSONDecodeError, or an integer over 4300 digits
        return Rejection(default_id, f"message is not valid JSON: {str(error)[:200]}", kept)
    if not isinstance(data, dict):
        return Rejection(default_id, "message must be a JSON object", kept)
    envelope = envelope_of(data)
    if envelope is not None:
        # Refused under the queue message id: an envelope's id is the event's, not a request id someone will ask for.
        return Rejection(default_id, envelope, kept, type=_str_or_none(data.get("type") or data.get("eventType")))
    given_id = data.get("id")
    usable_id = given_id if isinstance(given_id, str) and ID_PATTERN.fullmatch(given_id) else None
    try:
        return validate(data, default_id=default_id, default_from=default_from, allowed=allowed)
    except Invalid as error:
        given = binding.lookup if binding.is_binding(data) else (lambda d, key: d.get(key))
        return Rejection(
            usable_id or default_id,
            str(error),
            kept,
            type="sms" if binding.is_binding(data) else _str_or_none(data.get("type")),
            to=_str_or_none(given(data, "to")),
            from_=_str_or_none(given(data, "from")),
            id_given=usable_id is not None,
        )


def envelope_of(data: Mapping[str, Any]) -> str | None:
    """A refusal reason naming the envelope when `data` is an Event Grid or CloudEvents 1.0 event, else None."""
    if "specversion" in data and {"id", "source", "type"} <= data.keys():
        kind = f"a CloudEvents {str(data.get('specversion'))[:10]} envelope"
        event_type, event_id = data.get("type"), data.get("id")
    elif {"eventType", "subject", "dataVersion"} <= data.keys():
        kind = "an Event Grid event (EventGridEvent schema)"
        event_type, event_id = data.get("eventType"), data.get("id")
    else:
        return None
    return clip(
        f"{kind} (type {str(event_type)[:200]!r}, id {str(event_id)[:100]!r}), not an outbound request: "
        "send the request itself (its JSON as the message), not an event wrapping it",
        1000,
    )


def validate(
    data: Mapping[str, Any], *, default_id: str, default_from: str | None = None, allowed: Allowed = DEFAULT_ALLOWED
) -> OutboundRequest:
    """Check a decoded message; raise `Invalid` with the first reason found."""
    if binding.is_binding(data):
        return _from_binding(data, default_id=default_id, default_from=default_from, allowed=allowed)
    kind = data.get("type")
    if kind not in ("call", "sms"):
        raise Invalid('type: must be "call" or "sms" (or "format": "twilio-binding" for the binding\'s JSON)')
    known = CALL_FIELDS if kind == "call" else SMS_FIELDS
    unknown = sorted(set(data) - known)
    if unknown:
        raise Invalid(f"unknown field{'s' if len(unknown) > 1 else ''} for a {kind}: {', '.join(unknown)}")
    request_id = data.get("id", default_id)
    if not isinstance(request_id, str) or not ID_PATTERN.fullmatch(request_id):
        raise Invalid("id: must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    if kind == "call":
        to = _e164(data, "to", required=True) or ""
        sender = _e164(data, "from", required=False)
        request = _call(data, request_id, id_given="id" in data, to=to, sender=sender or default_from)
    else:
        request = _sms(data, request_id, id_given="id" in data, default_from=default_from, allowed=allowed)
    return _timing(data, request)


def _timing(data: Mapping[str, Any], request: OutboundRequest) -> OutboundRequest:
    """`send_at`, `expires_at` and `quiet_hours`; how far ahead send_at may be needs a clock (`lead_refusal`)."""
    send_at = _moment(data, "send_at")
    expires_at = _moment(data, "expires_at")
    if send_at is not None and expires_at is not None and expires_at <= send_at:
        raise Invalid("expires_at: must be after send_at (it would expire before it could be sent)")
    quiet = data.get("quiet_hours")
    if quiet is not None and not isinstance(quiet, bool):
        raise Invalid("quiet_hours: must be true or false (false: send even in quiet hours)")
    return replace(
        request, send_at=_utc(send_at), expires_at=_utc(expires_at), quiet_hours=quiet,
    )  # fmt: skip


def lead_refusal(request: OutboundRequest, now: datetime) -> str | None:
    """Why `send_at` is too far ahead of `now` (more than 35 days), or None. A past send_at means now."""
    if request.send_at is None:
        return None
    if moment_of(request.send_at) - now > MAX_LEAD:
        return f"send_at: at most {MAX_LEAD.days} days ahead (the longest a request may wait to be sent)"
    return None


def moment_of(text: str) -> datetime:
    """A time this module wrote (send_at, expires_at) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _moment(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    example = "e.g. 2027-01-05T09:00:00-05:00 or 2027-01-05T14:00:00Z"
    found = RFC3339.fullmatch(value) if isinstance(value, str) and len(value) <= 64 else None
    if found is None:
        raise Invalid(f"{key}: must be an RFC 3339 date and time with its UTC offset, {example}")
    if found["offset"] is None:
        raise Invalid(f"{key}: has no UTC offset; add Z or ±HH:MM ({example}): a time without one is ambiguous")
    offset = "+00:00" if found["offset"] in ("Z", "z") else found["offset"]
    fraction = (found["fraction"] or "")[:7].ljust(7, "0") if found["fraction"] else ""
    try:
        moment = datetime.fromisoformat(f"{found['date']}T{found['time']}{fraction}{offset}")
    except ValueError:
        raise Invalid(f"{key}: not a real date and time ({example})") from None
    if abs(moment.utcoffset() or timedelta(0)) >= timedelta(hours=24):
        raise Invalid(f"{key}: the UTC offset must be under 24 hours")
    return moment


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _from_binding(
    data: Mapping[str, Any], *, default_id: str, default_from: str | None, allowed: Allowed
) -> OutboundRequest:
    """The binding's JSON, mapped onto the contract; a reason names the option as the producer spelt it."""
    try:
        message = binding.to_contract(data)
    except binding.NotConvertible as error:
        raise Invalid(str(error)) from None
    try:
        request = validate(message, default_id=default_id, default_from=default_from, allowed=allowed)
    except Invalid as error:
        name, separator, rest = str(error).partition(":")
        if separator and name in SMS_FIELDS and name not in ("type", "id"):
            raise Invalid(f"{binding.field_name(data, name)}:{rest}") from None
        raise
    return replace(request, format=binding.FORMAT)


def _call(data: Mapping[str, Any], request_id: str, *, id_given: bool, to: str, sender: str | None) -> OutboundRequest:
    present = [key for key in CALL_CONTENT if key in data]
    if len(present) != 1:
        raise Invalid('a call needs exactly one of "say", "play", "twiml", "url"')
    say = _text(data, "say", SAY_LIMIT)
    play = _url(data, "play")
    url = _url(data, "url")
    twiml = _text(data, "twiml", TWIML_LIMIT)
    if twiml is not None:
        check_twiml(twiml)
    voice = _text(data, "voice", VOICE_LIMIT)
    language = _text(data, "language", 16)
    if language is not None and not LANGUAGE_PATTERN.fullmatch(language):
        raise Invalid("language: must be a language tag such as en-US")
    timeout = _integer(data, "timeout", *TIMEOUT_RANGE)
    detection = data.get("machine_detection")
    if detection is not None and detection not in MACHINE_DETECTION:
        raise Invalid(f"machine_detection: must be one of {', '.join(MACHINE_DETECTION)}")
    record = data.get("record")
    if record is not None and not isinstance(record, bool):
        raise Invalid("record: must be true or false")
    if sender is None:
        raise Invalid("from: missing, and TWILIO_PHONE_NUMBER is not set")
    return OutboundRequest(
        id=request_id, type="call", to=to, from_=sender, id_given=id_given, say=say, play=play, twiml=twiml,
        url=url, voice=voice, language=language, timeout=timeout, machine_detection=detection, record=record,
    )  # fmt: skip


def _sms(
    data: Mapping[str, Any], request_id: str, *, id_given: bool, default_from: str | None, allowed: Allowed
) -> OutboundRequest:
    to = _message_to(data, allowed)
    whatsapp = is_whatsapp(to)
    body = _text(data, "body", SMS_LIMIT)
    media_urls = _media(data, whatsapp=whatsapp)
    service = data.get("messaging_service_sid")
    if service is not None and not is_messaging_service_sid(service):
        raise Invalid("messaging_service_sid: must be MG followed by 32 hex digits")
    content_sid, variables = _content(data)
    if content_sid is None and body is None and not media_urls:
        raise Invalid('an sms needs "body", "media_url" or "content_sid"')
    if content_sid is not None and (body is not None or media_urls):
        raise Invalid(
            'content_sid: a Content template carries its own text and media; send it without "body" and "media_url"'
        )
    sender = _message_from(data, to, allowed, service=service, default_from=default_from)
    shorten = _flag(data, "shorten_urls")
    if shorten and service is None:
        raise Invalid("shorten_urls: needs messaging_service_sid (Twilio shortens links through a Messaging Service)")
    send_as_mms = _flag(data, "send_as_mms")
    if send_as_mms is not None and whatsapp:
        raise Invalid("send_as_mms: only for SMS/MMS; a WhatsApp message is never an MMS")
    return OutboundRequest(
        id=request_id, type="sms", to=to, from_=sender, id_given=id_given, body=body, media_url=media_urls,
        messaging_service_sid=service, content_sid=content_sid, content_variables=variables, shorten_urls=shorten,
        smart_encoded=_flag(data, "smart_encoded"), send_as_mms=send_as_mms, max_price=_max_price(data),
        persistent_action=_persistent_action(data, whatsapp=whatsapp),
        validity_period=_integer(data, "validity_period", *VALIDITY_RANGE),
        attempt=_integer(data, "attempt", *ATTEMPT_RANGE),
    )  # fmt: skip


def _message_to(data: Mapping[str, Any], allowed: Allowed) -> str:
    """An E.164 number (SMS), or a `whatsapp:+E.164` address when OUTBOUND_CHANNELS includes whatsapp."""
    value = data.get("to")
    if is_whatsapp(value):
        if "whatsapp" not in allowed.channels:
            raise Invalid("to: a whatsapp: address needs OUTBOUND_CHANNELS to include whatsapp")
        return str(value)
    if isinstance(value, str) and value.lower().startswith("whatsapp:"):
        raise Invalid("to: a WhatsApp address is whatsapp: (lower case) and E.164, e.g. whatsapp:+15558675310")
    to = _e164(data, "to", required=True) or ""
    if "sms" not in allowed.channels:
        raise Invalid("to: SMS to a phone number needs OUTBOUND_CHANNELS to include sms")
    return to


def _message_from(
    data: Mapping[str, Any], to: str, allowed: Allowed, *, service: str | None, default_from: str | None
) -> str | None:
    """The sender: a number, a WhatsApp address (to a WhatsApp address), or a listed alphanumeric sender ID."""
    value = data.get("from")
    whatsapp = is_whatsapp(to)
    if value is None:
        if service is not None:
            return None  # the Messaging Service picks a sender of the right channel from its pool
        if whatsapp:
            raise Invalid(
                'from: a WhatsApp message needs "from" (your whatsapp:+E.164 sender) or "messaging_service_sid"; '
                "TWILIO_PHONE_NUMBER is an SMS sender"
            )
        if default_from is None:
            raise Invalid("from: missing, and TWILIO_PHONE_NUMBER is not set")
        return default_from
    if whatsapp or is_whatsapp(value):
        if not (whatsapp and is_whatsapp(value)):
            raise Invalid("from: to and from must be of one channel: both whatsapp: addresses, or neither")
        return str(value)
    if isinstance(value, str) and E164.fullmatch(value):
        return value
    if is_alpha_sender(value):
        if value not in allowed.alpha_senders:
            raise Invalid(f"from: the alphanumeric sender {clip(str(value), 11)!r} is not in OUTBOUND_ALPHA_SENDERS")
        if region_of(to) in NO_ALPHA_REGIONS:
            raise Invalid("from: an alphanumeric sender ID cannot send to the US or Canada (Twilio refuses it: 21612)")
        return str(value)
    raise Invalid(
        "from: must be an E.164 phone number such as +15558675310, a whatsapp:+E.164 address (to a WhatsApp address),"
        " or an alphanumeric sender ID listed in OUTBOUND_ALPHA_SENDERS (1-11 of A-Z a-z 0-9, space, + - _ &,"
        " with a letter)"
    )


def _media(data: Mapping[str, Any], *, whatsapp: bool) -> tuple[str, ...]:
    media = data.get("media_url")
    if media is None:
        return ()
    if not isinstance(media, list) or not 1 <= len(media) <= MEDIA_LIMIT:
        raise Invalid(f"media_url: must be a list of 1-{MEDIA_LIMIT} http(s) URLs")
    if not all(isinstance(item, str) and is_http_url(item) for item in media):
        raise Invalid("media_url: every item must be an http(s) URL")
    if whatsapp and len(media) > WHATSAPP_MEDIA:
        raise Invalid(f"media_url: a WhatsApp message carries {WHATSAPP_MEDIA} attachment (WhatsApp drops the rest)")
    return tuple(media)


def _content(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """`content_sid` (HX…) and its `content_variables`: a JSON object of text values, sent as its JSON text."""
    sid = data.get("content_sid")
    if sid is not None and not is_content_sid(sid):
        raise Invalid("content_sid: must be HX followed by 32 hex digits (a Content template)")
    variables = data.get("content_variables")
    if variables is None:
        return sid, None
    if sid is None:
        raise Invalid("content_variables: needs content_sid (Twilio error 21654)")
    if isinstance(variables, binding.JsonText):
        text = str(variables)
        try:
            variables = json.loads(text)
        except (ValueError, RecursionError):
            raise Invalid("content_variables: is not valid JSON") from None
    elif isinstance(variables, dict):
        text = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
    else:
        raise Invalid('content_variables: must be a JSON object of template variables, e.g. {"1": "Ada"}')
    if not isinstance(variables, dict):
        raise Invalid('content_variables: must be a JSON object of template variables, e.g. {"1": "Ada"}')
    if len(variables) > CONTENT_VARIABLES_PAIRS:
        raise Invalid(f"content_variables: at most {CONTENT_VARIABLES_PAIRS} variables")
    if not all(isinstance(value, str) for value in variables.values()):
        raise Invalid("content_variables: every value must be a string (the text put in the template)")
    if len(text.encode("utf-8", errors="replace")) > CONTENT_VARIABLES_BYTES:
        raise Invalid(f"content_variables: longer than {CONTENT_VARIABLES_BYTES // 1024} KiB as JSON")
    return sid, text


def _flag(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise Invalid(f"{key}: must be true or false")
    return value


def _max_price(data: Mapping[str, Any]) -> str | None:
    """The most the message may cost, in US dollars: a positive decimal of at most 4 places (number or string)."""
    value = data.get("max_price")
    if value is None:
        return None
    reason = f'max_price: must be a positive decimal of at most {MAX_PRICE_PLACES} places, e.g. 0.05 or "0.05"'
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(reason)
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):
        raise Invalid(reason)
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise Invalid(reason) from None
    exponent = price.as_tuple().exponent
    if not price.is_finite() or price <= 0 or (isinstance(exponent, int) and -exponent > MAX_PRICE_PLACES):
        raise Invalid(reason)
    return format(price, "f")


def _persistent_action(data: Mapping[str, Any], *, whatsapp: bool) -> tuple[str, ...]:
    """WhatsApp's location pin: `["geo:<latitude>,<longitude>|<label>"]` (the label optional)."""
    actions = data.get("persistent_action")
    if actions is None:
        return ()
    if not isinstance(actions, list) or not 1 <= len(actions) <= PERSISTENT_ACTIONS:
        raise Invalid(f"persistent_action: must be a list of {PERSISTENT_ACTIONS} geo: URI (a location pin)")
    for action in actions:
        found = GEO_ACTION.fullmatch(action) if isinstance(action, str) and len(action) <= URL_LIMIT else None
        if found is None or abs(float(found["lat"])) > 90 or abs(float(found["long"])) > 180:
            raise Invalid("persistent_action: must be geo:<latitude>,<longitude> with an optional |<label>")
    if not whatsapp:
        raise Invalid("persistent_action: only for WhatsApp (a location pin); SMS has no persistent actions")
    return tuple(actions)


def check_twiml(document: str) -> None:
    """TwiML must be well-formed XML with a <Response> root; DTDs and entities are refused outright."""
    lowered = document.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise Invalid("twiml: DTDs and entities are not allowed")
    try:
        root = ET.fromstring(document)  # noqa: S314 (DTDs, hence entities, were refused above)
    except ET.ParseError as error:
        raise Invalid(f"twiml: not well-formed XML ({error})") from None
    if root.tag != "Response":
        raise Invalid("twiml: the root element must be <Response>")


def _e164(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not E164.fullmatch(value):  # ASCII digits, the whole string
        # Programs write this queue: a national number (415-555-1212) would make us guess its country.
        raise Invalid(
            f"{key}: must be an E.164 phone number such as +15558675310 (with + and country code;"
            " the outbound contract does not guess the country of a national number)"
        )
    return value


def _text(data: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{key}: must be a non-empty string")
    if len(value) > limit:
        raise Invalid(f"{key}: longer than {limit} characters")
    return value


def _url(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not is_http_url(value):
        raise Invalid(f"{key}: must be an http(s) URL")
    return value


def _integer(data: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # JSON Schema counts 30.0 as an integer and true as not one; so does this.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{key}: must be a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise Invalid(f"{key}: must be a whole number")
    if not low <= value <= high:
        raise Invalid(f"{key}: must be between {low} and {high}")
    return int(value)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
