"""Checking `X-Twilio-Signature` against the URL Twilio actually signed.

Twilio signs the public URL it called. Behind Azure's front end, or a proxy,
the URL the app sees can differ in scheme, host and port, so the public origin
comes from PUBLIC_BASE_URL, then from X-Forwarded-*, then from the request.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

from switchboard.webhooks.request import WebhookRequest

SIGNATURE_HEADER = "X-Twilio-Signature"


def signed_url(request: WebhookRequest, public_base_url: str | None) -> str:
    """The URL to validate: the public origin plus the request's own path and query, unchanged."""
    seen = urlsplit(request.url)
    if public_base_url:
        base = urlsplit(public_base_url)
        scheme, netloc, prefix = base.scheme, base.netloc, base.path.rstrip("/")
    else:
        scheme = _first(request.headers.get("x-forwarded-proto")) or seen.scheme
        netloc = _first(request.headers.get("x-forwarded-host")) or seen.netloc
        prefix = ""
    return urlunsplit((scheme, netloc, prefix + seen.path, seen.query, ""))


def is_valid(request: WebhookRequest, auth_token: str, public_base_url: str | None) -> bool:
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    url = signed_url(request, public_base_url)
    if request.json_body is not None:
        # JSON webhooks sign the URL (which carries bodySHA256) and the body's hash. The SDK
        # ignores a blank bodySHA256 and would then sign the body as if it were form params.
        if not any(parse_qs(urlsplit(url).query).get("bodySHA256", [])):
            return False
        return bool(validator.validate(url, request.json_body, signature))
    return bool(validator.validate(url, request.form, signature))


def sign(auth_token: str, url: str, params: object) -> str:
    """Twilio's signature for a request: used by the emulator and by tests."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def _first(value: str | None) -> str | None:
    # Chained proxies append: "https, http". The left-most is what the client used.
    if not value:
        return None
    return value.split(",")[0].strip() or None
