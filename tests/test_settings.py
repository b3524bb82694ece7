from __future__ import annotations

import pytest

from switchboard.settings import DEFAULT_API_BASE_URL, Settings, SettingsError

MINIMAL = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "secret-token-value"}


def test_defaults_from_minimal_environment() -> None:
    settings = Settings.from_env(MINIMAL)
    assert settings.account_sid == "AC123"
    assert settings.api_base_url == DEFAULT_API_BASE_URL
    assert settings.webhook_validation is True
    assert settings.public_base_url is None
    assert settings.voice_blocklist == frozenset()
    assert settings.max_body_bytes == 65536


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
def test_missing_required_setting_names_it(missing: str) -> None:
    env = {k: v for k, v in MINIMAL.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_blank_required_setting_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        Settings.from_env(MINIMAL | {"TWILIO_AUTH_TOKEN": "  "})


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env(MINIMAL | {"TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "api-secret-value"})
    text = repr(settings)
    assert "secret-token-value" not in text
    assert "api-secret-value" not in text
    assert settings.secrets == ("secret-token-value", "api-secret-value")


def test_validation_needs_an_explicit_false() -> None:
    assert Settings.from_env(MINIMAL | {"WEBHOOK_VALIDATION": "false"}).webhook_validation is False
    with pytest.raises(SettingsError, match="WEBHOOK_VALIDATION"):
        Settings.from_env(MINIMAL | {"WEBHOOK_VALIDATION": "maybe"})


def test_urls_are_checked_and_trailing_slash_dropped() -> None:
    settings = Settings.from_env(
        MINIMAL | {"PUBLIC_BASE_URL": "https://app.example.net/", "TWILIO_API_BASE_URL": "http://127.0.0.1:4010"}
    )
    assert settings.public_base_url == "https://app.example.net"
    assert settings.api_base_url == "http://127.0.0.1:4010"
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        Settings.from_env(MINIMAL | {"PUBLIC_BASE_URL": "app.example.net"})


def test_lists_and_numbers() -> None:
    settings = Settings.from_env(
        MINIMAL | {"VOICE_BLOCKLIST": "+15551234567, +15557654321,", "VOICE_FORWARD_TIMEOUT": "30"}
    )
    assert settings.voice_blocklist == {"+15551234567", "+15557654321"}
    assert settings.voice_forward_timeout == 30
    with pytest.raises(SettingsError, match="VOICE_FORWARD_TIMEOUT"):
        Settings.from_env(MINIMAL | {"VOICE_FORWARD_TIMEOUT": "soon"})


def test_twimlet_and_voicemail_settings() -> None:
    settings = Settings.from_env(
        MINIMAL
        | {
            "FORWARD_ALLOWED_DESTINATIONS": "+1555*, +442071234567",
            "TWIML_ECHO_ENABLED": "true",
            "HOLDMUSIC_CONTAINERS": "music, jingles",
            "VOICE_BUSINESS_HOURS": "Mon-Fri 09:00-17:00 Europe/Amsterdam",
            "VOICE_VOICEMAIL": "true",
            "VOICE_VOICEMAIL_NOTIFY": "+15558675310",
        }
    )
    assert settings.forward_allowed_destinations.allows("+15551234567")
    assert settings.forward_allowed_destinations.allows("+442071234567")
    assert not settings.forward_allowed_destinations.allows("+442071234568")
    assert settings.twiml_echo_enabled is True
    assert settings.holdmusic_containers == frozenset({"music", "jingles"})
    assert settings.voice_business_hours is not None
    assert settings.voice_business_hours.zone == "Europe/Amsterdam"
    assert settings.voice_voicemail is True
    assert settings.voice_voicemail_notify == "+15558675310"


def test_twimlet_defaults_are_safe() -> None:
    settings = Settings.from_env(MINIMAL | {"VOICE_FORWARD_TO": "+15551230000"})
    assert settings.twiml_echo_enabled is False
    assert settings.holdmusic_containers == frozenset({"holdmusic"})
    assert not settings.forward_allowed_destinations.configured
    assert settings.forward_allowed_destinations.allows("+15551230000")
    assert not settings.forward_allowed_destinations.allows("+15551230001")
    assert settings.voice_business_hours is None
    assert settings.voice_voicemail is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FORWARD_ALLOWED_DESTINATIONS", "*"),
        ("VOICE_BUSINESS_HOURS", "always"),
        ("VOICE_VOICEMAIL_NOTIFY", "0612345678"),
        ("TWIML_ECHO_ENABLED", "maybe"),
        ("DEFAULT_COUNTRY", "USA"),
        ("DEFAULT_COUNTRY", "XX"),
        ("EMAIL_FROM", "voicemail"),
        ("SMTP_URL", "https://mail.example.net"),
    ],
)
def test_bad_twimlet_settings_name_themselves(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(MINIMAL | {name: value})


def test_numbers_in_settings_are_read_in_the_default_country() -> None:
    us = Settings.from_env(MINIMAL | {"VOICE_FORWARD_TO": "(415) 555-1212", "VOICE_VOICEMAIL_NOTIFY": "415.555.1313",
                                      "VOICE_BLOCKLIST": "900-555-0100, +15550001111"})  # fmt: skip
    assert us.default_country == "US"
    assert us.voice_forward_to == "+14155551212"
    assert us.voice_voicemail_notify == "+14155551313"
    assert us.voice_blocklist == frozenset({"+19005550100", "+15550001111"})
    assert us.forward_allowed_destinations.allows("+14155551212")  # VOICE_FORWARD_TO is the fallback
    gb = Settings.from_env(MINIMAL | {"DEFAULT_COUNTRY": "gb", "VOICE_VOICEMAIL_NOTIFY": "020 7946 0000"})
    assert (gb.default_country, gb.voice_voicemail_notify) == ("GB", "+442079460000")
    sip = Settings.from_env(MINIMAL | {"VOICE_FORWARD_TO": "sip:desk@pbx.example.net"})
    assert sip.voice_forward_to == "sip:desk@pbx.example.net"  # not a number: kept as given


def test_smtp_settings_and_their_secret() -> None:
    url = "smtp://mailer:p%40ss-word-93@smtp.example.net:587"
    settings = Settings.from_env(MINIMAL | {"SMTP_URL": url, "EMAIL_FROM": "voicemail@example.net"})
    assert (settings.smtp_url, settings.email_from) == (url, "voicemail@example.net")
    assert {"p@ss-word-93", "p%40ss-word-93"} <= set(settings.secrets)
    assert "p%40ss" not in repr(settings)
    with pytest.raises(SettingsError) as error:
        Settings.from_env(MINIMAL | {"SMTP_URL": "smtp://mailer:p%40ss-word-93@smtp.example.net:notaport"})
    assert "p%40ss" not in str(error.value)
    assert "ss-word" not in str(error.value)


KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://kv-example.vault.azure.net/secrets/twilio-auth-token)"


@pytest.mark.parametrize("name", ["TWILIO_AUTH_TOKEN", "TWILIO_API_SECRET", "VOICE_GREETING"])
def test_an_unresolved_key_vault_reference_is_refused_by_name(name: str) -> None:
    env = (
        MINIMAL
        | {"TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "api-secret-value"}
        | {name: KEY_VAULT_REFERENCE}
    )
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    message = str(refused.value)
    assert f"App setting {name} holds an unresolved Key Vault reference" in message
    assert "Key Vault Secrets User" in message
    assert "then restart the app" in message
    assert "kv-example" not in message


def test_the_other_key_vault_reference_form_and_case_are_refused_too() -> None:
    env = MINIMAL | {"TWILIO_AUTH_TOKEN": " @microsoft.keyvault(VaultName=kv;SecretName=twilio-auth-token)"}
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN holds an unresolved"):
        Settings.from_env(env)


def test_every_unresolved_reference_is_named_once() -> None:
    env = MINIMAL | {
        "TWILIO_AUTH_TOKEN": KEY_VAULT_REFERENCE,
        "TWILIO_API_KEY": "SK" + "1" * 32,
        "TWILIO_API_SECRET": KEY_VAULT_REFERENCE,
        "APPSETTING_TWILIO_AUTH_TOKEN": KEY_VAULT_REFERENCE,
    }
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    message = str(refused.value)
    assert message.count("TWILIO_AUTH_TOKEN holds") == 1
    assert "TWILIO_API_SECRET holds" in message
    assert "APPSETTING_" not in message


@pytest.mark.parametrize(("given", "missing"), [("TWILIO_API_KEY", "TWILIO_API_SECRET"),
                                                ("TWILIO_API_SECRET", "TWILIO_API_KEY")])  # fmt: skip
def test_an_api_key_needs_its_secret_and_the_reverse(given: str, missing: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(MINIMAL | {given: "SK" + "1" * 32})
    assert str(refused.value) == f"App setting {given} is set but {missing} is not: set both, or neither."
    both = Settings.from_env(MINIMAL | {"TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "api-secret-value"})
    assert (both.api_key, both.api_secret) == ("SK" + "1" * 32, "api-secret-value")


def test_refused_settings_are_logged_once_per_instance(monkeypatch, caplog) -> None:
    from switchboard import settings as module

    monkeypatch.setattr(module, "_logged", set())
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", KEY_VAULT_REFERENCE)
    with caplog.at_level("ERROR", logger="switchboard.settings"):
        for _ in range(3):
            module.get_settings.cache_clear()
            with pytest.raises(SettingsError):
                module.get_settings()
    refused = [r.getMessage() for r in caplog.records if r.name == "switchboard.settings"]
    assert len(refused) == 1
    assert "TWILIO_AUTH_TOKEN holds an unresolved Key Vault reference" in refused[0]
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "a-resolved-token-value")  # resolved after a restart
    module.get_settings.cache_clear()
    assert module.get_settings().auth_token == "a-resolved-token-value"


def test_outbound_channels_and_alphanumeric_senders() -> None:
    assert Settings.from_env(MINIMAL).outbound_channels == frozenset({"sms"})
    assert Settings.from_env(MINIMAL).outbound_alpha_senders == frozenset()
    settings = Settings.from_env(
        MINIMAL | {"OUTBOUND_CHANNELS": " SMS , whatsapp ", "OUTBOUND_ALPHA_SENDERS": "ACME, Owl Air,,"}
    )
    assert settings.outbound_channels == frozenset({"sms", "whatsapp"})
    assert settings.outbound_alpha_senders == frozenset({"ACME", "Owl Air"})
    with pytest.raises(SettingsError, match="OUTBOUND_CHANNELS: fax is not a channel"):
        Settings.from_env(MINIMAL | {"OUTBOUND_CHANNELS": "sms,fax"})
    for bad in ("12345", "ACMEACMEACME", "Acme!"):
        with pytest.raises(SettingsError, match="OUTBOUND_ALPHA_SENDERS: entry 2 is not an alphanumeric sender ID"):
            Settings.from_env(MINIMAL | {"OUTBOUND_ALPHA_SENDERS": f"ACME,{bad}"})


def test_the_retry_budget_and_reconcile_settings() -> None:
    defaults = Settings.from_env(MINIMAL)
    assert (defaults.outbound_retry_base_seconds, defaults.outbound_retry_max_seconds) == (15, 900)
    assert (defaults.outbound_retry_hours, defaults.reconcile_after_minutes) == (6, 30)
    assert (defaults.reconcile_max_per_run, defaults.reconcile_per_second) == (200, 5)
    given = Settings.from_env(MINIMAL | {"OUTBOUND_RETRY_BASE_SECONDS": "0.5", "OUTBOUND_RETRY_MAX_SECONDS": "2",
                                         "OUTBOUND_RETRY_HOURS": "0.25", "RECONCILE_AFTER_MINUTES": "1.5"})  # fmt: skip
    assert (given.outbound_retry_base_seconds, given.outbound_retry_max_seconds) == (0.5, 2)
    assert (given.outbound_retry_hours, given.reconcile_after_minutes) == (0.25, 1.5)


@pytest.mark.parametrize(
    "name",
    ["OUTBOUND_RETRY_BASE_SECONDS", "OUTBOUND_RETRY_MAX_SECONDS", "OUTBOUND_RETRY_HOURS", "RECONCILE_AFTER_MINUTES",
     "RECONCILE_MAX_PER_RUN", "RECONCILE_PER_SECOND", "OUTBOUND_MESSAGES_PER_SECOND", "OUTBOUND_CALLS_PER_SECOND"],
)  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "1e9"])
def test_a_bad_retry_or_reconcile_setting_names_itself(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(MINIMAL | {name: value})


def test_the_pace_defaults_to_one_per_second_and_takes_decimals() -> None:
    defaults = Settings.from_env(MINIMAL)
    assert (defaults.outbound_messages_per_second, defaults.outbound_calls_per_second) == (1, 1)
    given = Settings.from_env(MINIMAL | {"OUTBOUND_MESSAGES_PER_SECOND": "0.5", "OUTBOUND_CALLS_PER_SECOND": "2.5"})
    assert (given.outbound_messages_per_second, given.outbound_calls_per_second) == (0.5, 2.5)


def test_the_longest_retry_wait_may_not_be_below_the_first() -> None:
    with pytest.raises(SettingsError, match=r"OUTBOUND_RETRY_MAX_SECONDS .* OUTBOUND_RETRY_BASE_SECONDS"):
        Settings.from_env(MINIMAL | {"OUTBOUND_RETRY_BASE_SECONDS": "60", "OUTBOUND_RETRY_MAX_SECONDS": "30"})


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HOLDMUSIC_CONTAINERS": "holdmusic, recordings"}, "RECORDINGS_CONTAINER"),
        ({"HOLDMUSIC_CONTAINERS": "lobby", "RECORDINGS_CONTAINER": "lobby"}, "RECORDINGS_CONTAINER"),
        ({"HOLDMUSIC_CONTAINERS": "media"}, "MEDIA_CONTAINER"),
    ],
)
def test_a_recordings_or_media_container_is_never_hold_music(env: dict[str, str], named: str) -> None:
    """Issue 20 point 7: a recordings container in HOLDMUSIC_CONTAINERS played voicemails to callers on hold."""
    with pytest.raises(SettingsError, match=rf"HOLDMUSIC_CONTAINERS.*{named}"):
        Settings.from_env(MINIMAL | env)
    assert Settings.from_env(MINIMAL | {"HOLDMUSIC_CONTAINERS": "lobby"}).holdmusic_containers == {"lobby"}
