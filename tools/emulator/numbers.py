"""The IncomingPhoneNumber resource: a number's webhooks, status callback and fallbacks, read and updated over REST.

`GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…` lists, and
`GET`/`POST …/IncomingPhoneNumbers/{Sid}.json` fetch and update one, with Twilio's field names (its
OpenAPI description: `api.v2010.account.incoming_phone_number`). What a number is configured with is
what `ring` and `text` (tools/emulator/inbound.py) use, fallbacks included.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any
from urllib.parse import urlencode

from tools.emulator.resources import API_VERSION, TwilioError, new_sid, rfc2822

# Form parameter -> resource field, for the fields an update may set.
UPDATABLE = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
}
METHODS = frozenset({"GET", "POST"})


class PhoneNumbers:
    """The account's numbers, by SID."""

    def __init__(self, account_sid: str) -> None:
        self.account_sid = account_sid
        self._lock = threading.Lock()
        self._numbers: dict[str, dict[str, Any]] = {}

    def add(self, phone_number: str, **fields: str) -> dict[str, Any]:
        """A number bought on the account: no webhooks until configured (Twilio's demo URL aside)."""
        now = datetime.datetime.now(datetime.UTC)
        sid = new_sid("PN")
        resource: dict[str, Any] = {
            "account_sid": self.account_sid, "address_sid": None, "address_requirements": "none",
            "api_version": API_VERSION, "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": rfc2822(now), "date_updated": rfc2822(now), "friendly_name": phone_number,
            "identity_sid": None, "phone_number": phone_number, "origin": "twilio", "sid": sid,
            "sms_application_sid": "", "sms_fallback_method": "POST", "sms_fallback_url": "", "sms_method": "POST",
            "sms_url": "", "status_callback": "", "status_callback_method": "POST", "trunk_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            "voice_receive_mode": "voice", "voice_application_sid": None, "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST", "voice_fallback_url": None, "voice_method": "POST", "voice_url": None,
            "emergency_status": "Inactive", "emergency_address_sid": None, "emergency_address_status": "unregistered",
            "bundle_sid": None, "status": "in-use", "type": "local",
        }  # fmt: skip
        resource |= fields
        with self._lock:
            self._numbers[sid] = resource
        return dict(resource)

    def get(self, sid: str) -> dict[str, Any]:
        with self._lock:
            found = self._numbers.get(sid)
        if found is None:
            raise TwilioError(404, 20404, f"The requested resource IncomingPhoneNumbers/{sid}.json was not found")
        return dict(found)

    def by_number(self, phone_number: str) -> dict[str, Any] | None:
        with self._lock:
            return next((dict(n) for n in self._numbers.values() if n["phone_number"] == phone_number), None)

    def update(self, sid: str, form: dict[str, list[str]]) -> dict[str, Any]:
        unknown = sorted(set(form) - set(UPDATABLE))
        if unknown:
            raise TwilioError(400, 20001, f"Unknown parameter {unknown[0]}")
        for name, values in form.items():
            value = values[-1]
            if name.endswith("Method") and value.upper() not in METHODS:
                raise TwilioError(400, 21220, f"{name} must be GET or POST")
            if name.endswith(("Url", "Callback")) and value and not value.startswith(("http://", "https://")):
                raise TwilioError(400, 21502, f"{name} is not a valid URL: {value}")
        with self._lock:
            resource = self._numbers.get(sid)
            if resource is None:
                raise TwilioError(404, 20404, f"The requested resource IncomingPhoneNumbers/{sid}.json was not found")
            for name, values in form.items():
                value = values[-1]
                resource[UPDATABLE[name]] = value.upper() if name.endswith("Method") else value
            resource["date_updated"] = rfc2822(datetime.datetime.now(datetime.UTC))
            return dict(resource)

    def page(self, query: dict[str, str], path: str) -> dict[str, Any]:
        """One page, filtered by PhoneNumber (exact) and FriendlyName as Twilio filters them."""
        size = max(1, min(1000, int(query.get("PageSize", "50") or 50)))
        with self._lock:
            items = [
                dict(n)
                for n in self._numbers.values()
                if query.get("PhoneNumber") in (None, n["phone_number"])
                and query.get("FriendlyName") in (None, n["friendly_name"])
            ]
        chunk = items[:size]
        base = {k: v for k, v in query.items() if k not in ("Page", "PageToken")} | {"PageSize": str(size)}
        first = f"{path}?{urlencode(base | {'Page': '0'})}"
        return {
            "incoming_phone_numbers": chunk, "end": max(len(chunk) - 1, 0), "first_page_uri": first,
            "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None, "start": 0, "uri": first,
        }  # fmt: skip
