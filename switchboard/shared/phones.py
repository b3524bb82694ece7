"""Phone numbers: parsing to E.164 (through Google's libphonenumber data), checks, masking for logs,
and where a number is and whether it costs extra (premium-rate, shared-cost) for the dial policies.
Also the other message addresses Twilio takes in `To`/`From`: a WhatsApp address (`whatsapp:+E.164`),
an RCS user's (`rcs:+E.164`) and an alphanumeric sender ID; `number_part` is the number a policy, an opt-out
or an index row keys on.

Twimlet URLs and settings are written by people: `415-555-1212`, `(415) 555-1212`, `0044 20 7946 0000`,
`+31 20 123 4567`. `to_e164` turns each into E.164 with `DEFAULT_COUNTRY` for numbers without a country
code, as twimlets.com did for US numbers. Machines (the outbound queue) must write E.164 themselves:
`is_e164` is the strict check for them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# ASCII digits only, and no trailing newline (`$` would allow one): match with fullmatch.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
E164_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")  # how an E.164 number starts: "+1", "+31", "+1555"
# Twilio's channel address for WhatsApp: the prefix (lower case, as Twilio writes it), then E.164.
WHATSAPP_PREFIX = "whatsapp:"
WHATSAPP = re.compile(r"whatsapp:\+[1-9][0-9]{1,14}")
# Twilio's channel address for an RCS user (an agent is `rcs:<agent id>`, no number): the prefix, then E.164.
RCS_PREFIX = "rcs:"
RCS = re.compile(r"rcs:\+[1-9][0-9]{1,14}")
# An alphanumeric sender ID as Twilio documents it: 1-11 of A-Z a-z 0-9, space, + - _ &, at least one letter.
ALPHA_SENDER = re.compile(r"(?=[A-Za-z0-9 +\-_&]*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}")
# Numbers as they show up in free text: every run of 7-15 digits, with or without "+", or after a
# URL escape (`%2B`, `%252B` double-encoded, `%3D`...). Not masked, so ids and times stay readable:
# runs glued to letters or other digits (SIDs, hex ids, 16-digit row keys), and decimals (`0.1234567`).
# Knowingly masked too: bare epoch seconds and all-digit GUID groups; a masked id costs less than a leaked number.
_NUMBER_IN_TEXT = re.compile(
    # after a URL escape (single or double-encoded), or not glued to a word
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<=%25[0-9A-Fa-f]{2})|(?<![0-9A-Za-z_]))(?<!\d\.)"
    r"\d{7,15}"
    r"(?![0-9A-Za-z_])(?!\.\d)"
)
# What a person may type around a number; anything else (letters, "tel:", SIP) is not a phone number here.
_WRITTEN = re.compile(r"[0-9+()\-.\s/]{2,40}")
DEFAULT_COUNTRY = "US"

# Numbers written with separators: "+1 555-867-5310", "+44 (20) 7946 0000" (after a "+"), and the
# North American "(555) 867-5310" / "555.867.5310". Dates and times (2026-12-01, 20:08:01) are neither.
# Every group is separator-led, so a long digit run cannot make the pattern backtrack.
SEPARATED_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_])(?:"
    r"\+[1-9][0-9]{0,14}(?:[ -]\(?[0-9]{1,14}\)?){1,7}"
    r"|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4}"
    r")(?![0-9A-Za-z_])"
)


def is_e164(value: object) -> bool:
    return isinstance(value, str) and bool(E164.fullmatch(value))


def is_whatsapp(value: object) -> bool:
    """`whatsapp:+15558675310`: a WhatsApp address, its number in E.164 (the whole value)."""
    return isinstance(value, str) and bool(WHATSAPP.fullmatch(value))


def is_alpha_sender(value: object) -> bool:
    """An alphanumeric sender ID (`ACME`, `Owl Air`): never a number, so never dialled or texted back."""
    return isinstance(value, str) and bool(ALPHA_SENDER.fullmatch(value))


def is_replyable(sender: object) -> bool:
    """May an automatic reply go back to this `From`? A long number (or its WhatsApp address) only: a short code
    or an alphanumeric sender is a machine (a bank, a carrier, another auto-responder) that never reads one."""
    number = number_part(sender)
    if number is None:
        return False  # a short code comes as bare digits (`22395`), an alphanumeric sender as its name
    return _possible(number)


@lru_cache(maxsize=4096)
def _possible(number: str) -> bool:
    # Asked twice per inbound SMS (the throttle, then the reply), and senders repeat: phonenumbers' check once.
    import phonenumbers

    parsed = _parsed(number)
    return parsed is not None and bool(phonenumbers.is_possible_number(parsed))


def number_part(address: object) -> str | None:
    """The E.164 number of a message address: itself, or the number of a WhatsApp or RCS address; else None.

    The destination policy, opt-outs and the records' number index all key on it, so that one
    person's number is one person whatever the channel (erasure by number finds them all).
    """
    if is_e164(address):
        return str(address)
    if is_whatsapp(address):
        return str(address)[len(WHATSAPP_PREFIX) :]
    if isinstance(address, str) and RCS.fullmatch(address):
        return address[len(RCS_PREFIX) :]
    return None


def channel_of(address: object) -> str | None:
    """`whatsapp` for a WhatsApp address, `sms` for an E.164 number, None for anything else."""
    if is_whatsapp(address):
        return "whatsapp"
    return "sms" if is_e164(address) else None


def whatsapp_address(number: str) -> str:
    return WHATSAPP_PREFIX + number


def to_e164(value: object, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """`415-555-1212` -> `+14155551212` (with the default country); None when it is not a phone number.

    E.164 input is returned as is without loading the library (the common, cold-start-sensitive case).
    Numbers are checked as *possible* (right length for their country; NXX-NXX-XXXX in North America),
    not *valid*: libphonenumber does not know every range a carrier hands out, and Twilio's documented
    examples use the fictional 555 area code (`555-867-5309`).
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if is_e164(text):
        return text
    if not _WRITTEN.fullmatch(text) or not any(c.isdigit() for c in text):
        return None
    import phonenumbers  # deferred: its metadata costs cold start, and most numbers are E.164 already

    if text.startswith("00"):
        text = "+" + text[2:]  # the international prefix of most of the world, whatever the default country
    try:
        number = phonenumbers.parse(text, default_country.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number) or not _nanp_shape(number):
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if is_e164(formatted) else None


def _nanp_shape(number: object) -> bool:
    """North American numbers are NXX-NXX-XXXX: area code and exchange never start with 0 or 1.

    (`0612345678` read as a US number is someone's mistake, not a US number.)
    """
    national = str(getattr(number, "national_number", ""))
    if getattr(number, "country_code", None) != 1:
        return True
    return len(national) == 10 and national[0] not in "01" and national[3] not in "01"


def national_digits(number: str, default_country: str = DEFAULT_COUNTRY) -> str:
    """The digits a person in `default_country` would dial: the national number at home, else all digits."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, default_country.upper())
    except phonenumbers.NumberParseException:
        return "".join(c for c in number if c.isdigit())
    if parsed.country_code == phonenumbers.country_code_for_region(default_country.upper()):
        return phonenumbers.national_significant_number(parsed)
    return f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"


def is_country(code: str) -> bool:
    """An ISO 3166 region libphonenumber knows (`US`, `GB`, `NL`)."""
    import phonenumbers

    return code.upper() in phonenumbers.SUPPORTED_REGIONS


def mask(number: str) -> str:
    """`+15558675310` -> `+1555***5310`: enough to tell numbers apart, not to dial them.

    Shorter numbers show less: at most a quarter of their digits at each end, so at least half is hidden.
    A WhatsApp address keeps its prefix: `whatsapp:+1555***5310`.
    """
    if number.startswith(WHATSAPP_PREFIX):
        return WHATSAPP_PREFIX + mask(number[len(WHATSAPP_PREFIX) :])
    return "+" + _mask_digits(number.lstrip("+"))


def _mask_digits(digits: str) -> str:
    if len(digits) <= 6:
        return "*" * len(digits)
    shown = 4 if len(digits) >= 11 else len(digits) // 4
    return digits[:shown] + "***" + digits[-shown:]


# Identifiers whose digits are not phone numbers: a uuid, a hyphenated [0-9a-f-] or word id with a letter in it
# (`order-12345678`, `t-1234567890abcdef`), and the value of an `id=` / `_id=` / `Id=` field.
IDENTIFIER = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|(?<![0-9A-Za-z_+-])(?=[0-9A-Za-z_-]*[A-Za-z])[0-9A-Za-z_]+(?:-[0-9A-Za-z_]+)+"
    r"|(?<=[Ii]d=)[^\s&,;'\"]+"
)


def identifier_spans(text: str) -> list[tuple[int, int]]:
    """Where `text` holds identifiers (whose digits stay readable in logs)."""
    return [match.span() for match in IDENTIFIER.finditer(text)]


def _outside(spans: list[tuple[int, int]], match: re.Match[str]) -> bool:
    start, end = match.span()
    return not any(low <= start and end <= high for low, high in spans)


def mask_in_text(text: str) -> str:
    """Phone numbers in `text` masked; digits inside identifiers (uuids, `order-12345678`, `id=…`) left alone."""
    spans = identifier_spans(text)
    text = SEPARATED_NUMBER.sub(lambda m: _mask_separated(m) if _outside(spans, m) else m.group(0), text)
    spans = identifier_spans(text)
    return _NUMBER_IN_TEXT.sub(lambda m: _mask_digits(m.group(0)) if _outside(spans, m) else m.group(0), text)


def _mask_separated(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    if not 7 <= len(digits) <= 15:
        return match.group(0)
    return ("+" if match.group(0).startswith("+") else "") + _mask_digits(digits)


# -- where a number is and what it costs (the destination and dial policies) ---------------------------


@lru_cache(maxsize=4096)
def _parsed(number: str) -> Any:
    """phonenumbers' PhoneNumber for an E.164 string, or None."""
    import phonenumbers

    try:
        return phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=4096)
def region_of(number: str) -> str | None:
    """The ISO country of an E.164 number; for a number phonenumbers cannot place, its calling code's main country."""
    import phonenumbers

    parsed = _parsed(number)
    if parsed is None:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if region is not None or phonenumbers.is_valid_number(parsed):
        return region
    # Not a number any network has assigned (e.g. the fictional +1 555 range). Its calling code names the
    # country, except where one code serves several (+1: the Caribbean): there the leading digits decide.
    from phonenumbers.phonemetadata import PhoneMetadata

    regions = phonenumbers.region_codes_for_country_code(parsed.country_code or 0)
    national = str(parsed.national_number)
    for candidate in regions[1:]:
        metadata = PhoneMetadata.metadata_for_region(candidate)
        pattern = getattr(metadata, "leading_digits", None)
        if pattern and re.match(pattern, national):
            return str(candidate)
    main = regions[0] if regions else phonenumbers.UNKNOWN_REGION
    return None if main == phonenumbers.UNKNOWN_REGION else str(main)


@lru_cache(maxsize=4096)
def costly_type(number: str) -> str | None:
    """The word "premium-rate" or "shared-cost" when phonenumbers knows the number as such, else None."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    parsed = _parsed(number)
    if parsed is None:
        return None
    kind = phonenumbers.number_type(parsed)
    return {PhoneNumberType.PREMIUM_RATE: "premium-rate", PhoneNumberType.SHARED_COST: "shared-cost"}.get(kind)
