"""Pure: Twilio's limits on the text the app hands it, and `clip` to keep within one.

Twilio's documented limits: `<Say>` text of 4,096 characters (basic voices; error 13521), an SMS
body of 1,600, a `Twiml` parameter (an outbound call's inline TwiML) of 4,000 (error 32018), and
at most 10 media on one message.
"""

from __future__ import annotations

SAY_LIMIT = 4096
SMS_LIMIT = 1600
TWIML_LIMIT = 4000
MEDIA_LIMIT = 10


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
