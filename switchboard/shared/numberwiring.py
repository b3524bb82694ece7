"""What a Twilio number's configuration should be for this app: pure, standard library only.

`python -m switchboard twilio configure` writes it (run by azd's postprovision hook and by hand), and
`/api/health`'s `twilio_number` check compares the live number with it. Field names are Twilio's
(the IncomingPhoneNumber resource, `/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json`).

The fallback URLs point outside the Function App (infra/: the storage account's static website), so a
caller still hears a message when the app is down; a static website answers GET only, hence the
fallback methods.
"""

from __future__ import annotations

from collections.abc import Mapping

VOICE_PATH = "/api/voice/incoming"
SMS_PATH = "/api/sms/incoming"
STATUS_PATH = "/api/voice/status"
VOICE_FALLBACK_FILE = "voice-fallback.xml"
SMS_FALLBACK_FILE = "sms-fallback.xml"
# Resource field (as the REST API answers) -> the form parameter that sets it.
FIELDS = {
    "voice_url": "VoiceUrl",
    "voice_method": "VoiceMethod",
    "voice_fallback_url": "VoiceFallbackUrl",
    "voice_fallback_method": "VoiceFallbackMethod",
    "status_callback": "StatusCallback",
    "status_callback_method": "StatusCallbackMethod",
    "sms_url": "SmsUrl",
    "sms_method": "SmsMethod",
    "sms_fallback_url": "SmsFallbackUrl",
    "sms_fallback_method": "SmsFallbackMethod",
}
# The fields that say whose number it is: another app's number keeps its own unless the operator says --force.
OWNERSHIP = ("voice_url", "sms_url")


def wanted(public_base_url: str, fallback_base_url: str | None) -> dict[str, str]:
    """Resource field -> value for a number served by the app at `public_base_url`."""
    base = public_base_url.rstrip("/")
    fields = {
        "voice_url": base + VOICE_PATH,
        "voice_method": "POST",
        "status_callback": base + STATUS_PATH,
        "status_callback_method": "POST",
        "sms_url": base + SMS_PATH,
        "sms_method": "POST",
    }
    if fallback_base_url:
        fallback = fallback_base_url.rstrip("/")
        fields |= {
            "voice_fallback_url": f"{fallback}/{VOICE_FALLBACK_FILE}",
            "voice_fallback_method": "GET",
            "sms_fallback_url": f"{fallback}/{SMS_FALLBACK_FILE}",
            "sms_fallback_method": "GET",
        }
    return fields


def differences(live: Mapping[str, object], want: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Field -> (live value, wanted value) for each field that differs (methods compared case-blind)."""
    changed = {}
    for field, value in want.items():
        current = str(live.get(field) or "")
        same = current.upper() == value.upper() if field.endswith("_method") else current == value
        if not same:
            changed[field] = (current, value)
    return changed


def points_elsewhere(live: Mapping[str, object], want: Mapping[str, str]) -> list[str]:
    """The ownership fields that are set, to something other than this app: another app's number."""
    return [field for field in OWNERSHIP if live.get(field) and str(live.get(field)) != want[field]]


def form(changes: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The update's form parameters for the changed fields."""
    return {FIELDS[field]: new for field, (_, new) in changes.items()}
