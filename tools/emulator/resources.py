"""Pure: Twilio-shaped resources, errors and the create-request rules (including Twilio's magic test numbers)."""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from switchboard.shared.phones import is_alpha_sender, is_e164, is_whatsapp, number_part, region_of
from switchboard.shared.sids import is_content_sid

API_VERSION = "2010-04-01"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

# Twilio's test-credential magic numbers, mirrored so that code tested here behaves as it would there.
MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number."),
    "+15005550003": (
        21408,
        "Permission to send an SMS or make a call has not been enabled for the region indicated by {to}.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
}
MAGIC_TO_SMS_ONLY = {"+15005550009": (21614, "'To' number is not a valid mobile number")}
MAGIC_FROM = {
    "+15005550001": (
        21212,
        "The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.",
    )
}
MAGIC_FROM_NOT_OWNED = "+15005550007"

# Create parameters a message keeps beyond Twilio's documented JSON: kept on the emulator's resource
# (under these names, for tests to read) and left out of REST answers, which stay Twilio's shape.
# form name -> (resource key, kind)
ECHOED = {
    "ContentSid": ("content_sid", "text"),
    "ContentVariables": ("content_variables", "text"),
    "ShortenUrls": ("shorten_urls", "flag"),
    "SmartEncoded": ("smart_encoded", "flag"),
    "SendAsMms": ("send_as_mms", "flag"),
    "ProvideFeedback": ("provide_feedback", "flag"),
    "MaxPrice": ("max_price", "number"),
    "ValidityPeriod": ("validity_period", "integer"),
    "Attempt": ("attempt", "integer"),
    "PersistentAction": ("persistent_action", "list"),
    "ScheduleType": ("schedule_type", "text"),
    "SendAt": ("send_at", "text"),
}
ECHOED_KEYS = frozenset(key for key, _ in ECHOED.values())
VALIDITY_PERIOD = (1, 36000)
# Message Scheduling (Twilio's error pages 35111, 35114, 35118, 35126): SendAt 900 s to 35 days ahead, inclusive.
SCHEDULE_LEAD = (datetime.timedelta(seconds=900), datetime.timedelta(days=35))
MEDIA_LIMIT = 10
NO_ALPHA_REGIONS = ("US", "CA")


@dataclass(frozen=True)
class TwilioError(Exception):
    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime.datetime | None) -> str | None:
    return format_datetime(moment) if moment else None


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


class SimClock:
    """The emulator's clock: wall time, moved forward by the simulated seconds calls take.

    Calls are walked in simulated time (a `<Pause length="30"/>` takes no real 30 s), so a call's
    `end_time` is `start_time + duration`; the clock is advanced to it before the call reads `completed`,
    so no resource, callback or `Date` header ever shows a moment after the clock's `now()`.
    The clock never goes back; with real-time pacing it simply keeps up with the wall.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._last = 0.0
        self._frozen: float | None = None  # a frozen clock's moment: it moves only by advance_to

    def timestamp(self) -> float:
        with self._lock:
            if self._frozen is not None:
                self._last = max(self._last, self._frozen)
                return self._last
            self._last = max(self._last, time.time() + self._offset)
            return self._last

    def freeze(self, moment: datetime.datetime | None = None) -> None:
        """Stop the clock at `moment` (default: now); only advance_to moves it then. For tests of time."""
        with self._lock:
            target = moment.timestamp() if moment is not None else time.time() + self._offset
            self._frozen = self._last = target  # a frozen clock may be set back: each test picks its moment

    def thaw(self) -> None:
        """Let a frozen clock run again from where it stands."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - time.time()
                self._frozen = None

    def now(self) -> datetime.datetime:
        moment = datetime.datetime.fromtimestamp(self.timestamp(), datetime.timezone.utc)
        return moment.replace(microsecond=0)

    def advance_to(self, moment: datetime.datetime) -> None:
        """Move the clock forward to `moment` (a moment already passed changes nothing)."""
        target = moment.timestamp()
        with self._lock:
            if self._frozen is not None:
                self._frozen = max(self._frozen, target)
                return
            current = time.time() + self._offset
            if target > current:
                self._offset += target - current

    @property
    def ahead_seconds(self) -> float:
        """How far the clock runs ahead of the wall: the simulated time not yet played in real time."""
        with self._lock:
            return self._offset


# GSM 03.38: the basic set (1 septet) and the extension table (escape + 1: 2 septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """Segments an SMS body needs, as carriers count them (Twilio's Smart Encoding off).

    GSM-7 when every character is in GSM 03.38: 160 septets in one segment, else 153 per segment, an
    extension character taking 2 septets and never split across segments. Otherwise UCS-2: 70 UTF-16
    units in one segment, else 67 per segment, a surrogate pair never split.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        units = [2 if c in GSM7_EXTENSION else 1 for c in body]
        single, multi = 160, 153
    else:
        units = [len(c.encode("utf-16-le")) // 2 for c in body]
        single, multi = 70, 67
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return segments


def rfc2822_to_datetime(value: str | None) -> datetime.datetime | None:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value) if value else None


def list_filter_value(name: str, value: str) -> tuple[datetime.datetime, bool]:
    """A list filter's date (`YYYY-MM-DD`, UTC) or date-time (ISO 8601); True when it is a whole day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc), True
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TwilioError(
            400, 20001, f"Invalid {name}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment, False


def matches_time(moment: datetime.datetime | None, operator: str, bound: datetime.datetime, whole_day: bool) -> bool:
    """Twilio's date filters: `X=<date>` on that UTC day, `X>` on or after, `X<` on or before the moment given.

    A date alone means midnight (UTC) of that date, as Twilio's reference says ("StartTime<=YYYY-MM-DD: calls
    that started on or before midnight of this date"); the SDKs send dates as `YYYY-MM-DDT00:00:00Z`.
    On the wire, `StartTime>=2026-01-31` is the parameter `StartTime>` with the value `2026-01-31`, so `>`
    and `>=` are one filter, as are `<` and `<=`.
    """
    if moment is None:
        return False
    moment = moment.astimezone(datetime.timezone.utc)
    if operator == ">":
        return moment >= bound
    if operator == "<":
        return moment <= bound
    if whole_day or bound.time() == datetime.time(0):  # a date, or a date the SDK sent as its midnight
        return moment.date() == bound.date()
    return moment == bound


def _destination_ok(value: str) -> bool:
    return is_e164(value) or value.startswith(("client:", "sip:"))


def _message_destination_ok(value: str) -> bool:
    return is_e164(value) or is_whatsapp(value)


def check_call(form: dict[str, list[str]]) -> None:
    to, from_ = _one(form, "To"), _one(form, "From")
    if not to:
        raise TwilioError(400, 21201, "No 'To' number is specified")
    if not from_:
        raise TwilioError(400, 21213, "No 'From' number is specified")
    _check_numbers(to, from_, sms=False)
    if not (_one(form, "Url") or _one(form, "Twiml") or _one(form, "ApplicationSid")):
        raise TwilioError(400, 21205, "Url parameter is required.")
    url = _one(form, "Url")
    if url and not url.lower().startswith(("http://", "https://")):
        raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")


def check_message(form: dict[str, list[str]]) -> None:
    to, from_ = _one(form, "To"), _one(form, "From")
    if not to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not from_ and not _one(form, "MessagingServiceSid"):
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    _check_numbers(to, from_, sms=True)
    _check_channels(to, from_)
    body = _one(form, "Body") or ""
    media = form.get("MediaUrl", []) + form.get("MediaUrl[]", [])
    content_sid, variables = _one(form, "ContentSid"), _one(form, "ContentVariables")
    if content_sid is not None and not is_content_sid(content_sid):
        raise TwilioError(400, 21655, "The ContentSid is Invalid.")
    if variables is not None and content_sid is None:
        raise TwilioError(400, 21654, "A ContentSid must be specified if ContentVariables are provided.")
    if variables is not None and not _json_object(variables):
        raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid.")
    if not body and not media and not content_sid:
        raise TwilioError(400, 21602, "Message body is required.")
    if content_sid and (body or media):
        raise TwilioError(400, 20001, "Body and MediaUrl cannot be sent with a ContentSid: the template carries them.")
    if len(body) > 1600:
        raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media) > MEDIA_LIMIT:
        raise TwilioError(400, 21623, "Number of media files exceeds allowed limit.")
    _check_options(form)


def _check_channels(to: str, from_: str | None) -> None:
    """A WhatsApp address only with a WhatsApp address; an alphanumeric sender never to the US or Canada."""
    if from_ is not None and is_whatsapp(to) != is_whatsapp(from_):
        raise TwilioError(400, 21910, "Invalid From and To pair. From and To should be of the same channel.")
    if from_ is not None and is_alpha_sender(from_) and region_of(number_part(to) or to) in NO_ALPHA_REGIONS:
        raise TwilioError(
            400, 21612, f"The 'To' phone number: {to}, is not currently reachable using the 'From' phone number."
        )


def _check_options(form: dict[str, list[str]]) -> None:
    """The message options' types and ranges, as the OpenAPI description gives them."""
    for name, (_, kind) in ECHOED.items():
        value = _one(form, name)
        if value is None or kind in ("text", "list"):
            continue
        if kind == "flag" and value not in ("true", "false"):
            raise TwilioError(400, 20001, f"Invalid {name}: {value!r} is not true or false")
        if kind == "integer" and not value.lstrip("-").isdigit():
            raise TwilioError(400, 20001, f"Invalid {name}: {value!r} is not an integer")
        if kind == "number" and _number(value) is None:
            raise TwilioError(400, 20001, f"Invalid {name}: {value!r} is not a number")
    period = _one(form, "ValidityPeriod")
    if period is not None and not VALIDITY_PERIOD[0] <= int(period) <= VALIDITY_PERIOD[1]:
        raise TwilioError(400, 90007, f"Invalid validity period value: must be from 1 to 36000, not {period}")
    if _one(form, "ShortenUrls") == "true" and not _one(form, "MessagingServiceSid"):
        raise TwilioError(400, 20001, "ShortenUrls needs a MessagingServiceSid (link shortening is a service feature)")


def check_schedule(form: dict[str, list[str]], now: datetime.datetime) -> datetime.datetime | None:
    """`ScheduleType=fixed` with `SendAt`, as Twilio takes them: the moment to send, or None when not scheduled.

    Twilio's rules: ScheduleType is `fixed` (35126), it needs SendAt (35111) and a Messaging Service
    (35118), and SendAt is an ISO 8601 time 900 s to 35 days ahead, inclusive (35114). SendAt without
    ScheduleType does not schedule anything (Twilio's docs name no error for it; the emulator ignores it).
    """
    kind, send_at = _one(form, "ScheduleType"), _one(form, "SendAt")
    if kind is None:
        return None
    if kind != "fixed":
        raise TwilioError(400, 35126, "The ScheduleType value provided is not supported for this channel")
    if not send_at:
        raise TwilioError(400, 35111, "SendAt timestamp is missing")
    if not _one(form, "MessagingServiceSid"):
        raise TwilioError(400, 35118, "MessagingServiceSid is required to schedule a message")
    try:
        moment = datetime.datetime.fromisoformat(send_at.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not SCHEDULE_LEAD[0] <= moment - now <= SCHEDULE_LEAD[1]:
        raise TwilioError(
            400, 35114, "Scheduling does not support this timestamp: SendAt must be 900 seconds to 35 days ahead"
        )
    return moment


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_numbers(to: str, from_: str | None, *, sms: bool) -> None:
    if to in MAGIC_TO:
        code, text = MAGIC_TO[to]
        raise TwilioError(400, code, text.format(to=to))
    if sms and to in MAGIC_TO_SMS_ONLY:
        code, text = MAGIC_TO_SMS_ONLY[to]
        raise TwilioError(400, code, text.format(to=to))
    if not (_message_destination_ok(to) if sms else _destination_ok(to)):
        raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if from_ is None:
        return
    if from_ in MAGIC_FROM:
        code, text = MAGIC_FROM[from_]
        raise TwilioError(400, code, text.format(from_=from_))
    if from_ == MAGIC_FROM_NOT_OWNED:
        if sms:
            raise TwilioError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone number for your account.",
            )
        raise TwilioError(
            400, 21210, f"The source phone number provided, {from_}, is not yet verified for your account."
        )
    short_code = from_.isascii() and from_.isdigit() and len(from_) <= 11
    sender = is_whatsapp(from_) or is_alpha_sender(from_) or short_code
    if not (is_e164(from_) or from_.startswith("client:") or (sms and sender)):
        raise TwilioError(
            400, 21212, f"The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID."
        )


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def account_resource(account_sid: str, created: datetime.datetime) -> dict[str, Any]:
    """The Account, as `GET /2010-04-01/Accounts/{Sid}.json` answers it (the cheapest authenticated read)."""
    base = f"/{API_VERSION}/Accounts/{account_sid}"
    subresources = {"calls": "Calls", "messages": "Messages", "recordings": "Recordings", "keys": "Keys",
                    "incoming_phone_numbers": "IncomingPhoneNumbers", "applications": "Applications"}  # fmt: skip
    return {
        # Twilio returns the account's auth token here; the emulator never echoes a secret.
        "auth_token": None, "date_created": rfc2822(created), "date_updated": rfc2822(created),
        "friendly_name": "Switchboard emulator", "owner_account_sid": account_sid, "sid": account_sid,
        "status": "active", "type": "Full", "uri": base + ".json",
        "subresource_uris": {name: f"{base}/{path}.json" for name, path in subresources.items()},
    }  # fmt: skip


def call_resource(account_sid: str, sid: str, form: dict[str, list[str]], created: datetime.datetime) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{sid}"
    to, from_ = _one(form, "To") or "", _one(form, "From") or ""
    return {
        "sid": sid, "date_created": rfc2822(created), "date_updated": rfc2822(created), "parent_call_sid": None,
        "account_sid": account_sid, "to": to, "to_formatted": to, "from": from_, "from_formatted": from_,
        "phone_number_sid": None, "status": "queued", "start_time": None, "end_time": None, "duration": None,
        "price": None, "price_unit": "USD", "direction": "outbound-api", "answered_by": None,
        "api_version": API_VERSION, "forwarded_from": None, "group_sid": None, "caller_name": None,
        "queue_time": "0", "trunk_sid": None, "uri": base + ".json",
        "subresource_uris": {
            "notifications": base + "/Notifications.json", "recordings": base + "/Recordings.json",
            "payments": base + "/Payments.json", "events": base + "/Events.json",
            "siprec": base + "/Siprec.json", "streams": base + "/Streams.json",
            "user_defined_message_subscriptions": base + "/UserDefinedMessageSubscriptions.json",
            "user_defined_messages": base + "/UserDefinedMessages.json",
        },
    }  # fmt: skip


def message_resource(
    account_sid: str, sid: str, form: dict[str, list[str]], created: datetime.datetime, *, scheduled: bool = False
) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    body = _one(form, "Body") or ""
    media = form.get("MediaUrl", []) + form.get("MediaUrl[]", [])
    service = _one(form, "MessagingServiceSid")
    return echoed(form) | {
        "body": body, "num_segments": str(num_segments(body) if body else 1),
        "direction": "outbound-api", "from": _one(form, "From"), "to": _one(form, "To"),
        "date_updated": rfc2822(created), "price": None, "error_message": None, "uri": base + ".json",
        "account_sid": account_sid, "num_media": str(len(media)),
        "status": "scheduled" if scheduled else "accepted" if service else "queued",
        "messaging_service_sid": service, "sid": sid, "date_sent": None, "date_created": rfc2822(created),
        "error_code": None, "price_unit": "USD", "api_version": API_VERSION,
        "subresource_uris": {"media": base + "/Media.json", "feedback": base + "/Feedback.json"},
    }  # fmt: skip


def echoed(form: dict[str, list[str]]) -> dict[str, Any]:
    """The message options the create was given, typed: what the emulator's resource echoes of them."""
    kept: dict[str, Any] = {}
    for name, (key, kind) in ECHOED.items():
        values = form.get(name, []) + form.get(name + "[]", [])
        if not values:
            continue
        if kind == "list":
            kept[key] = list(values)
        elif kind == "flag":
            kept[key] = values[0] == "true"
        elif kind == "integer":
            kept[key] = int(values[0])
        else:
            kept[key] = values[0]
    return kept


def public(resource: dict[str, Any]) -> dict[str, Any]:
    """A message resource as Twilio's REST API answers it: without the echoed options."""
    return {key: value for key, value in resource.items() if key not in ECHOED_KEYS}
