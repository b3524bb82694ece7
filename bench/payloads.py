"""The requests the benchmarks send: Twilio-shaped webhook forms, signed as Twilio signs them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "5eed" * 8
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105 (the emulator's, not a secret)
PUBLIC_BASE_URL = "https://switchboard.example.net"
LOCAL_ORIGIN = "http://127.0.0.1:7071"
OUR_NUMBER = "+15005550006"
CALLER = "+15558675310"
GREETING = "Hello from Switchboard."
DESTINATION = "+15558675310"
BODY = "Hello world."
AUTO_REPLY = "Thanks for your message. We will get back to you soon."

# The settings every benchmark runs with (the app reads them from the environment).
APP_ENV = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_PHONE_NUMBER": OUR_NUMBER,
    "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "WEBHOOK_VALIDATION": "true",
    "VOICE_GREETING": GREETING,
    "SMS_AUTO_REPLY": AUTO_REPLY,
    "LOCAL_FUNCTION_KEY": "bench-function-key",
    # The throughput sections measure the worker, not the pace (bench/pacing.py measures that at its own rate).
    "OUTBOUND_MESSAGES_PER_SECOND": "10000",
    "OUTBOUND_CALLS_PER_SECOND": "10000",
    # Nor the caps (thousands of sends) or the auto-reply throttle (the webhook benchmarks answer one sender often).
    "OUTBOUND_LIMITS": "off",
    "SMS_AUTO_REPLY_MINUTES": "0",
}


def voice_form(index: int = 0) -> dict[str, str]:
    """What Twilio posts to a voice URL when a call comes in."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{index:032x}",
        "CallStatus": "ringing",
        "Called": OUR_NUMBER,
        "CalledCountry": "US",
        "CalledState": "CA",
        "Caller": CALLER,
        "CallerCountry": "US",
        "Direction": "inbound",
        "From": CALLER,
        "FromCountry": "US",
        "FromState": "CA",
        "To": OUR_NUMBER,
        "ToCountry": "US",
    }


def sms_form(index: int = 0) -> dict[str, str]:
    """What Twilio posts to a messaging URL when an SMS comes in."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "Body": "Hello, is anyone there?",
        "From": CALLER,
        "FromCountry": "US",
        "MessageSid": f"SM{index:032x}",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsMessageSid": f"SM{index:032x}",
        "SmsSid": f"SM{index:032x}",
        "SmsStatus": "received",
        "To": OUR_NUMBER,
        "ToCountry": "US",
    }


def twiml_form(index: int = 0) -> dict[str, str]:
    """What Twilio posts when it fetches a TwiML URL for an outbound call it placed."""
    return voice_form(index) | {"Direction": "outbound-api", "CallStatus": "in-progress"}


@dataclass(frozen=True)
class Webhook:
    function: str  # the function name in the app
    path: str  # path and query, as Twilio requests it
    form: dict[str, str]

    @property
    def public_url(self) -> str:
        return PUBLIC_BASE_URL + self.path

    @property
    def local_url(self) -> str:
        return LOCAL_ORIGIN + self.path

    def signature(self, token: str = AUTH_TOKEN) -> str:
        return str(RequestValidator(token).compute_signature(self.public_url, self.form))

    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.signature(),
            "I-Twilio-Idempotency-Token": "bench",
            "User-Agent": "TwilioProxy/1.1",
        }

    def body(self) -> bytes:
        return urlencode(self.form).encode()

    def http_request(self) -> func.HttpRequest:
        """The request object the Functions host would hand to the function."""
        from urllib.parse import parse_qsl, urlsplit

        return func.HttpRequest(
            method="POST", url=self.local_url, headers=self.headers(),
            params=dict(parse_qsl(urlsplit(self.local_url).query, keep_blank_values=True)),
            route_params={}, body=self.body(),
        )  # fmt: skip


def webhooks(index: int = 0) -> list[Webhook]:
    return [
        Webhook("voice_incoming", "/api/voice/incoming", voice_form(index)),
        Webhook("sms_incoming", "/api/sms/incoming", sms_form(index)),
        Webhook("twiml_message", "/api/twiml/message?Message=Hello%20world.", twiml_form(index)),
    ]
