"""Logging that cannot leak: every record has secrets redacted and phone numbers masked.

A record factory is used rather than a handler filter because in Azure the
handlers belong to the Functions host; the factory sees every record this
process creates, the twilio SDK's own included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from switchboard.shared.phones import mask_in_text

REDACTED = "[redacted]"
SECRET_SETTINGS = ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_SECONDARY", "TWILIO_API_SECRET")
SHARED_KEYS_SETTING = "TWILIO_WEBHOOK_SHARED_KEYS"  # id:secret,id2:secret2
_secrets: tuple[str, ...] = ()
_installed = False


# Control characters in a message (a caller's value with CR/LF could forge a log line) are shown escaped: C0 and
# C1 (NEL, CSI), and Unicode's line and paragraph separators, which readers also take for line breaks.
# Tracebacks (exc_text) keep their lines.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0)) if code != 0x09}
_CONTROLS |= {0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def one_line(text: str) -> str:
    """`text` with CR, LF and the other control characters (tab aside) escaped: one log line stays one line."""
    return text.translate(_CONTROLS)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in secrets if secrets is not None else _secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    return mask_in_text(text)


def install(secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> None:
    """Install the masking record factory once, and remember secrets to redact.

    The secret settings already in the environment are redacted from the start, so
    nothing logged before the settings are first read can leak them either.
    """
    global _secrets, _installed
    env = os.environ if env is None else env
    known = {env.get(name, "").strip() for name in SECRET_SETTINGS} | set(secrets)
    known |= {entry.partition(":")[2].strip() for entry in env.get(SHARED_KEYS_SETTING, "").split(",")}
    _secrets = tuple(sorted(set(_secrets) | {s for s in known if s}, key=len, reverse=True))
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = one_line(redact(message)), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback is redacted once, here.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
    # The SDKs log every request at INFO (bodies, headers); our own lines say what matters.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
