"""Issue 24's settings: the events queue, the Event Grid endpoint (https only), bodies in events, suppression."""

from __future__ import annotations

from datetime import timedelta

import pytest

from switchboard.settings import Settings, SettingsError

MINIMAL = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token"}


def test_event_defaults() -> None:
    settings = Settings.from_env(MINIMAL)
    assert settings.events_queue == "events"
    assert settings.event_grid_topic_endpoint is None
    assert settings.events_include_body is True
    assert settings.suppress_on_errors == {"30003": timedelta(days=7), "30005": timedelta(days=30),
                                           "30006": timedelta(days=30)}  # fmt: skip


def test_event_settings_given() -> None:
    settings = Settings.from_env(MINIMAL | {
        "EVENTS_QUEUE": "app-events", "EVENT_GRID_TOPIC_ENDPOINT": "https://t.westeurope-1.eventgrid.azure.net/api/events",
        "EVENTS_INCLUDE_BODY": "false", "SUPPRESS_ON_ERRORS": "off"})  # fmt: skip
    assert settings.events_queue == "app-events"
    assert settings.event_grid_topic_endpoint == "https://t.westeurope-1.eventgrid.azure.net/api/events"
    assert settings.events_include_body is False
    assert settings.suppress_on_errors == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [("EVENT_GRID_TOPIC_ENDPOINT", "http://t.eventgrid.azure.net/api/events"), ("EVENT_GRID_TOPIC_ENDPOINT", "topic"),
     ("SUPPRESS_ON_ERRORS", "99999:7d"), ("SUPPRESS_ON_ERRORS", "30006:7w"), ("SUPPRESS_ON_ERRORS", "30006"),
     ("EVENTS_QUEUE", "Events!"), ("EVENTS_INCLUDE_BODY", "maybe")],
)  # fmt: skip
def test_bad_event_settings_fail_at_start_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(MINIMAL | {name: value})
