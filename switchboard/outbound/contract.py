"""The outbound message contract: one JSON object per queue message, checked before any money is spent.

`parse` turns raw queue bytes into an `OutboundRequest`, or a `Rejection` that says why not.
It is pure and agrees with `schemas/outbound-message.schema.json` (a test runs both on the
same examples). The schema cannot see two things this module checks: that TwiML parses with
a `<Response>` root, and that a sender exists when "from" is left out.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from switchboard.records.ids import ID_PATTERN
from switchboard.shared.phones import E164
from switchboard.shared.sids import is_messaging_service_sid
from switchboard.shared.text import MEDIA_LIMIT, SAY_LIMIT, SMS_LIMIT, TWIML_LIMIT, clip
from switchboard.shared.urls import is_http_url

LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")

VOICE_LIMIT = 64
TIMEOUT_RANGE = (1, 600)
RAW_LIMIT = 2000  # how much of a refused message's text is kept in its record

CALL_CONTENT = ("say", "play", "twiml", "url")
COMMON_FIELDS = frozenset({"type", "id", "to", "from"})
CALL_FIELDS = COMMON_FIELDS | {*CALL_CONTENT, "voice", "language", "timeout", "machine_detection", "record"}
SMS_FIELDS = COMMON_FIELDS | {"body", "media_url", "messaging_service_sid"}

Kind = Literal["call", "sms"]


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

    def summary(self) -> dict[str, Any]:
        """The request as it is kept in its record (what was asked, not how it was sent)."""
        keys: tuple[str, ...] = ("say", "play", "twiml", "url", "voice", "language", "timeout")
        keys += ("machine_detection", "record", "body", "messaging_service_sid")
        out: dict[str, Any] = {"type": self.type, "to": self.to, "from": self.from_}
        out |= {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
        if self.media_url:
            out["media_url"] = list(self.media_url)
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


def parse(raw: bytes | str, *, default_id: str, default_from: str | None = None) -> OutboundRequest | Rejection:
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
    given_id = data.get("id")
    usable_id = given_id if isinstance(given_id, str) and ID_PATTERN.fullmatch(given_id) else None
    try:
        return validate(data, default_id=default_id, default_from=default_from)
    except Invalid as error:
        return Rejection(
            usable_id or default_id,
            str(error),
            kept,
            type=_str_or_none(data.get("type")),
            to=_str_or_none(data.get("to")),
            from_=_str_or_none(data.get("from")),
            id_given=usable_id is not None,
        )


def validate(data: Mapping[str, Any], *, default_id: str, default_from: str | None = None) -> OutboundRequest:
    """Check a decoded message; raise `Invalid` with the first reason found."""
    kind = data.get("type")
    if kind not in ("call", "sms"):
        raise Invalid('type: must be "call" or "sms"')
    allowed = CALL_FIELDS if kind == "call" else SMS_FIELDS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid(f"unknown field{'s' if len(unknown) > 1 else ''} for a {kind}: {', '.join(unknown)}")
    request_id = data.get("id", default_id)
    if not isinstance(request_id, str) or not ID_PATTERN.fullmatch(request_id):
        raise Invalid("id: must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    to = _e164(data, "to", required=True) or ""
    sender = _e164(data, "from", required=False)
    if kind == "call":
        return _call(data, request_id, id_given="id" in data, to=to, sender=sender or default_from)
    return _sms(data, request_id, id_given="id" in data, to=to, sender=sender, default_from=default_from)


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
    data: Mapping[str, Any], request_id: str, *, id_given: bool, to: str, sender: str | None, default_from: str | None
) -> OutboundRequest:
    body = _text(data, "body", SMS_LIMIT)
    media = data.get("media_url")
    media_urls: tuple[str, ...] = ()
    if media is not None:
        if not isinstance(media, list) or not 1 <= len(media) <= MEDIA_LIMIT:
            raise Invalid(f"media_url: must be a list of 1-{MEDIA_LIMIT} http(s) URLs")
        if not all(isinstance(item, str) and is_http_url(item) for item in media):
            raise Invalid("media_url: every item must be an http(s) URL")
        media_urls = tuple(media)
    if body is None and not media_urls:
        raise Invalid('an sms needs "body" or "media_url"')
    service = data.get("messaging_service_sid")
    if service is not None and not is_messaging_service_sid(service):
        raise Invalid("messaging_service_sid: must be MG followed by 32 hex digits")
    if sender is None and service is None:
        sender = default_from
        if sender is None:
            raise Invalid("from: missing, and TWILIO_PHONE_NUMBER is not set")
    return OutboundRequest(
        id=request_id, type="sms", to=to, from_=sender, id_given=id_given, body=body, media_url=media_urls,
        messaging_service_sid=service,
    )  # fmt: skip


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
