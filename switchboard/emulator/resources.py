"""Pure: Twilio-shaped resources, errors and the create-request rules (including Twilio's magic test numbers)."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from switchboard.phones import is_e164

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


def _destination_ok(value: str) -> bool:
    return is_e164(value) or value.startswith(("client:", "sip:"))


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
    body = _one(form, "Body") or ""
    media = form.get("MediaUrl", []) + form.get("MediaUrl[]", [])
    if not body and not media:
        raise TwilioError(400, 21602, "Message body is required.")
    if len(body) > 1600:
        raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")


def _check_numbers(to: str, from_: str | None, *, sms: bool) -> None:
    if to in MAGIC_TO:
        code, text = MAGIC_TO[to]
        raise TwilioError(400, code, text.format(to=to))
    if sms and to in MAGIC_TO_SMS_ONLY:
        code, text = MAGIC_TO_SMS_ONLY[to]
        raise TwilioError(400, code, text.format(to=to))
    if not _destination_ok(to):
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
    if not (is_e164(from_) or from_.startswith("client:") or (sms and from_.isalnum() and len(from_) <= 11)):
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
    account_sid: str, sid: str, form: dict[str, list[str]], created: datetime.datetime
) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}"
    body = _one(form, "Body") or ""
    media = form.get("MediaUrl", []) + form.get("MediaUrl[]", [])
    service = _one(form, "MessagingServiceSid")
    return {
        "body": body, "num_segments": str(max(1, -(-len(body) // 153) if len(body) > 160 else 1)),
        "direction": "outbound-api", "from": _one(form, "From"), "to": _one(form, "To"),
        "date_updated": rfc2822(created), "price": None, "error_message": None, "uri": base + ".json",
        "account_sid": account_sid, "num_media": str(len(media)), "status": "accepted" if service else "queued",
        "messaging_service_sid": service, "sid": sid, "date_sent": None, "date_created": rfc2822(created),
        "error_code": None, "price_unit": "USD", "api_version": API_VERSION,
        "subresource_uris": {"media": base + "/Media.json", "feedback": base + "/Feedback.json"},
    }  # fmt: skip
