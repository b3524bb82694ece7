"""App settings, read once from the environment into one frozen, typed object.

Azure passes app settings (and `func start` passes local.settings.json "Values")
as environment variables, so the environment is the single source of truth.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from switchboard.policies.destinations import DestinationPolicy
from switchboard.policies.dialpolicy import DialPolicy
from switchboard.policies.hours import BusinessHours
from switchboard.policies.limits import LimitsConfigError, Rule, parse_outbound_limits
from switchboard.policies.quiet import QuietHours, Window, check_zone, parse_window
from switchboard.policies.suppression import SuppressionConfigError, parse_suppress_on_errors
from switchboard.shared.phones import DEFAULT_COUNTRY, is_alpha_sender, is_country, to_e164
from switchboard.shared.urls import is_http_url

log = logging.getLogger("switchboard.settings")
DEFAULT_API_BASE_URL = "https://api.twilio.com"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# App Service puts the literal reference in the environment when it cannot resolve it.
KEY_VAULT_REFERENCE = "@microsoft.keyvault("
REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
PAIRED = (("TWILIO_API_KEY", "TWILIO_API_SECRET"),)
# The message channels the outbound queue may use: SMS/MMS to E.164 numbers, WhatsApp to `whatsapp:+E.164`.
MESSAGE_CHANNELS = ("sms", "whatsapp")
_logged: set[str] = set()
# The highest OUTBOUND_MESSAGES_PER_SECOND / OUTBOUND_CALLS_PER_SECOND (Twilio's fastest senders do a few hundred).
MAX_RATE = 10_000


class SettingsError(RuntimeError):
    """A required app setting is missing or a value cannot be used."""


@dataclass(frozen=True)
class Settings:
    # Secrets are kept out of repr so that a logged Settings never leaks them.
    account_sid: str
    auth_token: str = field(repr=False)
    # Auth Token rotation: Twilio's secondary token is accepted too until it is promoted.
    auth_token_secondary: str | None = field(default=None, repr=False)
    # SharedKey webhook signing: key id -> secret; several ids let keys rotate without downtime.
    webhook_shared_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    phone_number: str | None = None
    public_base_url: str | None = None
    # Where the number's fallback TwiML is served, outside the app (infra/: the storage account's static website).
    fallback_base_url: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    webhook_validation: bool = True
    trust_forwarded_headers: bool = False
    voice_greeting: str | None = None
    voice_forward_to: str | None = None
    voice_forward_timeout: int = 20
    voice_blocklist: frozenset[str] = frozenset()
    sms_auto_reply: str | None = None
    # One auto-reply per sender at most this often, held across hosts (0: every message is answered).
    sms_auto_reply_minutes: int = 10
    sms_forward_to: str | None = None
    max_body_bytes: int = 64 * 1024
    twilio_timeout_seconds: float = 10.0
    forward_allowed_destinations: DialPolicy = field(default_factory=DialPolicy)
    outbound_destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    outbound_channels: frozenset[str] = frozenset({"sms"})
    outbound_alpha_senders: frozenset[str] = frozenset()
    twiml_echo_enabled: bool = False
    holdmusic_containers: frozenset[str] = frozenset({"holdmusic"})
    voice_business_hours: BusinessHours | None = None
    voice_voicemail: bool = False
    voice_voicemail_greeting: str | None = None
    voice_voicemail_notify: str | None = None
    records_table: str = "records"
    optouts_table: str = "optouts"
    default_country: str = DEFAULT_COUNTRY
    # smtp://user:password@host:587 (STARTTLS); the voicemail twimlet's `Email` needs it and EMAIL_FROM.
    smtp_url: str | None = field(default=None, repr=False)
    email_from: str | None = None
    # A voicemail e-mail attaches its recording up to this size (bytes; 0: always link it).
    voicemail_email_attach_max_bytes: int = 5_000_000
    recordings_container: str = "recordings"
    media_container: str = "media"
    delete_recordings_at_twilio: bool = False
    retention_days: int | None = None  # None: keep forever
    erasure_audit_salt: str | None = field(default=None, repr=False)
    # The outbound retry budget (docs/outbound.md): backoff from base to max seconds, for hours since the first attempt.
    outbound_retry_base_seconds: float = 15.0
    outbound_retry_max_seconds: float = 900.0
    outbound_retry_hours: float = 6.0
    # Pacing (switchboard/outbound/pacing.py): creates per second per sender, and calls per second per account.
    outbound_messages_per_second: float = 1.0
    outbound_calls_per_second: float = 1.0
    # Quiet hours in the recipient's zone (switchboard/policies/quiet.py); None: off for both kinds.
    outbound_quiet_hours: QuietHours | None = None
    # The reconcile timer: ask Twilio about records whose status callbacks did not arrive.
    reconcile_after_minutes: float = 30.0
    reconcile_max_per_run: int = 200
    reconcile_per_second: float = 5.0
    # Events (issue 24): CloudEvents to a Storage queue and, when set, an Event Grid topic.
    events_queue: str = "events"
    event_grid_topic_endpoint: str | None = None
    events_include_body: bool = True
    suppress_on_errors: Mapping[str, timedelta] = field(default_factory=lambda: parse_suppress_on_errors(None))
    # Caps on what the outbound queue sends (policies/limits.py); empty: `off`.
    outbound_limits: tuple[Rule, ...] = field(default_factory=lambda: parse_outbound_limits(None))

    @property
    def salt(self) -> str:
        """The app's salt: ERASURE_AUDIT_SALT, else one derived from TWILIO_AUTH_TOKEN (erasure audit, tombstones)."""
        from switchboard.shared.tags import app_salt

        return app_salt(self.erasure_audit_salt, self.auth_token)

    @property
    def fingerprint_key(self) -> bytes:
        """The key of queue-message fingerprints and tombstones' content hashes (HMAC, never a bare SHA-256)."""
        from switchboard.shared.tags import FINGERPRINT_CONTEXT, derive

        return derive(self.salt, FINGERPRINT_CONTEXT)

    @property
    def limits_key(self) -> bytes:
        """The key of the `limits` table's hashes of numbers (records/limits.py): no number is stored there."""
        from switchboard.shared.tags import LIMITS_CONTEXT, derive

        return derive(self.salt, LIMITS_CONTEXT)

    @property
    def tag_keys(self) -> tuple[bytes, ...]:
        """The app's keys for tagged references (switchboard/shared/tags.py): make with the first, accept all."""
        from switchboard.shared.tags import app_keys

        return app_keys(self.erasure_audit_salt, self.auth_token, self.auth_token_secondary)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in logs, responses or records."""
        values = (
            self.auth_token,
            self.auth_token_secondary,
            self.api_secret,
            *self.webhook_shared_keys.values(),
            *self._smtp_passwords(),
            self.erasure_audit_salt,
        )
        return tuple(s for s in values if s)

    def _smtp_passwords(self) -> tuple[str, ...]:
        """The SMTP password as written in SMTP_URL (percent-encoded) and as sent."""
        from urllib.parse import unquote, urlsplit

        password = urlsplit(self.smtp_url).password if self.smtp_url else None
        return (password, unquote(password)) if password else ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems = setting_problems(env)
        if problems:
            raise SettingsError(" ".join(dict.fromkeys(problem for _, problem in problems)))
        country = _country(env)
        return cls(
            account_sid=_required(env, "TWILIO_ACCOUNT_SID"),
            auth_token=_required(env, "TWILIO_AUTH_TOKEN"),
            auth_token_secondary=_optional(env, "TWILIO_AUTH_TOKEN_SECONDARY"),
            webhook_shared_keys=_shared_keys(env),
            api_key=_optional(env, "TWILIO_API_KEY"),
            api_secret=_optional(env, "TWILIO_API_SECRET"),
            phone_number=_optional(env, "TWILIO_PHONE_NUMBER"),
            public_base_url=_url(env, "PUBLIC_BASE_URL"),
            fallback_base_url=_url(env, "TWILIO_FALLBACK_BASE_URL"),
            api_base_url=_url(env, "TWILIO_API_BASE_URL") or DEFAULT_API_BASE_URL,
            webhook_validation=_bool(env, "WEBHOOK_VALIDATION", default=True),
            trust_forwarded_headers=_bool(env, "TRUST_FORWARDED_HEADERS", default=False),
            voice_greeting=_optional(env, "VOICE_GREETING"),
            voice_forward_to=_number_or_address(env, "VOICE_FORWARD_TO", country),
            voice_forward_timeout=_int(env, "VOICE_FORWARD_TIMEOUT", default=20, low=5, high=600),
            voice_blocklist=frozenset(to_e164(n, country) or n for n in _csv(env, "VOICE_BLOCKLIST")),
            sms_auto_reply=_optional(env, "SMS_AUTO_REPLY"),
            sms_auto_reply_minutes=_int(env, "SMS_AUTO_REPLY_MINUTES", default=10, low=0, high=7 * 24 * 60),
            sms_forward_to=_number_or_address(env, "SMS_FORWARD_TO", country),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", default=64 * 1024, low=1024, high=1024 * 1024),
            twilio_timeout_seconds=float(_int(env, "TWILIO_TIMEOUT_SECONDS", default=10, low=1, high=120)),
            forward_allowed_destinations=_dial_policy(env, country),
            outbound_destinations=_destinations(env, country),
            outbound_channels=_channels(env),
            outbound_alpha_senders=_alpha_senders(env),
            twiml_echo_enabled=_bool(env, "TWIML_ECHO_ENABLED", default=False),
            holdmusic_containers=_holdmusic_containers(env),
            voice_business_hours=_business_hours(env),
            voice_voicemail=_bool(env, "VOICE_VOICEMAIL", default=False),
            voice_voicemail_greeting=_optional(env, "VOICE_VOICEMAIL_GREETING"),
            voice_voicemail_notify=_e164(env, "VOICE_VOICEMAIL_NOTIFY", country),
            records_table=_table(env, "RECORDS_TABLE", default="records"),
            optouts_table=_table(env, "OPTOUTS_TABLE", default="optouts"),
            default_country=country,
            smtp_url=_smtp_url(env),
            email_from=_email_from(env),
            voicemail_email_attach_max_bytes=_int(
                env, "VOICEMAIL_EMAIL_ATTACH_MAX_BYTES", default=5_000_000, low=0, high=15_000_000
            ),
            recordings_container=_container(env, "RECORDINGS_CONTAINER", default="recordings"),
            media_container=_container(env, "MEDIA_CONTAINER", default="media"),
            delete_recordings_at_twilio=_bool(env, "DELETE_RECORDINGS_AT_TWILIO", default=False),
            retention_days=_int(env, "RETENTION_DAYS", default=0, low=1, high=36500) or None,
            erasure_audit_salt=_optional(env, "ERASURE_AUDIT_SALT"),
            **_retry_budget(env),
            outbound_messages_per_second=_number(env, "OUTBOUND_MESSAGES_PER_SECOND", default=1, high=MAX_RATE),
            outbound_calls_per_second=_number(env, "OUTBOUND_CALLS_PER_SECOND", default=1, high=MAX_RATE),
            outbound_quiet_hours=_quiet_hours(env),
            reconcile_after_minutes=_number(env, "RECONCILE_AFTER_MINUTES", default=30, high=7 * 24 * 60),
            reconcile_max_per_run=_int(env, "RECONCILE_MAX_PER_RUN", default=200, low=1, high=10_000),
            reconcile_per_second=_number(env, "RECONCILE_PER_SECOND", default=5, high=100),
            events_queue=_events_queue(env),
            event_grid_topic_endpoint=_event_grid_endpoint(env),
            events_include_body=_bool(env, "EVENTS_INCLUDE_BODY", default=True),
            suppress_on_errors=_suppress_on_errors(env),
            outbound_limits=_outbound_limits(env),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read at first use rather than at import.

    Reading lazily keeps `import function_app` cheap and lets the host index the
    functions even before every setting is in place.
    """
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        # Every request re-reads until the settings are fixed; the reason is logged once per instance.
        if str(error) not in _logged:
            _logged.add(str(error))
            log.error("Settings refused: %s", error)
        raise
    from switchboard.shared.logs import install

    install(settings.secrets)
    return settings


def setting_problems(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(setting, problem) for each setting that cannot work as it is: found before any value is parsed."""
    return unresolved_references(env) + missing_required(env) + unpaired(env)


def unresolved_references(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Settings that still hold a Key Vault reference's literal text: App Service could not resolve them."""
    names = sorted(name for name, value in env.items() if value.strip().lower().startswith(KEY_VAULT_REFERENCE))
    # App Service on Linux also exposes each app setting as APPSETTING_<name>: name the setting once.
    names = [name for name in names if not (name.startswith("APPSETTING_") and name[11:] in env)]
    return [
        (name, f"App setting {name} holds an unresolved Key Vault reference: check that the app's identity has "
               f"the Key Vault Secrets User role on the vault and that the secret exists, then restart the app.")
        for name in names
    ]  # fmt: skip


def missing_required(env: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(name, _missing(name)) for name in REQUIRED if not env.get(name, "").strip()]


def unpaired(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Settings that only work together: an API key without its secret signs every REST call wrongly."""
    problems = []
    for first, second in PAIRED:
        given = [name for name in (first, second) if env.get(name, "").strip()]
        if len(given) == 1:
            missing = second if given[0] == first else first
            problems.append((missing, f"App setting {given[0]} is set but {missing} is not: set both, or neither."))
    return problems


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(_missing(name))
    return value


def _missing(name: str) -> str:
    return (
        f"Missing required app setting {name}. Set it in local.settings.json "
        f"(see local.settings.json.example) or in the Function App's configuration."
    )


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = _optional(env, name)
    if value is None:
        return None
    if not is_http_url(value):
        raise SettingsError(f"App setting {name} must be an http(s) URL, e.g. https://myapp.azurewebsites.net")
    return value.rstrip("/")


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise SettingsError(f"App setting {name} must be true or false, not {value!r}")


def _int(env: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"App setting {name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"App setting {name} must be between {low} and {high}, not {number}")
    return number


def _number(env: Mapping[str, str], name: str, *, default: float, high: float) -> float:
    """A number above 0 (fractions allowed) and at most `high`; 0, a negative or a non-number fails naming it."""
    value = env.get(name, "").strip()
    if not value:
        return float(default)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"App setting {name} must be a number, not {value!r}") from None
    if not 0 < number <= high:  # also refuses nan; inf is over any `high`
        raise SettingsError(f"App setting {name} must be above 0 and at most {high:g}, not {value}")
    return number


def _retry_budget(env: Mapping[str, str]) -> dict[str, float]:
    base = _number(env, "OUTBOUND_RETRY_BASE_SECONDS", default=15, high=3600)
    cap = _number(env, "OUTBOUND_RETRY_MAX_SECONDS", default=900, high=7 * 24 * 3600)
    if cap < base:
        raise SettingsError(
            f"App setting OUTBOUND_RETRY_MAX_SECONDS ({cap:g}) must not be below OUTBOUND_RETRY_BASE_SECONDS ({base:g})"
        )
    hours = _number(env, "OUTBOUND_RETRY_HOURS", default=6, high=7 * 24)
    return {"outbound_retry_base_seconds": base, "outbound_retry_max_seconds": cap, "outbound_retry_hours": hours}


def _csv(env: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


def _dial_policy(env: Mapping[str, str], country: str = DEFAULT_COUNTRY) -> DialPolicy:
    try:
        return DialPolicy.parse(
            env.get("FORWARD_ALLOWED_DESTINATIONS"),
            fallback=[_optional(env, "VOICE_FORWARD_TO")],
            default_country=country,
        )
    except ValueError as error:
        raise SettingsError(f"App setting FORWARD_ALLOWED_DESTINATIONS: {error}") from None


def _destinations(env: Mapping[str, str], country: str = DEFAULT_COUNTRY) -> DestinationPolicy:
    try:
        listed = DialPolicy.parse(env.get("OUTBOUND_ALLOWED_DESTINATIONS"), default_country=country)
    except ValueError as error:
        raise SettingsError(f"App setting OUTBOUND_ALLOWED_DESTINATIONS: {error}") from None
    return DestinationPolicy(
        listed=listed,
        home_number=_optional(env, "TWILIO_PHONE_NUMBER"),
        allow_http=_bool(env, "ALLOW_HTTP_URLS", default=False),
        own_hosts=_own_hosts(env),
    )


def _own_hosts(env: Mapping[str, str]) -> frozenset[str]:
    """This app's host names: PUBLIC_BASE_URL's and, in Azure, WEBSITE_HOSTNAME (the default host name)."""
    from urllib.parse import urlsplit

    hosts = set()
    public = _optional(env, "PUBLIC_BASE_URL")
    if public:
        hosts.add((urlsplit(public).hostname or "").lower())
    website = (_optional(env, "WEBSITE_HOSTNAME") or "").split(":", 1)[0].strip().lower()
    if website:
        hosts.add(website)
    return frozenset(host.rstrip(".") for host in hosts if host)


def _channels(env: Mapping[str, str]) -> frozenset[str]:
    """OUTBOUND_CHANNELS: `sms` (the default), `whatsapp`, or both (`sms,whatsapp`)."""
    given = [part.lower() for part in _csv(env, "OUTBOUND_CHANNELS")]
    unknown = [part for part in given if part not in MESSAGE_CHANNELS]
    if unknown:
        choices = " and/or ".join(MESSAGE_CHANNELS)
        raise SettingsError(f"App setting OUTBOUND_CHANNELS: {', '.join(unknown)} is not a channel; use {choices}")
    return frozenset(given or ["sms"])


def _alpha_senders(env: Mapping[str, str]) -> frozenset[str]:
    """OUTBOUND_ALPHA_SENDERS: the alphanumeric sender IDs the outbound queue may send SMS from."""
    senders = []
    for position, entry in enumerate(env.get("OUTBOUND_ALPHA_SENDERS", "").split(","), start=1):
        sender = entry.strip()
        if not sender:
            continue
        if not is_alpha_sender(sender):
            raise SettingsError(
                f"App setting OUTBOUND_ALPHA_SENDERS: entry {position} is not an alphanumeric sender ID "
                "(1-11 of A-Z a-z 0-9, space, + - _ &, with at least one letter)"
            )
        senders.append(sender)
    return frozenset(senders)


def _shared_keys(env: Mapping[str, str]) -> dict[str, str]:
    """`id:secret,id2:secret2` (TWILIO_WEBHOOK_SHARED_KEYS). Secrets never appear in the error."""
    keys: dict[str, str] = {}
    for position, entry in enumerate(_csv(env, "TWILIO_WEBHOOK_SHARED_KEYS"), start=1):
        key_id, separator, secret = entry.partition(":")
        if not separator or not key_id.strip() or not secret.strip():
            raise SettingsError(f"App setting TWILIO_WEBHOOK_SHARED_KEYS: entry {position} must be <key id>:<secret>")
        keys[key_id.strip()] = secret.strip()
    return keys


def _business_hours(env: Mapping[str, str]) -> BusinessHours | None:
    value = _optional(env, "VOICE_BUSINESS_HOURS")
    if value is None:
        return None
    try:
        return BusinessHours.parse(value)
    except ValueError as error:
        raise SettingsError(
            f"App setting VOICE_BUSINESS_HOURS: {error} (example: Mon-Fri 09:00-17:00 Europe/Amsterdam)"
        ) from None


def _quiet_hours(env: Mapping[str, str]) -> QuietHours | None:
    """OUTBOUND_QUIET_HOURS, overridden per kind by _CALLS and _SMS (`off` for none), and _ZONE."""
    both = _quiet_window(env, "OUTBOUND_QUIET_HOURS", None)
    calls = _quiet_window(env, "OUTBOUND_QUIET_HOURS_CALLS", both)
    sms = _quiet_window(env, "OUTBOUND_QUIET_HOURS_SMS", both)
    zone = _optional(env, "OUTBOUND_QUIET_HOURS_ZONE") or "UTC"
    try:
        check_zone(zone)
    except ValueError as error:
        raise SettingsError(f"App setting OUTBOUND_QUIET_HOURS_ZONE: {error}") from None
    return QuietHours(calls=calls, sms=sms, zone=zone) if calls or sms else None


def _quiet_window(env: Mapping[str, str], name: str, default: Window | None) -> Window | None:
    value = _optional(env, name)
    if value is None:
        return default
    try:
        return parse_window(value)
    except ValueError as error:
        raise SettingsError(f"App setting {name}: {error}") from None


def _e164(env: Mapping[str, str], name: str, country: str = DEFAULT_COUNTRY) -> str | None:
    value = _optional(env, name)
    if value is None:
        return None
    number = to_e164(value, country)
    if number is None:
        raise SettingsError(
            f"App setting {name} must be a phone number such as +15558675310 (or national, in DEFAULT_COUNTRY)"
        )
    return number


def _number_or_address(env: Mapping[str, str], name: str, country: str) -> str | None:
    """A phone number in any written form becomes E.164; anything else (a SIP address) is kept as given."""
    value = _optional(env, name)
    return None if value is None else (to_e164(value, country) or value)


def _country(env: Mapping[str, str]) -> str:
    value = (_optional(env, "DEFAULT_COUNTRY") or DEFAULT_COUNTRY).upper()
    if value == DEFAULT_COUNTRY:
        return value  # no need to load the number library for the default
    if not re.fullmatch(r"[A-Z]{2}", value) or not is_country(value):
        raise SettingsError("App setting DEFAULT_COUNTRY must be a two-letter ISO country code such as US or GB")
    return value


def _smtp_url(env: Mapping[str, str]) -> str | None:
    from urllib.parse import urlsplit

    value = _optional(env, "SMTP_URL")
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        port, parts = -1, None
    if parts is None or parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
        # The value holds a password: never echo it.
        raise SettingsError("App setting SMTP_URL must look like smtp://user:password@host:587 (or smtps://...:465)")
    return value


def _email_from(env: Mapping[str, str]) -> str | None:
    from switchboard.shared.addresses import is_address

    value = _optional(env, "EMAIL_FROM")
    if value is not None and not is_address(value):
        raise SettingsError("App setting EMAIL_FROM must be an e-mail address such as voicemail@example.com")
    return value


def _table(env: Mapping[str, str], name: str, *, default: str) -> str:
    value = _optional(env, name) or default
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", value):
        raise SettingsError(f"App setting {name} must be a table name: 3-63 letters and digits, starting with a letter")
    return value


def _container(env: Mapping[str, str], name: str, *, default: str) -> str:
    value = _optional(env, name) or default
    if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", value):
        raise SettingsError(
            f"App setting {name} must be a blob container name: 3-63 lowercase letters, digits and single hyphens"
        )
    return value


def _holdmusic_containers(env: Mapping[str, str]) -> frozenset[str]:
    """HOLDMUSIC_CONTAINERS: never the recordings' or the media's container (their blobs would be played on hold)."""
    containers = frozenset(_csv(env, "HOLDMUSIC_CONTAINERS") or ["holdmusic"])
    for name, default in (("RECORDINGS_CONTAINER", "recordings"), ("MEDIA_CONTAINER", "media")):
        private = _optional(env, name) or default
        if private in containers:
            raise SettingsError(
                f"App setting HOLDMUSIC_CONTAINERS lists {private}, which is {name}: hold music would play "
                "callers' recordings or media to whoever is on hold. Give hold music a container of its own."
            )
    return containers


def _events_queue(env: Mapping[str, str]) -> str:
    queue = _optional(env, "EVENTS_QUEUE") or "events"
    if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", queue):
        raise SettingsError("App setting EVENTS_QUEUE must be a queue name: 3-63 lowercase letters, digits and hyphens")
    return queue


def _event_grid_endpoint(env: Mapping[str, str]) -> str | None:
    from urllib.parse import urlsplit

    endpoint = _optional(env, "EVENT_GRID_TOPIC_ENDPOINT")
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise SettingsError(
                "App setting EVENT_GRID_TOPIC_ENDPOINT must be an https URL, "
                "e.g. https://mytopic.westeurope-1.eventgrid.azure.net/api/events"
            )
    return endpoint


def _suppress_on_errors(env: Mapping[str, str]) -> dict[str, timedelta]:
    try:
        return parse_suppress_on_errors(_optional(env, "SUPPRESS_ON_ERRORS"))
    except SuppressionConfigError as error:
        raise SettingsError(f"App setting {error}") from None


def _outbound_limits(env: Mapping[str, str]) -> tuple[Rule, ...]:
    try:
        return parse_outbound_limits(_optional(env, "OUTBOUND_LIMITS"))
    except LimitsConfigError as error:
        raise SettingsError(f"App setting {error}") from None
