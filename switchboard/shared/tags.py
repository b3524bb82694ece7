"""Pure: HMAC tags that bind an id the app hands out (in a URL it gives Twilio, on an internal queue) to the app.

Anyone whose TwiML runs on the account can point Twilio's signed callbacks at the app's routes with
any query, and anyone with a queue credential can write any message: a record id there proves
nothing. So each id the app writes into such a place carries `tag(key, purpose, value)`, an
HMAC-SHA256 under the app's secret (`app_keys`) and the purpose it was written for
(`/api/voice/status`, `/api/voice/recording`, `voicemail-email`, ...), and is used only when
`verify` says the tag is the app's own. A tag for one purpose is worthless for another.

The app's secret is ERASURE_AUDIT_SALT when that is set (it survives a token rotation), else one
derived from TWILIO_AUTH_TOKEN, the same rule as the erasure audit's salt; during an Auth Token
rotation tags made under the secondary token are accepted too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

TAG_PARAM = "tag"  # the query parameter (or message field) a tag travels in
TAG_BYTES = 16  # 128 bits: no guessing, short in a URL
TAG_LENGTH = 22  # base64url characters of TAG_BYTES, unpadded
KEY_CONTEXT = b"switchboard reference tag v1"
SALT_CONTEXT = b"switchboard erasure audit salt v1"
FINGERPRINT_CONTEXT = b"switchboard fingerprint v1"
LIMITS_CONTEXT = b"switchboard limits v1"  # the caps' and the auto-reply throttle's keyed hashes of numbers


def derive(secret: str, context: bytes) -> bytes:
    """A key for one use from one secret: HMAC-SHA256(secret, context)."""
    return hmac.new(secret.encode("utf-8"), context, hashlib.sha256).digest()


def app_salt(salt: str | None, auth_token: str) -> str:
    """ERASURE_AUDIT_SALT, else a salt derived from the auth token (secret, but it changes if the token rotates)."""
    return salt or hmac.new(auth_token.encode("utf-8"), SALT_CONTEXT, hashlib.sha256).hexdigest()


def app_keys(salt: str | None, auth_token: str, auth_token_secondary: str | None = None) -> tuple[bytes, ...]:
    """The keys tags are made with (the first) and accepted under (all)."""
    if salt:
        return (derive(salt, KEY_CONTEXT),)
    return tuple(derive(token, KEY_CONTEXT) for token in (auth_token, auth_token_secondary) if token)


def tag(key: bytes, purpose: str, value: str) -> str:
    mac = hmac.new(key, f"{purpose}\n{value}".encode(), hashlib.sha256).digest()[:TAG_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def verify(keys: Iterable[bytes], purpose: str, value: str, candidate: object) -> bool:
    """Whether `candidate` is the tag of `value` for `purpose` under one of `keys` (compared in constant time)."""
    if not isinstance(candidate, str) or len(candidate) != TAG_LENGTH:
        return False
    return any(hmac.compare_digest(tag(key, purpose, value), candidate) for key in keys)
