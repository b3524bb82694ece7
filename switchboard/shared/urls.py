"""URLs Switchboard hands to Twilio, built from PUBLIC_BASE_URL including its path.

Behind a gateway (`https://gw.example.net/switchboard`) the app's routes live under the gateway's
path. Absolute URLs (status callbacks on outbound requests) are `PUBLIC_BASE_URL` + route; URLs in
TwiML are root-relative with the same path (`/switchboard/api/...`), which Twilio resolves against
the URL it requested: the gateway's origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def path_prefix(public_base_url: str | None) -> str:
    """`https://gw.example.net/switchboard/` -> `/switchboard`; no base URL or no path -> ``."""
    if not public_base_url:
        return ""
    return urlsplit(public_base_url).path.rstrip("/")


def public_url(public_base_url: str, path: str) -> str:
    """`https://gw.example.net/switchboard` + `/api/voice/status` -> `https://gw.example.net/switchboard/api/voice/status`."""
    return public_base_url.rstrip("/") + "/" + path.lstrip("/")
