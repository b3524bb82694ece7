"""Pure: the Azure Functions Twilio binding's message JSON (`"format": "twilio-binding"`), mapped onto the contract.

Apps that used the `TwilioSms` output binding (Microsoft.Azure.WebJobs.Extensions.Twilio) hand it a
JSON object that its converter turns into the Twilio SDK's `CreateMessageOptions`. That converter
is mirrored here, so the same objects land on the `outbound` queue unchanged but for
`"format": "twilio-binding"` (and, best, an `"id"`):

- option names are its camelCase names (`to`, `from`, `body`, `mediaUrl`, `messagingServiceSid`,
  `validityPeriod`, `maxPrice`, `attempt`, `smartEncoded`, `shortenUrls`, `sendAsMms`, `contentSid`,
  `contentVariables`, `persistentAction`, ...), matched ignoring case, the exact spelling first, as
  its `JObject.TryGetValue(name, OrdinalIgnoreCase)` does;
- values convert as `JToken.Value<T>()` converts them: a number or a numeric string for a number,
  `true`/`false` (any case) or a number for a flag, a string (or a number's text) for text, an
  array for `mediaUrl` and `persistentAction`, and `contentVariables` as a string of JSON;
- `null`, and an empty string, mean "not given", as they do there.

Where Switchboard deliberately differs, a message is refused with the reason rather than sent
differently: an option Switchboard does not carry (`statusCallback`: the app sets its own, and the
statuses are in its records), an unknown name (the converter would drop it silently), a name given
twice in different cases, and a fractional whole number (the converter would round it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

FORMAT = "twilio-binding"
OWN_FIELDS = ("format", "id")  # Switchboard's own keys, spelt exactly

# The converter's option name -> the contract field it becomes, with how its value converts.
MAPPED: dict[str, tuple[str, str]] = {
    "to": ("to", "text"),
    "from": ("from", "text"),
    "body": ("body", "text"),
    "mediaUrl": ("media_url", "list"),
    "messagingServiceSid": ("messaging_service_sid", "text"),
    "validityPeriod": ("validity_period", "whole"),
    "maxPrice": ("max_price", "decimal"),
    "attempt": ("attempt", "whole"),
    "smartEncoded": ("smart_encoded", "flag"),
    "shortenUrls": ("shorten_urls", "flag"),
    "sendAsMms": ("send_as_mms", "flag"),
    "contentSid": ("content_sid", "text"),
    "contentVariables": ("content_variables", "json"),
    "persistentAction": ("persistent_action", "list"),
}
# Twilio's scheduling options: Switchboard holds the message until sendAt itself (docs/outbound.md), so
# neither reaches Twilio; sendAt becomes the contract's send_at.
SCHEDULE_TYPES = ("fixed",)  # Twilio's only ScheduleType
_STATUSES = "Switchboard keeps every status in its records (GET /api/records/{id}: the status and its events)"
# Options the converter reads that Switchboard does not carry, and why.
REFUSED: dict[str, str] = {
    "statusCallback": f"not supported: Switchboard points Twilio's StatusCallback at its own signed route; {_STATUSES}",
    "applicationSid": f"not supported: a TwiML App's status callback would take the statuses away; {_STATUSES}",
    "forceDelivery": "not supported: Twilio documents it as reserved",
    "provideFeedback": "not supported: nothing in Switchboard posts Message Feedback to Twilio",
    "pathAccountSid": "not supported: messages are sent from the app's own account (TWILIO_ACCOUNT_SID)",
    "contentRetention": "not supported: Switchboard's records keep what was sent (see RETENTION_DAYS and erasure)",
    "addressRetention": "not supported: Switchboard's records keep the numbers (see RETENTION_DAYS and erasure)",
}
NAMES = (*MAPPED, *REFUSED, "sendAt", "scheduleType")
_WHOLE = re.compile(r"\s*[+-]?[0-9]+\s*")  # Int32.Parse with the invariant culture
_DECIMAL = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")
_INT32 = (-(2**31), 2**31 - 1)


class NotConvertible(ValueError):
    """The binding's JSON cannot become a contract message; the text is the reason."""


class JsonText(str):
    """`contentVariables` as the producer wrote it: the contract checks it and sends this very text."""


def is_binding(data: Mapping[str, Any]) -> bool:
    return data.get("format") == FORMAT


def field_name(data: Mapping[str, Any], contract_field: str) -> str:
    """The key the producer used for a contract field (for reasons), e.g. `validityPeriod`."""
    if contract_field == "send_at":
        return lookup_key(data, "sendAt") or "sendAt"
    for name, (target, _) in MAPPED.items():
        if target == contract_field:
            return lookup_key(data, name) or name
    return contract_field


def lookup_key(data: Mapping[str, Any], name: str) -> str | None:
    """The key the converter reads for `name`: the exact spelling, else the first that equals it ignoring case."""
    if name in data:
        return name
    wanted = name.upper()
    return next((key for key in data if isinstance(key, str) and key.upper() == wanted), None)


def lookup(data: Mapping[str, Any], name: str) -> Any:
    key = lookup_key(data, name)
    return None if key is None else data[key]


def to_contract(data: Mapping[str, Any]) -> dict[str, Any]:
    """The contract message (`type` sms) for a binding message; raises NotConvertible with the reason."""
    _check_names(data)
    message: dict[str, Any] = {"type": "sms"}
    if "id" in data:
        message["id"] = data["id"]
    for name, reason in REFUSED.items():
        if _given(lookup(data, name)):
            raise NotConvertible(f"{lookup_key(data, name)}: {reason}")
    for name, (target, kind) in MAPPED.items():
        value = lookup(data, name)
        if _given(value):
            message[target] = _convert(lookup_key(data, name) or name, value, kind)
    _check_schedule(data)
    if _given(send_at := lookup(data, "sendAt")):
        message["send_at"] = _convert(lookup_key(data, "sendAt") or "sendAt", send_at, "text")
    return message


def _check_schedule(data: Mapping[str, Any]) -> None:
    """`scheduleType` is `fixed` and comes with `sendAt`, as Twilio wants them (35111, 35126); sendAt alone is fine."""
    kind = lookup(data, "scheduleType")
    if not _given(kind):
        return
    key = lookup_key(data, "scheduleType")
    if not isinstance(kind, str) or kind.strip().lower() not in SCHEDULE_TYPES:
        raise NotConvertible(f"{key}: must be fixed, Twilio's only schedule type")
    if not _given(lookup(data, "sendAt")):
        raise NotConvertible(f"{key}: needs sendAt, the time to send at")


def _check_names(data: Mapping[str, Any]) -> None:
    wanted = {name.upper(): name for name in NAMES}
    unknown = sorted(str(key) for key in data if key not in OWN_FIELDS and str(key).upper() not in wanted)
    if unknown:
        raise NotConvertible(
            f"unknown field{'s' if len(unknown) > 1 else ''} for the {FORMAT} format: {', '.join(unknown)} "
            "(the binding would have ignored them; Switchboard refuses what it would not send)"
        )
    seen: dict[str, str] = {}
    for key in data:
        if key in OWN_FIELDS:
            continue
        canonical = wanted[str(key).upper()]
        if canonical in seen:
            raise NotConvertible(f"{canonical}: given twice ({seen[canonical]}, {key}); give it once")
        seen[canonical] = str(key)


def _given(value: Any) -> bool:
    return value is not None and value != ""


def _convert(key: str, value: Any, kind: str) -> Any:
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise NotConvertible(f"{key}: must be a string")
        return value if isinstance(value, str) else str(value)
    if kind == "flag":
        return _flag(key, value)
    if kind == "whole":
        return _whole(key, value)
    if kind == "decimal":
        return _decimal(key, value)
    if kind == "json":
        if not isinstance(value, str):
            example = '"{\\"1\\":\\"Ada\\"}"'
            raise NotConvertible(f"{key}: must be a string of JSON, as the binding sends it (e.g. {example})")
        return JsonText(value)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise NotConvertible(f"{key}: must be an array of strings")
    return list(value)


def _flag(key: str, value: Any) -> bool:
    """Boolean.Parse for text (trimmed, any case); a number is true unless it is zero, as Convert.ToBoolean says."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise NotConvertible(f"{key}: must be true or false")


def _whole(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise NotConvertible(f"{key}: must be a whole number")
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise NotConvertible(f"{key}: must be a whole number")
    if not _INT32[0] <= number <= _INT32[1]:
        raise NotConvertible(f"{key}: must be a whole number that fits in 32 bits")
    return number


def _decimal(key: str, value: Any) -> str:
    """A decimal as its text: `0.05` and `"0.050"` stay `0.05` and `0.050`, as .NET's decimal keeps its scale."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NotConvertible(f"{key}: must be a decimal number")
    text = value.strip() if isinstance(value, str) else repr(value)
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise NotConvertible(f"{key}: must be a decimal number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise NotConvertible(f"{key}: must be a decimal number") from None
    if not number.is_finite():
        raise NotConvertible(f"{key}: must be a decimal number")
    return format(number, "f")
