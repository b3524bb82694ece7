"""Pure: what a failed create call means for the request.

- `permanent`: Twilio answered with a 4xx other than 429 (21211 invalid To, 21608 unverified
  number, ...). Retrying cannot help: the record is `failed`.
- `transient`: Twilio answered 429 or 5xx, or the request never left (connection refused,
  connect timeout). Nothing was created; the queue retries.
- `ambiguous`: the request may have reached Twilio but the answer was lost (read timeout,
  connection dropped after sending, an unreadable answer). Twilio may have created the call
  or message, so it is reconciled before anything else and never blindly sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchboard.shared.text import clip

Kind = Literal["permanent", "transient", "ambiguous"]
_NOT_SENT_NAMES = frozenset({"NewConnectionError", "ConnectTimeoutError", "ConnectTimeout", "ConnectionRefusedError"})


@dataclass(frozen=True)
class Failure:
    kind: Kind
    message: str
    code: int | None = None
    status: int | None = None


def classify(error: BaseException) -> Failure:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if isinstance(error, TwilioException):
        status = getattr(error, "status", None)
        code = getattr(error, "code", None)
        text = _twilio_message(error)
        if isinstance(status, int):
            if status == 429 or status >= 500:
                return Failure("transient", text, _int(code), status)
            if 400 <= status < 500:
                return Failure("permanent", text, _int(code), status)
        if not isinstance(error, TwilioRestException):
            return Failure("ambiguous", text, _int(code), status if isinstance(status, int) else None)
    if never_left(error):
        return Failure("transient", f"could not connect to Twilio: {type(error).__name__}")
    return Failure("ambiguous", f"no answer from Twilio: {type(error).__name__}: {_short(error)}")


def never_left(error: BaseException) -> bool:
    """True when the error proves the request was not sent: the connection was never made."""
    seen: set[int] = set()
    stack: list[object] = [error]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if type(item).__name__ in _NOT_SENT_NAMES:
            return True
        stack += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return False


def _twilio_message(error: BaseException) -> str:
    for name in ("msg", "detail", "title"):
        value = getattr(error, name, None)
        if isinstance(value, str) and value:
            return _short(value)
    return type(error).__name__


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _short(value: object, limit: int = 500) -> str:
    return clip(str(value), limit)
