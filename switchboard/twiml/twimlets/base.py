"""What every twimlet shares: its parameters, its configuration, follow-up URLs and parameter checks."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from switchboard.dialpolicy import DialPolicy
from switchboard.phones import is_e164, mask
from switchboard.settings import Settings
from switchboard.twiml.common import URL_LIMIT, is_http_url
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

    def save_voicemail(self, event: VoicemailEvent) -> None: ...

    def notify_voicemail(self, number: str, event: VoicemailEvent) -> None: ...


ListAudio = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class TwimletConfig:
    destinations: DialPolicy = field(default_factory=DialPolicy)
    echo_enabled: bool = False
    holdmusic_containers: frozenset[str] = frozenset({"holdmusic"})

    @classmethod
    def from_settings(cls, settings: Settings) -> TwimletConfig:
        return cls(
            destinations=settings.forward_allowed_destinations,
            echo_enabled=settings.twiml_echo_enabled,
            holdmusic_containers=settings.holdmusic_containers,
        )


_SHARED_RNG = random.Random()  # noqa: S311 (shuffling a playlist needs no secrecy)


@dataclass(frozen=True)
class Call:
    """One request to a twimlet. `params` is form then query; follow-up URLs are built from `path` + `query`."""

    params: Params
    query: Params
    path: str
    config: TwimletConfig = field(default_factory=TwimletConfig)
    voicemail: VoicemailSink | None = None
    list_audio: ListAudio | None = None
    # Seeding a generator per request costs more than answering it; only hold music shuffles.
    rng: random.Random = field(default_factory=lambda: _SHARED_RNG)

    @property
    def stage(self) -> str:
        return self.query.get("Stage") or ""

    def get(self, name: str) -> str | None:
        """The first non-blank value, in any twimlets.com spelling: `X`, `X[]` or `X[0]`."""
        for value in self.params.list_param(name):
            if value.strip():
                return value.strip()
        return None

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
        base = self.path.rsplit("/", 1)[0] + "/" + name
        if params is None:
            pairs = [(k, v) for k, v in self.query.pairs if k not in CONTROL_KEYS and k not in TWILIO_REQUEST_KEYS]
        else:
            pairs = list(params)
        pairs += [(key, str(value)) for key, value in control.items()]
        return base + ("?" + urlencode(pairs) if pairs else "")

    # Parameter checks: each raises BadParameter with a reason fit for the log.

    def phone(self, name: str, *, required: bool = False) -> str | None:
        value = self.get(name)
        if value is None:
            if required:
                raise BadParameter(f"{name} is required")
            return None
        if not is_e164(value):
            raise BadParameter(f"{name} is not an E.164 number")
        return value

    def phones(self, name: str, *, required: bool = False) -> list[str]:
        values = [v.strip() for v in self.params.list_param(name) if v.strip()]
        if required and not values:
            raise BadParameter(f"{name} is required")
        if len(values) > MAX_NUMBERS:
            raise BadParameter(f"{name} lists {len(values)} numbers; at most {MAX_NUMBERS} are dialled")
        for value in values:
            if not is_e164(value):
                raise BadParameter(f"{name} holds {mask(value) if value.startswith('+') else 'a value'} not in E.164")
        return values

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
        if not is_url(value):
            raise BadParameter(f"{name} is not an http(s) URL or a path")
        return value


def is_url(value: str) -> bool:
    """An absolute http(s) URL, or a path on this app (Twilio resolves it against the request URL)."""
    if is_http_url(value):
        return True
    return value.startswith("/") and not value.startswith("//") and len(value) <= URL_LIMIT and " " not in value
