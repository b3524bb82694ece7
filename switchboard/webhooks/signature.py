"""Checking `X-Twilio-Signature` against the URL Twilio actually signed.

Twilio signs the public URL it called. Behind Azure's front end, or a proxy,
the URL the app sees can differ in scheme, host and port, so the public origin
comes from PUBLIC_BASE_URL, else from the request. `X-Forwarded-Proto`/`-Host` count
only with TRUST_FORWARDED_HEADERS: anyone can send them, and trusting them by default would
let a request signed for one deployment (staging) pass at another (production).

Two signing schemes (twilio-python's RequestValidator does the arithmetic for both):
- the account Auth Token, HMAC-SHA1: the primary token, or the secondary one during rotation;
- a SharedKey (`X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256`): the secret
  of that key id from TWILIO_WEBHOOK_SHARED_KEYS. An algorithm the SDK does not know is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, RequestValidator, get_signature_algorithm

from switchboard.webhooks.request import WebhookRequest

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
ALGORITHMS = (HMAC_SHA1, HMAC_SHA256)


def signed_url(request: WebhookRequest, public_base_url: str | None, *, trust_forwarded: bool = False) -> str:
    """The URL to validate: the public origin plus the request's own path and query, unchanged."""
    seen = urlsplit(request.url)
    if public_base_url:
        base = urlsplit(public_base_url)
        scheme, netloc, prefix = base.scheme, base.netloc, base.path.rstrip("/")
    elif trust_forwarded:
        scheme = _first(request.headers.get("x-forwarded-proto")) or seen.scheme
        netloc = _first(request.headers.get("x-forwarded-host")) or seen.netloc
        prefix = ""
    else:
        scheme, netloc, prefix = seen.scheme, seen.netloc, ""
    return urlunsplit((scheme, netloc, prefix + seen.path, seen.query, ""))


def refusal(
    request: WebhookRequest,
    tokens: Sequence[str],
    public_base_url: str | None,
    *,
    shared_keys: Mapping[str, str] | None = None,
    trust_forwarded: bool = False,
) -> str | None:
    """Why the request's signature does not hold, or None when it does.

    `tokens` are the Auth Tokens to try (primary, then secondary); `shared_keys` maps SharedKey ids to secrets.
    """
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return "no signature"
    url = signed_url(request, public_base_url, trust_forwarded=trust_forwarded)
    if request.json_body is not None and not any(parse_qs(urlsplit(url).query).get("bodySHA256", [])):
        # JSON webhooks sign the URL (which carries bodySHA256) and the body's hash. The SDK
        # ignores a blank bodySHA256 and would then sign the body as if it were form params.
        return "JSON body without bodySHA256"
    params: object = request.json_body if request.json_body is not None else request.form
    settings_header = request.headers.get(SETTINGS_HEADER)
    if settings_header:
        return _shared_key_refusal(settings_header, shared_keys or {}, url, params, signature)
    if any(RequestValidator(token).validate(url, params, signature) for token in tokens if token):
        return None
    return "signature mismatch"


def _shared_key_refusal(
    settings_header: str, shared_keys: Mapping[str, str], url: str, params: object, signature: str
) -> str | None:
    algorithm = get_signature_algorithm(settings_header)
    if algorithm.upper() not in ALGORITHMS:
        return f"unsupported signature algorithm {algorithm[:40]!r}"
    key_id = _setting(settings_header, "key") or ""
    secret = shared_keys.get(key_id)
    if secret is None:
        return f"unknown SharedKey id {key_id[:80]!r}"
    valid = RequestValidator(secret).validate(url, params, signature, algorithm=algorithm)
    return None if valid else "signature mismatch (SharedKey)"


def is_valid(
    request: WebhookRequest,
    auth_token: str,
    public_base_url: str | None,
    *,
    secondary_token: str | None = None,
    shared_keys: Mapping[str, str] | None = None,
    trust_forwarded: bool = False,
) -> bool:
    tokens = [auth_token] + ([secondary_token] if secondary_token else [])
    reason = refusal(request, tokens, public_base_url, shared_keys=shared_keys, trust_forwarded=trust_forwarded)
    return reason is None


def sign(auth_token: str, url: str, params: object) -> str:
    """Twilio's signature for a request: used by the emulator and by tests."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def _setting(header: str, name: str) -> str | None:
    """One `name=value` part of the signature settings header (`key=<id>,algorithm=HMAC_SHA256`)."""
    for part in header.split(","):
        key, separator, value = part.partition("=")
        if separator and key.strip() == name:
            return value.strip() or None
    return None


def _first(value: str | None) -> str | None:
    # Chained proxies append: "https, http". The left-most is what the client used.
    if not value:
        return None
    return value.split(",")[0].strip() or None
