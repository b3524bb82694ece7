"""URLs: the one rule for "is an http(s) URL", and the URLs Switchboard builds from PUBLIC_BASE_URL.

`is_http_url` is the outbound contract's `httpUrl` (schemas/outbound-message.schema.json): an absolute
`http://` or `https://` URL with a host, no white space, at most 2,048 characters. Twilio fetches only
absolute URLs; the outbound path then also needs https unless ALLOW_HTTP_URLS, and a public host
(policies.destinations). Text people write (twimlet parameters, settings) is stripped before the check.

Behind a gateway (`https://gw.example.net/switchboard`) the app's routes live under the gateway's
path. Absolute URLs (status callbacks on outbound requests) are `PUBLIC_BASE_URL` + route; URLs in
TwiML are root-relative with the same path (`/switchboard/api/...`), which Twilio resolves against
the URL it requested: the gateway's origin.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_LIMIT = 2048  # the longest URL the app accepts to hand Twilio
HTTP_URL = re.compile(r"https?://[^\s/?#]+\S*")


def is_http_url(value: object) -> bool:
    return isinstance(value, str) and len(value) <= URL_LIMIT and HTTP_URL.fullmatch(value) is not None


def path_prefix(public_base_url: str | None) -> str:
    """`https://gw.example.net/switchboard/` -> `/switchboard`; no base URL or no path -> ``."""
    if not public_base_url:
        return ""
    return urlsplit(public_base_url).path.rstrip("/")


def public_url(public_base_url: str, path: str) -> str:
    """`https://gw.example.net/switchboard` + `/api/voice/status` -> `https://gw.example.net/switchboard/api/voice/status`."""
    return public_base_url.rstrip("/") + "/" + path.lstrip("/")
