"""What every twimlet shares: its parameters, its configuration, follow-up URLs and parameter checks."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from switchboard.policies.dialpolicy import DialPolicy
from switchboard.settings import Settings
from switchboard.shared.phones import DEFAULT_COUNTRY, mask, to_e164
from switchboard.shared.urls import URL_LIMIT, is_http_url
from switchboard.webhooks.request import Params

log = logging.getLogger("switchboard.twimlets")

# Query keys that belong to us, not to the user's configuration; follow-up URLs replace them.
CONTROL_KEYS = frozenset({"Stage", "Index", "Loop", "Attempt", "VoicemailFrom"})
# What Twilio adds to the query of a GET webhook; follow-up URLs leave it out (Twilio sends it afresh).
TWILIO_REQUEST_KEYS = frozenset(
    {
        "AccountSid", "ApiVersion", "CallSid", "CallStatus", "CallToken", "Called", "CalledCity", "CalledCountry",
        "CalledState", "CalledZip", "Caller", "CallerCity", "CallerCountry", "CallerName", "CallerState",
        "CallerZip", "Confidence", "DialBridged", "DialCallDuration", "DialCallSid", "DialCallStatus", "Digits",
        "Direction", "FinishedOnKey", "ForwardedFrom", "From", "FromCity", "FromCountry", "FromState", "FromZip",
        "ParentCallSid", "RecordingDuration", "RecordingSid", "RecordingUrl", "SpeechResult", "StirVerstat",
        "To", "ToCity", "ToCountry", "ToState", "ToZip",
    }
)  # fmt: skip
MAX_NUMBERS = 10
# Twilio's <Dial timeout> range; it clamps values outside it, and so do we.
DIAL_TIMEOUT_MIN, DIAL_TIMEOUT_MAX = 5, 600
AUDIO_EXTENSIONS = (".mp3", ".wav", ".aif", ".aiff", ".gsm", ".ul", ".ulaw")
_DIGITS = re.compile(r"^[0-9]{1,6}$")
_COUNTER = re.compile(r"^[0-9]{1,4}$")


class BadParameter(ValueError):
    """A twimlet URL is misconfigured. The caller hears a polite apology; the reason goes to the log."""


@dataclass(frozen=True)
class VoicemailEvent:
    call_sid: str
    recording_sid: str
    recording_url: str | None = None
    duration: int | None = None
    transcript: str | None = None
    transcription_status: str | None = None
    caller: str | None = None


class VoicemailSink(Protocol):
    """Where voicemail lands: the adapter stores it and queues the SMS notice."""

    def save_voicemail(self, event: VoicemailEvent) -> bool | None:
        """False: the call was erased (a replayed callback), so nothing is stored and no notice goes out."""

    def notify_voicemail(self, number: str, event: VoicemailEvent) -> None: ...

    def email_voicemail(self, address: str, event: VoicemailEvent) -> None: ...


ListAudio = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class TwimletConfig:
    destinations: DialPolicy = field(default_factory=DialPolicy)
    echo_enabled: bool = False
    holdmusic_containers: frozenset[str] = frozenset({"holdmusic"})
    default_country: str = DEFAULT_COUNTRY

    @classmethod
    def from_settings(cls, settings: Settings) -> TwimletConfig:
        return cls(
            destinations=settings.forward_allowed_destinations,
            echo_enabled=settings.twiml_echo_enabled,
            holdmusic_containers=settings.holdmusic_containers,
            default_country=settings.default_country,
        )


_SHARED_RNG = random.Random()  # noqa: S311 (shuffling a playlist needs no secrecy)


@dataclass(frozen=True)
class Call:
    """One request to a twimlet.

    The signed URL is the configuration: `get`, `phone`, `url`... read the URL's `query` only. Twilio's own
    request fields (`From`, `Digits`, `DialCallStatus`, ...) come from `request_field`: the POSTed `form`, or the
    query when Twilio used GET. Extra form fields (a Voice SDK's caller-chosen params) configure nothing.
    Follow-up URLs are `prefix` (the path of PUBLIC_BASE_URL) + `path` + query; relative URLs in the
    configuration resolve against `request_url`, the public URL Twilio requested, as Twilio resolves them.
    """

    query: Params
    path: str
    form: Params = field(default_factory=Params)
    method: str = "POST"
    request_url: str = ""
    prefix: str = ""
    config: TwimletConfig = field(default_factory=TwimletConfig)
    voicemail: VoicemailSink | None = None
    list_audio: ListAudio | None = None
    # Seeding a generator per request costs more than answering it; only hold music shuffles.
    rng: random.Random = field(default_factory=lambda: _SHARED_RNG)

    @property
    def stage(self) -> str:
        return self.query.get("Stage") or ""

    def get(self, name: str) -> str | None:
        """The first non-blank configured value, in any twimlets.com spelling: `X`, `X[]` or `X[0]`."""
        for value in self.query.list_param(name):
            if value.strip():
                return value.strip()
        return None

    def request_field(self, name: str) -> str | None:
        """One of Twilio's request fields: from the form on POST, from the query on GET."""
        source = self.query if self.method == "GET" else self.form
        value = source.get(name)
        return value.strip() if value is not None and value.strip() else None

    def control(self, name: str) -> str | None:
        """Our own bookkeeping (stage, loop counters) is read from the signed URL only."""
        return self.query.get(name)

    def counter(self, name: str, default: int) -> int:
        """A loop or retry counter from our own follow-up URL."""
        value = self.control(name)
        if value is None:
            return default
        if not _COUNTER.match(value):
            raise BadParameter(f"{name} is not a small whole number")
        return int(value)

    def self_url(self, **control: str | int) -> str:
        """This route again, with the user's parameters unchanged and our control keys replaced."""
        return self.sibling_url(self.path.rsplit("/", 1)[-1], None, **control)

    def sibling_url(self, name: str, params: Sequence[tuple[str, str]] | None, /, **control: str | int) -> str:
        """Another twimlet next to this one (`whisper`, `voicemail`); `params=None` keeps this request's query."""
        base = self.prefix + self.path.rsplit("/", 1)[0] + "/" + name
        if params is None:
            pairs = [(k, v) for k, v in self.query.pairs if k not in CONTROL_KEYS and k not in TWILIO_REQUEST_KEYS]
        else:
            pairs = list(params)
        pairs += [(key, str(value)) for key, value in control.items()]
        return base + ("?" + urlencode(pairs) if pairs else "")

    def resolve(self, value: str) -> str:
        """A relative URL (`voicemail?Email=...`, `/busy.mp3`) resolved as Twilio does, against the request URL."""
        if is_http_url(value.strip()) or not self.request_url:
            return value
        return urljoin(self.request_url, value)

    @property
    def country(self) -> str:
        return self.config.default_country

    # Parameter checks: each raises BadParameter with a reason fit for the log.

    def phone(self, name: str, *, required: bool = False) -> str | None:
        value = self.get(name)
        if value is None:
            if required:
                raise BadParameter(f"{name} is required")
            return None
        number = to_e164(value, self.country)
        if number is None:
            raise BadParameter(f"{name} is not a phone number")
        return number

    def phones(self, name: str, *, required: bool = False) -> list[str]:
        """A list of numbers; an entry that is not a number is skipped and logged, as long as one is left."""
        values = [v.strip() for v in self.query.list_param(name) if v.strip()]
        if required and not values:
            raise BadParameter(f"{name} is required")
        if len(values) > MAX_NUMBERS:
            raise BadParameter(f"{name} lists {len(values)} numbers; at most {MAX_NUMBERS} are dialled")
        numbers: list[str] = []
        for position, value in enumerate(values):
            number = to_e164(value, self.country)
            if number is None:
                log.warning("%s entry %d is not a phone number; skipped", name, position)
            elif number not in numbers:
                numbers.append(number)
        if values and not numbers:
            raise BadParameter(f"{name} holds no phone number")
        return numbers

    def caller_numbers(self) -> set[str]:
        """The numbers Twilio vouches for as this call's party, as E.164, for Moderators and AllowedCallers.

        `From` always. `To` only on a call the account placed (`Direction` outbound-api or outbound-dial: the
        person called is the party): on an inbound call `To` is the number dialled, and a Voice SDK or SIP
        caller (`From` is `client:…` or `sip:…`) chooses it freely. twimlets.com matched either, always.
        """
        names = ["From"]
        direction = (self.request_field("Direction") or "").lower()
        origin = (self.request_field("From") or "").lower()
        if direction.startswith("outbound") and not origin.startswith(("client:", "sip:")):
            names.append("To")
        found = set()
        for name in names:
            number = to_e164(self.request_field(name), self.country)
            if number is not None:
                found.add(number)
        return found

    def destinations(self, numbers: Sequence[str]) -> list[str]:
        """Refuse numbers outside FORWARD_ALLOWED_DESTINATIONS (toll-fraud guard)."""
        policy = self.config.destinations
        refused = [n for n in numbers if not policy.allows(n)]
        if refused:
            hint = (
                ""
                if policy.configured
                else " (FORWARD_ALLOWED_DESTINATIONS is unset, so only VOICE_FORWARD_TO may be dialled;"
                " set it to numbers or prefixes such as +1555*)"
            )
            raise BadParameter(f"destination {', '.join(mask(n) for n in refused)} is not allowed{hint}")
        return list(numbers)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        if not _DIGITS.match(value) or not low <= int(value) <= high:
            raise BadParameter(f"{name} must be a whole number from {low} to {high}")
        return int(value)

    def timeout(self, default: int) -> int:
        """`Timeout` clamped to Twilio's <Dial> range, as Twilio itself clamps; not a number -> the default."""
        value = self.get("Timeout")
        if value is None:
            return default
        if not _DIGITS.match(value):
            log.warning("Timeout is not a whole number; using %d", default)
            return default
        if int(value) == 0:
            # twimlets.com read 0 as "not given" (PHP's falsy "0"): the twimlet's default, not the 5 s minimum.
            return default
        return min(max(int(value), DIAL_TIMEOUT_MIN), DIAL_TIMEOUT_MAX)

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise BadParameter(f"{name} must be true or false")

    def url(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        return self.checked_url(value, name)

    def checked_url(self, value: str, name: str) -> str:
        """Relative URLs are resolved against the request URL, then pass the same check as absolute ones."""
        resolved = self.resolve(value)
        if not is_url(resolved):
            raise BadParameter(f"{name} is not an http(s) URL or a path")
        return resolved

    def audio_or_text(self, value: str) -> str:
        """A `Message`: an http(s) URL or a relative audio file (`greeting.mp3`) is played; other text is said."""
        if is_http_url(value.strip()):
            return value
        # Resolved against the request URL, it becomes an absolute URL and is played. Without one (the
        # default voice flow, configured by settings) a relative value stays words to say.
        if looks_like_audio_path(value) and self.request_url:
            return self.checked_url(value, "Message")
        return value


def looks_like_audio_path(value: str) -> bool:
    """`greeting.mp3`, `/audio/hello.wav?v=2`: a relative URL of an audio file, not words to say."""
    text = value.strip()
    if not text or any(c.isspace() for c in text) or len(text) > URL_LIMIT:
        return False
    return urlsplit(text).path.lower().endswith(AUDIO_EXTENSIONS)


def is_url(value: str) -> bool:
    """An absolute http(s) URL, or a path on this app (Twilio resolves it against the request URL)."""
    if is_http_url(value.strip()):
        return True
    return value.startswith("/") and not value.startswith("//") and len(value) <= URL_LIMIT and " " not in value
