"""Pure: what a failed create call means for the request.

- `permanent`: Twilio answered with a 4xx other than 429 (21211 invalid To, 21608 unverified
  number, ...). Retrying cannot help: the record is `failed`.
- `transient`: Twilio did not carry the request out and says so: 429 (20429, never processed),
  or a refusal to queue more for now (21611 a sender's queue is full, 22005 too many calls queued,
  30001 queue overflow), or the request never left (connection refused, connect timeout).
  Nothing was created; the message is put back on the queue with a growing delay.
- `ambiguous`: the request may have reached Twilio and been carried out: any 5xx (Twilio's 20500
  page says a create that answered 500 may have been performed), a read timeout, a connection
  dropped after sending, an unreadable 2xx. Twilio is asked what it has before anything else,
  and the request is never blindly sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from switchboard.shared.text import clip

Kind = Literal["permanent", "transient", "ambiguous"]
_NOT_SENT_NAMES = frozenset({"NewConnectionError", "ConnectTimeoutError", "ConnectTimeout", "ConnectionRefusedError"})
# 4xx codes that mean "not now" rather than "never": queue limits at Twilio (documented as retryable later).
NOT_NOW_CODES = frozenset({21611, 22005, 30001})


@dataclass(frozen=True)
class Failure:
    kind: Kind
    message: str
    code: int | None = None
    status: int | None = None
    retry_after: float | None = None  # seconds, from Twilio's Retry-After header when it sent one


def classify(error: BaseException, *, retry_after: float | None = None) -> Failure:
    from twilio.base.exceptions import TwilioException, TwilioRestException

    if isinstance(error, TwilioException):
        status = getattr(error, "status", None)
        code = getattr(error, "code", None)
        text = _twilio_message(error)
        number = _int(code)
        answered = _by_status(status, number, text, retry_after) if isinstance(status, int) else None
        if answered is not None:
            return answered
        if not isinstance(error, TwilioRestException):
            return Failure("ambiguous", text, number, status if isinstance(status, int) else None)
    if never_left(error):
        return Failure("transient", f"could not connect to Twilio: {type(error).__name__}")
    if isinstance(error, ValueError):  # json.JSONDecodeError: a 2xx whose body is not Twilio's JSON
        return Failure("ambiguous", f"unreadable answer from Twilio: {type(error).__name__}: {_short(error)}")
    return Failure("ambiguous", f"no answer from Twilio: {type(error).__name__}: {_short(error)}")


def _by_status(status: int, code: int | None, text: str, retry_after: float | None) -> Failure | None:
    if status == 429 or (400 <= status < 500 and code in NOT_NOW_CODES):
        return Failure("transient", text, code, status, retry_after)
    if status >= 500:
        return Failure("ambiguous", text, code, status, retry_after)
    if 400 <= status < 500:
        return Failure("permanent", text, code, status)
    if 200 <= status < 300:  # a 2xx whose body could not be read
        return Failure("ambiguous", f"unreadable answer from Twilio: {text}", code, status)
    return None


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
