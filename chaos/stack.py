"""The processes of a chaos run: Azurite with disk persistence, the local host as a subprocess, the emulator."""

from __future__ import annotations

from pathlib import Path

from tools.localmachine import Azurite, free_port, wait_for_ports

ACCOUNT_SID = "AC" + "c4a05" * 6 + "00"
AUTH_TOKEN = "chaos-auth-token-7f3e9a1b2c4d"
API_KEY = "SK" + "c" * 32
API_SECRET = "chaos-api-secret-5d6e7f8a9b0c"
FUNCTION_KEY = "chaos-function-key"
OUR_NUMBER = "+15005550006"


def app_environment(host_port: int, emulator_url: str, storage: str, timeout_seconds: int) -> dict[str, str]:
    return {
        # Retries in seconds rather than minutes, so that a run settles soon after its 429 storm.
        "OUTBOUND_RETRY_BASE_SECONDS": "1",
        "OUTBOUND_RETRY_MAX_SECONDS": "4",
        "OUTBOUND_RETRY_HOURS": "1",
        # The chaos load is about faults, not pace: paced at 1/s it would take hours (make bench measures pacing).
        "OUTBOUND_MESSAGES_PER_SECOND": "10000",
        "OUTBOUND_CALLS_PER_SECOND": "10000",
        # Nor about caps (the `limits` scenario sets its own) or the auto-reply throttle (chaos.load's webhooks).
        "OUTBOUND_LIMITS": "off",
        "SMS_AUTO_REPLY_MINUTES": "0",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_KEY": API_KEY,
        "TWILIO_API_SECRET": API_SECRET,
        "TWILIO_PHONE_NUMBER": OUR_NUMBER,
        "TWILIO_API_BASE_URL": emulator_url,
        "TWILIO_TIMEOUT_SECONDS": str(timeout_seconds),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{host_port}",
        "AzureWebJobsStorage": storage,
        "LOCAL_FUNCTION_KEY": FUNCTION_KEY,
        "WEBHOOK_VALIDATION": "true",
        "SMS_AUTO_REPLY": "Thanks!",
        "VOICE_GREETING": "Hello.",
    }


def start_azurite(location: Path) -> Azurite:
    return Azurite.on_free_ports(location=location, log_file=location / "azurite.log").start()


def restart_azurite(azurite: Azurite, down_seconds: float = 0.0) -> None:
    """Stop Azurite by PID, leave storage unreachable for `down_seconds`, start it on the same ports and data."""
    import time

    azurite.stop()
    time.sleep(down_seconds)
    azurite.start()
    wait_for_ports(list(azurite.ports), azurite.process, 60, "Azurite")


__all__ = ["free_port", "restart_azurite", "start_azurite"]
