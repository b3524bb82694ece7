"""The one rule for "is an http(s) URL": the published contract's, used by the contract, twimlets and settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from twilio.twiml.voice_response import VoiceResponse

from switchboard import client
from switchboard.settings import Settings, SettingsError
from switchboard.shared.urls import is_http_url
from switchboard.twiml.common import say_or_play
from tests.support import BASE_ENV
from tests.support import XML_DECLARATION as DECL

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "outbound-message.schema.json").read_text())
CASES = [
    ("https://example.com/hello.mp3", True),
    ("http://example.com", True),
    ("https://example.com/a?b=c#d", True),
    ("https://" + "a" * 2040, True),  # 2,048 characters
    ("https://" + "a" * 2041, False),
    ("https://", False),  # no host
    ("https:///path", False),
    ("https://?q", False),
    ("https://example.com/a b", False),
    ("https://example.com/a\tb", False),
    (" https://example.com/", False),  # people's text is stripped first; the rule itself allows no space
    ("https://example.com/\n", False),
    ("HTTPS://example.com/", False),  # the published contract spells the scheme in lower case
    ("ftp://example.com/", False),
    ("wss://example.com/", False),
    ("/api/twiml/message", False),  # relative: Twilio needs an absolute URL
    ("example.com/a.mp3", False),
    ("Hello there", False),
]


@pytest.mark.parametrize(("value", "ok"), CASES)
def test_the_rule(value: str, ok: bool) -> None:
    assert is_http_url(value) is ok


@pytest.mark.parametrize(("value", "ok"), CASES)
def test_the_rule_is_the_published_contracts(value: str, ok: bool) -> None:
    """The schema's `httpUrl` and the stand-alone client's copy of it answer the same."""
    shape = SCHEMA["$defs"]["httpUrl"]
    ecma = shape["pattern"].removesuffix("$") + r"\Z"  # JSON Schema's `$` is ECMA-262's: no newline before it
    assert (len(value) <= shape["maxLength"] and re.search(ecma, value) is not None) is ok
    try:
        client._check_url(value, "url")
    except ValueError:
        assert not ok
    else:
        assert ok


def test_not_a_string_is_not_a_url() -> None:
    assert is_http_url(None) is False
    assert is_http_url(b"https://example.com/") is False


@pytest.mark.parametrize(
    ("value", "xml"),
    [
        ("  https://example.com/hi.mp3 ", "<Play>https://example.com/hi.mp3</Play>"),
        ("https://example.com/hi.mp3", "<Play>https://example.com/hi.mp3</Play>"),
        ("https://", "<Say>https://</Say>"),  # no host: words, as anything else that is not a URL
        ("Welcome to http://example.com", "<Say>Welcome to http://example.com</Say>"),
    ],
)
def test_twimlets_play_what_the_rule_calls_a_url_and_say_the_rest(value: str, xml: str) -> None:
    assert str(say_or_play(VoiceResponse(), value)) == f"{DECL}<Response>{xml}</Response>"


@pytest.mark.parametrize("value", ["https://", "https://app.example.net/a b", "ftp://app.example.net"])
def test_url_settings_follow_the_rule(value: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        Settings.from_env(BASE_ENV | {"PUBLIC_BASE_URL": value})
