"""Pure: the outbound destination policy, one check for everything the queue asks Twilio to dial, text or fetch.

A leaked function key or storage credential must not turn the app into a dial-out service.
Before an outbound request is claimed, `refusal(request, policy)` says why it must not reach
Twilio (or None):

- `to` (the number of a `whatsapp:+E.164` address: one person's number is one person on every
  channel), and every number in inline TwiML (`<Dial>` text, also after a nested noun, `<Number>`,
  `<WhatsApp>`, `<Sms to>`, `<Message to>`),
  must be allowed: a number listed in `OUTBOUND_ALLOWED_DESTINATIONS` (exact E.164, or a prefix
  ending in `*`, the syntax and the shared-calling-code rule of `FORWARD_ALLOWED_DESTINATIONS`: `+1*` is
  the US and Canada only), or, by default, a number in the
  country of `TWILIO_PHONE_NUMBER`. Premium-rate and shared-cost numbers are refused unless listed
  exactly. `<Sip>` is refused: a SIP URI can route anywhere.
- `url`, `play`, `media_url` and URLs in inline TwiML (`<Play>`/`<Redirect>` text, any `action`,
  `*Url` or `*Callback` attribute) are https (http only with `ALLOW_HTTP_URLS`,
  for local development) and never name a loopback, private, link-local or otherwise non-public
  address. Host names are not resolved: Twilio resolves them later, from its own network, so an
  answer here would prove nothing (and would invite DNS rebinding). Literal addresses in any
  notation `inet_aton` accepts (`127.1`, `0x7f000001`, `2130706433`) and the reserved names
  `localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa` are refused.
- A URL on this app's own host (`PUBLIC_BASE_URL`, and Azure's `WEBSITE_HOSTNAME`) may name no twimlet but
  `message` and `holdmusic`: the others take their configuration from the URL's query (forward and
  findme dial, voicemail e-mails the recording to `Email`), and configuration comes only from the
  operator. Nor the default voice and SMS flows (`voice/incoming`, `sms/incoming`), which dial and text
  what the app's settings name. Under a gateway's path too. A producer points a call at a number, its
  own TwiML, or a `message`.

`phonenumbers` is imported at first check: webhooks never pay for its metadata at cold start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from switchboard.policies.dialpolicy import DialPolicy, prefix_opens
from switchboard.shared.phones import costly_type, is_e164, mask, number_part, region_of

# TwiML that names a number to dial or text, and attributes that hold a URL Twilio fetches or calls.
_NUMBER_TEXT = frozenset({"Dial", "Number", "WhatsApp"})
_NUMBER_ATTRIBUTE = {"Sms": "to", "Message": "to"}
_URL_TEXT = frozenset({"Play", "Redirect"})
# Any attribute named action, *url or *callback (transcribeCallback, amdStatusCallback, referUrl, eventCallbackUrl...).
_URL_ATTRIBUTE = re.compile(r"action|.*url|.*callback", re.IGNORECASE)
# Media streams connect over WebSockets: their `url` is wss:// (ws:// only with ALLOW_HTTP_URLS).
_WEBSOCKET_ELEMENTS = frozenset({"Stream", "ConversationRelay"})
_REFUSED_ELEMENTS = {"Sip": "<Sip> is not allowed in outbound TwiML: a SIP URI can route anywhere"}
_VERBS = {
    name.lower(): name
    for name in (*_NUMBER_TEXT, *_NUMBER_ATTRIBUTE, *_URL_TEXT, *_WEBSOCKET_ELEMENTS, *_REFUSED_ELEMENTS)
}
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
# The app's own twimlets a producer may point Twilio at: they say or play, and configure nothing that dials,
# records or sends (see own_route_refusal).
PRODUCER_TWIMLETS = frozenset({"message", "holdmusic"})
_ALLOWED = " and ".join(sorted(PRODUCER_TWIMLETS))
# The default voice and SMS flows: they forward to VOICE_FORWARD_TO / SMS_FORWARD_TO and notify VOICEMAIL_NOTIFY,
# numbers the outbound policy never checks. (Callback routes find their record by SID: harmless, allowed.)
_SETTINGS_FLOWS = (["voice", "incoming"], ["sms", "incoming"])


class Destinations(Protocol):
    """What a request asks Twilio to dial, text or fetch (the outbound contract's `OutboundRequest` has these)."""

    @property
    def to(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def play(self) -> str | None: ...
    @property
    def media_url(self) -> tuple[str, ...]: ...
    @property
    def twiml(self) -> str | None: ...


@dataclass(frozen=True)
class DestinationPolicy:
    listed: DialPolicy = field(default_factory=DialPolicy)
    # The number whose country is "home" (TWILIO_PHONE_NUMBER), or an ISO country code (DEFAULT_COUNTRY).
    home_number: str | None = None
    home_country: str | None = None
    allow_http: bool = False
    # This app's own host names (PUBLIC_BASE_URL's, WEBSITE_HOSTNAME), lower case: see own_route_refusal.
    own_hosts: frozenset[str] = frozenset()

    def number_refusal(self, number: str) -> str | None:
        """Why `number` may not be dialled or texted, or None when it may."""
        if not is_e164(number):
            return f"{number!r} is not an E.164 number"
        if number in self.listed.exact:
            return None
        kind = costly_type(number)
        if kind is not None:
            return f"{mask(number)} is a {kind} number"
        if any(prefix_opens(prefix, number) for prefix in self.listed.prefixes):
            return None
        home = self.home_region()
        if home is not None and region_of(number) == home:
            return None
        where = f"outside {home}" if home else "not listed, and TWILIO_PHONE_NUMBER gives no home country"
        return f"{mask(number)} is {where} and not in OUTBOUND_ALLOWED_DESTINATIONS"

    def home_region(self) -> str | None:
        if self.home_country:
            return self.home_country.upper()
        return region_of(self.home_number) if self.home_number else None

    def url_refusal(self, url: str, *, websocket: bool = False) -> str | None:
        return url_refusal(url, allow_http=self.allow_http, websocket=websocket) or own_route_refusal(
            url, self.own_hosts
        )


def own_route_refusal(url: str, own_hosts: frozenset[str]) -> str | None:
    """Why a producer may not hand Twilio this URL on the app's own host, or None.

    The host is compared as a URL parser resolves it (percent-decoded, IDNA-mapped, as `is_public_host` does).
    The path is compared as the Functions host routes it: percent-decoded (repeatedly, bounded), case-folded,
    with empty and dot segments removed, under the `api` route prefix.
    """
    try:
        parts = urlsplit(url)
        host = (_ascii_host(parts.hostname or "") or "").rstrip(".").lower()
    except ValueError:
        return None  # url_refusal has refused it already
    if not own_hosts or host not in own_hosts:
        return None
    path = parts.path
    for _ in range(3):
        path = unquote(path)
    segments: list[str] = []
    for segment in path.lower().replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    # Every `api` segment may start the app's routes: behind a gateway they sit under PUBLIC_BASE_URL's path.
    for start in (index for index, segment in enumerate(segments) if segment == "api"):
        route = segments[start + 1 :]
        if route[:1] == ["twiml"] and not (len(route) == 2 and route[1] in PRODUCER_TWIMLETS):
            name = "/".join(route[1:]) or "(none)"
            return (
                f"names this app's twimlet {name!r}: only {_ALLOWED} may be pointed at by a producer (the others "
                "are configured by their URL, and configuration is the operator's)"
            )
        if route in _SETTINGS_FLOWS:
            return (
                f"names this app's {'/'.join(route)!r} flow, which dials or texts what the app's settings name: "
                f"only {_ALLOWED} may be pointed at by a producer"
            )
    return None


def refusal(request: Destinations, policy: DestinationPolicy) -> str | None:
    """The first reason `request` must not reach Twilio under `policy`, or None."""
    reason = policy.number_refusal(number_part(request.to) or request.to)
    if reason:
        return f"to: {reason}"
    for key, value in (("url", request.url), ("play", request.play)):
        if value is not None and (reason := policy.url_refusal(value)):
            return f"{key}: {reason}"
    for value in request.media_url:
        if reason := policy.url_refusal(value):
            return f"media_url: {reason}"
    if request.twiml is not None:
        return twiml_refusal(request.twiml, policy)
    return None


def twiml_refusal(document: str, policy: DestinationPolicy) -> str | None:
    """Every number and URL in a TwiML document, checked. The XML is parsed (no DTDs, no entities)."""
    import defusedxml.ElementTree as SafeET

    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except Exception as error:  # ParseError, or defusedxml's refusal of a DTD or an entity
        return f"twiml: not accepted ({type(error).__name__})"
    for element in root.iter():
        # TwiML verbs are case-sensitive and namespace-free; compare loosely so that no spelling slips by.
        tag = _VERBS.get(_local(element.tag).lower(), "")
        if tag in _REFUSED_ELEMENTS:
            return f"twiml: {_REFUSED_ELEMENTS[tag]}"
        for number in _numbers(element, tag):
            if reason := policy.number_refusal(number):
                return f"twiml <{tag}>: {reason}"
        for name, url in _urls(element, tag):
            websocket = tag in _WEBSOCKET_ELEMENTS and name.lower() == "url"
            if reason := policy.url_refusal(url, websocket=websocket):
                return f"twiml <{tag or _local(element.tag)[:40]}>: {reason}"
    return None


def text_recipients(document: str, default: str) -> list[str]:
    """The numbers a call's inline TwiML would text (`<Sms to>`, `<Message to>`; without `to`, `default`).

    For the app-wide opt-out: a number that texted STOP gets no `<Sms>` from a call either. An unparsable
    document names nobody (`twiml_refusal` has refused it already).
    """
    import defusedxml.ElementTree as SafeET

    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except Exception:
        return []
    found: list[str] = []
    for element in root.iter():
        tag = _VERBS.get(_local(element.tag).lower(), "")
        if tag in _NUMBER_ATTRIBUTE:
            value = (element.attrib.get(_NUMBER_ATTRIBUTE[tag]) or "").strip() or default
            number = number_part(value) or value
            if number not in found:
                found.append(number)
    return found


def _local(tag: object) -> str:
    """A tag or attribute name without its namespace."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _numbers(element: object, tag: str) -> Iterator[str]:
    text = (getattr(element, "text", None) or "").strip()
    if tag in _NUMBER_TEXT and text:
        yield text
    if tag == "Dial":
        # Mixed content: text after a nested noun (`<Dial><Client>a</Client>+44...</Dial>`) is the Dial's too.
        for child in element:  # type: ignore[attr-defined]
            if tail := (child.tail or "").strip():
                yield tail
    attribute = _NUMBER_ATTRIBUTE.get(tag)
    if attribute:
        value = (getattr(element, "attrib", {}).get(attribute) or "").strip()
        if value:
            yield value


def _urls(element: object, tag: str) -> Iterator[tuple[str, str]]:
    """(attribute name, URL) pairs; "" names the element's text."""
    text = (getattr(element, "text", None) or "").strip()
    if tag in _URL_TEXT and text:
        yield "", text
    for name, value in getattr(element, "attrib", {}).items():
        if _URL_ATTRIBUTE.fullmatch(_local(name)) and value.strip():
            yield _local(name), value.strip()


def url_refusal(url: str, *, allow_http: bool, websocket: bool = False) -> str | None:
    """Why Twilio must not be handed `url`, or None. Relative URLs are refused: Twilio needs absolute ones.

    `websocket`: a media stream's URL, where wss plays the part of https (and ws of http).
    """
    if "\\" in url or any(ord(c) < 0x21 for c in url):
        return "URL contains a backslash, a space or a control character"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "not a valid URL"
    secure, plain = ("wss", "ws") if websocket else ("https", "http")
    reason = None
    if parts.scheme == plain and not allow_http:
        reason = f"must be {secure} ({plain} only with ALLOW_HTTP_URLS, for local development)"
    elif parts.scheme not in (secure, plain):
        reason = f"must be a {secure}:// URL"
    elif not host:
        reason = "has no host"
    elif not is_public_host(host):
        reason = f"host {host!r} is a loopback, private, link-local or reserved address"
    return reason


def is_public_host(host: str) -> bool:
    """False for literal non-public addresses (any notation) and reserved local names. Names are not resolved."""
    name = _ascii_host(host.strip("[]"))
    if name is None:
        return False
    name = name.rstrip(".").lower()
    if not name or name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return False
    address = _literal_address(name)
    if address is None:
        return "." in name  # a single-label name resolves on the local network only
    return all(each.is_global and not each.is_multicast for each in _embedded(address))


def _ascii_host(host: str) -> str | None:
    """The host as a resolver sees it, or None when it cannot be one.

    URL parsers percent-decode a host and map it through IDNA (WHATWG), so `%31%32%37.0.0.1` and
    fullwidth digits and dots (U+FF11, U+FF0E...) both reach 127.0.0.1: check the ASCII form, not the spelling.
    """
    from urllib.parse import unquote

    name = unquote(host)
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")  # nameprep: NFKC, ideographic dots
        except UnicodeError:
            return None
    return name if re.fullmatch(r"[0-9A-Za-z._:%-]+", name) else None


def _embedded(address: Any) -> list[Any]:
    """The address and every IPv4 address it carries: mapped, compatible, 6to4, Teredo, NAT64 (64:ff9b::/96)."""
    import ipaddress

    found = [address]
    if address.version == 6:
        found += [a for a in (address.ipv4_mapped, address.sixtofour, *(address.teredo or ())) if a is not None]
        packed = int(address)
        if packed >> 32 == 0 or packed >> 32 == 0x64FF9B << 64:  # ::a.b.c.d and 64:ff9b::a.b.c.d
            found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return found


def _literal_address(name: str) -> Any:
    """The IPv4Address or IPv6Address `name` spells, or None for a host name. (Imported here: cold start.)"""
    import ipaddress
    import socket

    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        pass
    # Legacy IPv4 notations many fetchers still accept: 127.1, 0x7f.0.0.1, 017700000001, 2130706433.
    if all(c in "0123456789abcdefx." for c in name) and any(c.isdigit() for c in name):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    return None
