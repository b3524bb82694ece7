"""Log records have secrets redacted and phone numbers masked, from the moment the app is imported."""

from __future__ import annotations

import logging

import pytest

from switchboard.shared.logs import install
from tests.support import AUTH_TOKEN


def test_secrets_in_the_environment_are_redacted_before_settings_are_read(caplog: pytest.LogCaptureFixture) -> None:
    install(env={"TWILIO_AUTH_TOKEN": "env-only-secret-4711", "TWILIO_API_SECRET": ""})
    with caplog.at_level(logging.INFO):
        logging.getLogger("switchboard.test").info("connecting with %s", "env-only-secret-4711")
    assert caplog.messages == ["connecting with [redacted]"]


def test_tracebacks_and_numbers_are_cleaned_too(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        try:
            raise RuntimeError(f"token {AUTH_TOKEN} for +15558675310")
        except RuntimeError:
            logging.getLogger("switchboard.test").exception("call to %s failed", "+447700900123")
    text = caplog.text
    assert "call to +4477***0123 failed" in text
    assert "token [redacted] for +1555***5310" in text
    assert AUTH_TOKEN not in text
    assert "+15558675310" not in text
