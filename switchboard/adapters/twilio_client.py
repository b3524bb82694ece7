"""The Twilio REST client adapter: one client per process, pointed at TWILIO_API_BASE_URL.

The SDK has no base-URL setting, so an HTTP client subclass rewrites Twilio's origin.
It is built at first use: `twilio.rest` costs ~100 ms to import, which webhooks never pay.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from switchboard.settings import DEFAULT_API_BASE_URL, Settings

if TYPE_CHECKING:
    from twilio.rest import Client

TWILIO_ORIGIN = "https://api.twilio.com"
_lock = threading.Lock()
_cached: tuple[Settings, Client] | None = None
# The SDK's exceptions carry no headers: the last answer's Retry-After, per thread (one client serves many).
_answers = threading.local()


def last_retry_after() -> str | None:
    """The Retry-After header of this thread's last Twilio answer, if it was a 429 or 5xx that sent one."""
    return getattr(_answers, "retry_after", None)


def rewrite_url(url: str, base_url: str) -> str:
    """Send requests meant for api.twilio.com to `base_url` (an emulator, Prism, or Twilio itself)."""
    if base_url != DEFAULT_API_BASE_URL and url.startswith(TWILIO_ORIGIN):
        return base_url.rstrip("/") + url[len(TWILIO_ORIGIN) :]
    return url


def build_client(settings: Settings, *, http_client: Any = None) -> Client:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    class BaseUrlHttpClient(TwilioHttpClient):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            _answers.retry_after = None
            response = super().request(method, rewrite_url(url, settings.api_base_url), *args, **kwargs)
            if response.status_code == 429 or response.status_code >= 500:
                headers = response.headers or {}
                _answers.retry_after = headers.get("Retry-After")
            return response

    http = http_client or BaseUrlHttpClient(timeout=settings.twilio_timeout_seconds)
    if settings.api_key and settings.api_secret:
        return Client(settings.api_key, settings.api_secret, settings.account_sid, http_client=http)
    return Client(settings.account_sid, settings.auth_token, http_client=http)


def get_client(settings: Settings) -> Client:
    """One client per process (its HTTP session pools connections), rebuilt only if settings change."""
    global _cached
    with _lock:
        if _cached is None or _cached[0] is not settings:
            _cached = (settings, build_client(settings))
        return _cached[1]
