from __future__ import annotations

from switchboard.twiml.voice import DEFAULT_GREETING, VoiceConfig, incoming_call
from tests.support import XML_DECLARATION as DECL


def test_nothing_configured_is_a_polite_greeting_then_hangup() -> None:
    assert str(incoming_call("+15558675310", "+15005550006", VoiceConfig())) == (
        f"{DECL}<Response><Say>{DEFAULT_GREETING}</Say><Hangup /></Response>"
    )


def test_text_greeting_is_said() -> None:
    assert str(incoming_call(None, None, VoiceConfig(greeting="Welcome & hello <friend>"))) == (
        f"{DECL}<Response><Say>Welcome &amp; hello &lt;friend&gt;</Say><Hangup /></Response>"
    )


def test_url_greeting_is_played() -> None:
    config = VoiceConfig(greeting="https://cdn.example.net/hello.mp3")
    assert str(incoming_call(None, None, config)) == (
        f"{DECL}<Response><Play>https://cdn.example.net/hello.mp3</Play><Hangup /></Response>"
    )


def test_forward_dials_with_timeout_and_callers_number() -> None:
    config = VoiceConfig(greeting="Connecting you.", forward_to="+15551230000", forward_timeout=25)
    assert str(incoming_call("+15558675310", "+15005550006", config)) == (
        f"{DECL}<Response><Say>Connecting you.</Say>"
        f'<Dial callerId="+15558675310" timeout="25">+15551230000</Dial></Response>'
    )


def test_forward_for_anonymous_caller_uses_called_number() -> None:
    config = VoiceConfig(forward_to="+15551230000", caller_id="+15005550006")
    assert str(incoming_call("anonymous", "+15005550099", config)) == (
        f'{DECL}<Response><Dial callerId="+15005550099" timeout="20">+15551230000</Dial></Response>'
    )


def test_blocklisted_caller_is_rejected() -> None:
    config = VoiceConfig(greeting="Hi", forward_to="+15551230000", blocklist=frozenset({"+15558675310"}))
    assert str(incoming_call("+15558675310", "+15005550006", config)) == f"{DECL}<Response><Reject /></Response>"
