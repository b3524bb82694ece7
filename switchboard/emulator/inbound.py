"""Inbound traffic, as Twilio sends it to a number's webhooks: a call walked to its end, or an SMS and its replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from switchboard.emulator.callflow import CallScript, DialOutcome, TwimlError, parse
from switchboard.emulator.resources import API_VERSION, new_sid, num_segments
from switchboard.emulator.voice import (
    LOCATION_FIELDS,
    CallParty,
    CallResult,
    number_location,
    read_capped,
    signed_request,
    walk_call,
)


@dataclass(frozen=True)
class Reply:
    to: str
    from_: str
    body: str
    media: tuple[str, ...] = ()


@dataclass
class SmsResult:
    message_sid: str
    status: int | None
    replies: list[Reply] = field(default_factory=list)
    redirect: str | None = None
    error: str | None = None


def inbound_call(
    url: str,
    *,
    account_sid: str,
    auth_token: str,
    to: str,
    from_: str,
    digits: tuple[str, ...] = (),
    dial: dict[str, DialOutcome] | None = None,
    method: str = "POST",
    session: Any = None,
) -> tuple[str, CallResult]:
    """Ring `url` as Twilio rings a number's Voice URL; returns the CallSid and the walked call."""
    party = CallParty(account_sid, auth_token, new_sid("CA"), from_, to, "inbound")
    script = CallScript(digits=digits, dial=dict(dial or {}))
    return party.call_sid, walk_call(party, script, url=url, method=method, first_status="ringing", session=session)


def sms_params(account_sid: str, message_sid: str, to: str, from_: str, body: str) -> dict[str, str]:
    params = {
        "AccountSid": account_sid, "ApiVersion": API_VERSION, "Body": body, "From": from_,
        "MessageSid": message_sid, "NumMedia": "0", "NumSegments": str(num_segments(body)),
        "SmsMessageSid": message_sid, "SmsSid": message_sid, "SmsStatus": "received", "To": to,
    }  # fmt: skip
    for side, number in (("From", from_), ("To", to)):
        for name, value in zip(LOCATION_FIELDS, number_location(number), strict=True):
            params[side + name] = value
    return params


def inbound_sms(
    url: str, *, account_sid: str, auth_token: str, to: str, from_: str, body: str, session: Any = None
) -> SmsResult:
    """POST an inbound SMS webhook, signed, and read the <Message> replies from the answer."""
    import requests

    session = session or requests.Session()
    sid = new_sid("SM")
    result = SmsResult(sid, None)
    try:
        response = signed_request(session, auth_token, "POST", url, sms_params(account_sid, sid, to, from_, body))
    except requests.RequestException as error:
        result.error = f"HTTP retrieval failure: {type(error).__name__}"
        return result
    result.status = response.status_code
    document = read_capped(response)
    if response.status_code != 200:
        result.error = f"HTTP retrieval failure: {response.status_code}"
        return result
    try:
        result.replies, result.redirect = replies_of(document, sender=from_, number=to)
    except TwimlError as error:
        result.error = str(error)
    return result


def replies_of(document: bytes | str, *, sender: str, number: str) -> tuple[list[Reply], str | None]:
    """Pure: the messages a MessagingResponse sends (to the sender, from our number, unless it says otherwise)."""
    replies: list[Reply] = []
    for verb in parse(document):
        if verb.tag == "Redirect":
            return replies, (verb.text or "").strip()
        if verb.tag != "Message":
            continue
        body_element = verb.find("Body")
        text = "".join(body_element.itertext()) if body_element is not None else (verb.text or "")
        media = tuple((m.text or "").strip() for m in verb.findall("Media"))
        replies.append(Reply(verb.get("to") or sender, verb.get("from") or number, text.strip(), media))
    return replies, None
