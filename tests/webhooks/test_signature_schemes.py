"""Issue 11 points 6 and 9: forwarded headers only when trusted; SharedKey signatures and Auth Token rotation."""

from __future__ import annotations

import logging

import pytest
from twilio.request_validator import RequestValidator

from switchboard.settings import Settings, SettingsError
from switchboard.webhooks.request import WebhookRequest
from switchboard.webhooks.signature import is_valid, refusal, signed_url
from tests.support import AUTH_TOKEN, BASE_ENV, PUBLIC_BASE_URL, XML_DECLARATION, function, http_request, signed_form

PARAMS = {"CallSid": "CA" + "1" * 32, "From": "+15558675310", "To": "+15005550006"}
SECONDARY = "secondary-auth-token-6a5b4c3d2e1f"
KEYS = {"webhooks_sharedkey_old": "old-shared-secret-0a1b2c3d", "webhooks_sharedkey_new": "new-shared-secret-4e5f6a7b"}


def _form(url: str, headers: dict[str, str], body: bytes) -> WebhookRequest:
    return WebhookRequest.parse("POST", url, headers, body)


def _shared_key_signed(
    url: str, key_id: str, secret: str, algorithm: str = "HMAC_SHA256"
) -> tuple[dict[str, str], bytes]:
    headers, body = signed_form(url, PARAMS)
    sig_algorithm = algorithm if algorithm in ("HMAC_SHA1", "HMAC_SHA256") else "HMAC_SHA256"
    headers["X-Twilio-Signature"] = RequestValidator(secret).compute_signature(url, PARAMS, sig_algorithm)
    headers["X-Twilio-Webhooks-Signature-Settings"] = f"key={key_id},algorithm={algorithm}"
    return headers, body


# -- point 6 -------------------------------------------------------------------------------------


def test_forwarded_headers_are_ignored_by_default() -> None:
    """A request signed for staging's host, replayed at production with forged forwarded headers, is refused."""
    internal = "http://127.0.0.1:7071/api/voice/incoming"
    headers, body = signed_form(internal, PARAMS, signed_as="https://staging.example.org/api/voice/incoming")
    headers |= {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "staging.example.org"}
    request = _form(internal, headers, body)
    assert signed_url(request, None) == internal
    assert not is_valid(request, AUTH_TOKEN, None)
    assert is_valid(request, AUTH_TOKEN, None, trust_forwarded=True)


def test_with_public_base_url_forwarded_headers_change_nothing() -> None:
    internal = "http://10.0.0.4/api/voice/incoming"
    headers, body = signed_form(internal, PARAMS, signed_as=f"{PUBLIC_BASE_URL}/api/voice/incoming")
    headers |= {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example"}
    request = _form(internal, headers, body)
    for trusted in (False, True):
        assert signed_url(request, PUBLIC_BASE_URL, trust_forwarded=trusted) == f"{PUBLIC_BASE_URL}/api/voice/incoming"
        assert is_valid(request, AUTH_TOKEN, PUBLIC_BASE_URL, trust_forwarded=trusted)


def test_the_setting_is_read_and_off_by_default() -> None:
    assert Settings.from_env(BASE_ENV).trust_forwarded_headers is False
    assert Settings.from_env(BASE_ENV | {"TRUST_FORWARDED_HEADERS": "true"}).trust_forwarded_headers is True


# -- point 9 -------------------------------------------------------------------------------------


def test_shared_key_signatures_are_accepted_for_every_configured_key() -> None:
    url = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    for key_id, secret in KEYS.items():
        headers, body = _shared_key_signed(url, key_id, secret)
        assert refusal(_form(url, headers, body), [AUTH_TOKEN], PUBLIC_BASE_URL, shared_keys=KEYS) is None


def test_shared_key_signatures_fail_with_a_wrong_or_unknown_key() -> None:
    url = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_old", KEYS["webhooks_sharedkey_new"])
    assert refusal(_form(url, headers, body), [AUTH_TOKEN], None, shared_keys=KEYS) == "signature mismatch (SharedKey)"
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_gone", "whatever-secret")
    assert "unknown SharedKey id" in (refusal(_form(url, headers, body), [AUTH_TOKEN], None, shared_keys=KEYS) or "")
    # The Auth Token cannot stand in for a SharedKey, nor a SharedKey for the Auth Token.
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_old", AUTH_TOKEN)
    assert refusal(_form(url, headers, body), [AUTH_TOKEN], None, shared_keys=KEYS) is not None
    headers, body = signed_form(url, PARAMS, token=KEYS["webhooks_sharedkey_old"])
    assert refusal(_form(url, headers, body), [AUTH_TOKEN], None, shared_keys=KEYS) == "signature mismatch"


def test_an_unsupported_algorithm_is_refused() -> None:
    url = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_old", KEYS["webhooks_sharedkey_old"], "HMAC_SHA512")
    reason = refusal(_form(url, headers, body), [AUTH_TOKEN], None, shared_keys=KEYS)
    assert reason == "unsupported signature algorithm 'HMAC_SHA512'"


def test_the_secondary_auth_token_is_accepted_during_rotation() -> None:
    url = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    headers, body = signed_form(url, PARAMS, token=SECONDARY)
    request = _form(url, headers, body)
    assert not is_valid(request, AUTH_TOKEN, None)
    assert is_valid(request, AUTH_TOKEN, None, secondary_token=SECONDARY)


def test_shared_keys_setting_is_parsed_and_kept_secret() -> None:
    env = BASE_ENV | {"TWILIO_WEBHOOK_SHARED_KEYS": ",".join(f"{k}:{v}" for k, v in KEYS.items()),
                      "TWILIO_AUTH_TOKEN_SECONDARY": SECONDARY}  # fmt: skip
    settings = Settings.from_env(env)
    assert dict(settings.webhook_shared_keys) == KEYS
    assert settings.auth_token_secondary == SECONDARY
    assert set(KEYS.values()) | {SECONDARY} <= set(settings.secrets)
    assert not any(secret in repr(settings) for secret in (*KEYS.values(), SECONDARY))
    with pytest.raises(SettingsError) as error:
        Settings.from_env(BASE_ENV | {"TWILIO_WEBHOOK_SHARED_KEYS": "no-separator-secret-value"})
    assert "no-separator-secret-value" not in str(error.value)


def test_the_app_answers_shared_key_and_rotated_webhooks(app, configure, caplog: pytest.LogCaptureFixture) -> None:
    configure(
        TWILIO_WEBHOOK_SHARED_KEYS=",".join(f"{k}:{v}" for k, v in KEYS.items()),
        TWILIO_AUTH_TOKEN_SECONDARY=SECONDARY,
        VOICE_GREETING="Signed",
    )
    url = f"{PUBLIC_BASE_URL}/api/voice/incoming"
    voice = function(app, "voice_incoming")
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_new", KEYS["webhooks_sharedkey_new"])
    response = voice(http_request("POST", url, headers=headers, body=body))
    assert response.status_code == 200
    assert response.get_body().decode() == f"{XML_DECLARATION}<Response><Say>Signed</Say><Hangup /></Response>"
    headers, body = signed_form(url, PARAMS, token=SECONDARY)
    assert voice(http_request("POST", url, headers=headers, body=body)).status_code == 200
    headers, body = _shared_key_signed(url, "webhooks_sharedkey_new", KEYS["webhooks_sharedkey_new"], "HMAC_MD5")
    with caplog.at_level(logging.WARNING, logger="switchboard.webhook"):
        assert voice(http_request("POST", url, headers=headers, body=body)).status_code == 403
    assert "unsupported signature algorithm 'HMAC_MD5'" in caplog.text


def test_rotation_secrets_are_redacted_from_logs_from_the_start() -> None:
    from switchboard.shared.logs import install, redact

    env = {"TWILIO_AUTH_TOKEN_SECONDARY": SECONDARY,
           "TWILIO_WEBHOOK_SHARED_KEYS": ",".join(f"{k}:{v}" for k, v in KEYS.items())}  # fmt: skip
    install(env=env)
    text = redact(f"a {SECONDARY} b {KEYS['webhooks_sharedkey_new']} c")
    assert SECONDARY not in text
    assert KEYS["webhooks_sharedkey_new"] not in text
