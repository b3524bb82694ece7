"""Inbound traffic, as Twilio sends it to a number's webhooks: a call walked to its end, or an SMS and its replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from switchboard.shared.phones import WHATSAPP_PREFIX
from tools.emulator.callflow import CallScript, DialOutcome, TwimlError, parse
from tools.emulator.recordings import MediaLibrary, RemoteMedia
from tools.emulator.resources import API_VERSION, new_sid, num_segments
from tools.emulator.voice import (
    LOCATION_FIELDS,
    CallParty,
    CallResult,
    number_location,
    read_capped,
    signed_request,
    voice_params,
    walk_call,
)

log = logging.getLogger("tools.emulator")
WHATSAPP_PROFILE_NAME = "Emulated WhatsApp user"


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
    media: MediaLibrary | RemoteMedia | None = None,
) -> tuple[str, CallResult]:
    """Ring `url` as Twilio rings a number's Voice URL; returns the CallSid and the walked call.

    With `media` (an emulator's `MediaLibrary`), each `<Record>` leaves a Recording there, with a real WAV.
    """
    party = CallParty(account_sid, auth_token, new_sid("CA"), from_, to, "inbound")
    script = CallScript(digits=digits, dial=dict(dial or {}))

    def recorded(sid: str, seconds: int) -> None:
        if media is None:
            return
        try:
            media.add_recording(party.call_sid, sid=sid, duration=seconds)
        except Exception as error:  # an emulator that is not running: the walk goes on without the file
            log.warning("Could not leave recording %s at the emulator: %s", sid, error)

    return party.call_sid, walk_call(
        party, script, url=url, method=method, first_status="ringing", session=session, on_recording=recorded
    )


def sms_params(  # noqa: PLR0917 (Twilio's parameters, positionally as before)
    account_sid: str,
    message_sid: str,
    to: str,
    from_: str,
    body: str,
    media: list[tuple[str, str]] | None = None,
    opt_out_type: str | None = None,
) -> dict[str, str]:
    params = {
        "AccountSid": account_sid, "ApiVersion": API_VERSION, "Body": body, "From": from_,
        "MessageSid": message_sid, "NumMedia": str(len(media or [])), "NumSegments": str(num_segments(body)),
        "SmsMessageSid": message_sid, "SmsSid": message_sid, "SmsStatus": "received", "To": to,
    }  # fmt: skip
    if opt_out_type:
        # Advanced Opt-Out: Twilio's verdict on a keyword message (STOP, START, HELP), in any language it was given.
        params["OptOutType"] = opt_out_type
    if from_.startswith(WHATSAPP_PREFIX):
        # WhatsApp's own fields in place of the carrier's location: the sender's WhatsApp id and profile name.
        params |= {"WaId": from_.removeprefix(WHATSAPP_PREFIX).lstrip("+"), "ProfileName": WHATSAPP_PROFILE_NAME}
    else:
        for side, number in (("From", from_), ("To", to)):
            for name, value in zip(LOCATION_FIELDS, number_location(number), strict=True):
                params[side + name] = value
    for index, (media_url, content_type) in enumerate(media or []):
        params[f"MediaUrl{index}"] = media_url
        params[f"MediaContentType{index}"] = content_type
    return params


def inbound_sms(
    url: str,
    *,
    account_sid: str,
    auth_token: str,
    to: str,
    from_: str,
    body: str,
    session: Any = None,
    media: MediaLibrary | RemoteMedia | None = None,
    num_media: int = 0,
    opt_out_type: str | None = None,
) -> SmsResult:
    """POST an inbound SMS webhook, signed, and read the <Message> replies from the answer.

    A `from_` of `whatsapp:+…` makes it an inbound WhatsApp message (with `WaId` and `ProfileName`).

    `opt_out_type` (STOP, START, HELP) adds `OptOutType`, as Twilio does for a keyword message to a number in a
    Messaging Service with Advanced Opt-Out (its keywords can be any language's: "ARRET").

    `num_media` > 0 makes it an MMS (an `MM…` SID) whose images (real PNGs) live in `media`, the
    emulator's `MediaLibrary`, under the Message's Media resource; `MediaUrl<n>` point there.
    """
    import requests

    if num_media and media is None:
        raise ValueError("an MMS needs the emulator's MediaLibrary to hold its media")
    session = session or requests.Session()
    sid = new_sid("MM" if num_media else "SM")
    attached = media.add_message_media(sid, num_media) if media is not None and num_media else []
    result = SmsResult(sid, None)
    try:
        params = sms_params(account_sid, sid, to, from_, body, attached, opt_out_type)
        response = signed_request(session, auth_token, "POST", url, params)
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


@dataclass
class NumberCall:
    """A call to one of the account's numbers, as its configuration routes it."""

    call_sid: str
    result: CallResult
    fallback: bool = False  # the Voice URL failed and VoiceFallbackUrl answered instead


def call_number(
    emulator: Any,
    *,
    to: str,
    from_: str,
    digits: tuple[str, ...] = (),
    dial: dict[str, DialOutcome] | None = None,
    session: Any = None,
) -> NumberCall:
    """Ring `to`, a number on the emulator's account, as Twilio does: its VoiceUrl, and when that fails (no
    connection, a timeout, a non-200 answer: error 11200) its VoiceFallbackUrl; then its StatusCallback hears the end.
    """
    import requests

    number = emulator.numbers.by_number(to)
    if number is None or not number.get("voice_url"):
        raise ValueError(f"{to} is not a number on the account with a Voice URL")
    session = session or requests.Session()
    party = CallParty(emulator.account_sid, emulator.auth_token, new_sid("CA"), from_, to, "inbound")
    script = CallScript(digits=digits, dial=dict(dial or {}))
    result = walk_call(party, script, url=number["voice_url"], method=number["voice_method"] or "POST",
                       first_status="ringing", session=session)  # fmt: skip
    primary_failed = len(result.exchanges) == 1 and result.exchanges[0].status != 200 and 11200 in result.errors
    used_fallback = False
    if primary_failed and number.get("voice_fallback_url"):
        fallback = walk_call(party, script, url=number["voice_fallback_url"], first_status="ringing", session=session,
                             method=number.get("voice_fallback_method") or "POST")  # fmt: skip
        fallback.transcript = [*result.transcript, "[VoiceFallbackUrl]", *fallback.transcript]
        fallback.errors = [*result.errors, *fallback.errors]
        fallback.exchanges = [*result.exchanges, *fallback.exchanges]
        result, used_fallback = fallback, True
    if number.get("status_callback"):
        params = voice_params(party, result.status) | {"CallDuration": str(result.seconds)}
        try:
            signed_request(session, party.auth_token, number.get("status_callback_method") or "POST",
                           number["status_callback"], params).close()  # fmt: skip
        except requests.RequestException as error:
            log.info("Call status callback failed: %s", type(error).__name__)
    return NumberCall(party.call_sid, result, used_fallback)


def text_number(emulator: Any, *, to: str, from_: str, body: str, session: Any = None) -> tuple[SmsResult, bool]:
    """Text `to` as Twilio does: its SmsUrl, and when that fails its SmsFallbackUrl. Returns (result, fallback used)."""
    import requests

    number = emulator.numbers.by_number(to)
    if number is None or not number.get("sms_url"):
        raise ValueError(f"{to} is not a number on the account with an SMS URL")
    session = session or requests.Session()
    result = inbound_sms(number["sms_url"], account_sid=emulator.account_sid, auth_token=emulator.auth_token,
                         to=to, from_=from_, body=body, session=session)  # fmt: skip
    fallback_url = number.get("sms_fallback_url")
    if result.error is None or not fallback_url or (result.status == 200):
        return result, False
    params = sms_params(emulator.account_sid, result.message_sid, to, from_, body)
    try:
        response = signed_request(session, emulator.auth_token, number.get("sms_fallback_method") or "POST",
                                  fallback_url, params)  # fmt: skip
    except requests.RequestException as error:
        return SmsResult(result.message_sid, None, error=f"HTTP retrieval failure: {type(error).__name__}"), True
    document = read_capped(response)
    fallback = SmsResult(result.message_sid, response.status_code)
    if response.status_code != 200:
        fallback.error = f"HTTP retrieval failure: {response.status_code}"
        return fallback, True
    fallback.replies, fallback.redirect = replies_of(document, sender=from_, number=to)
    return fallback, True
