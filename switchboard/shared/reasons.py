"""Pure: Twilio error codes an operator can act on, each with a short reason and a remedy (issue 24).

The table is documented in docs/events.md; records, the operator page and events carry `reason_for(code)`.
"""

from __future__ import annotations

from typing import NamedTuple


class Reason(NamedTuple):
    reason: str
    remedy: str


REASONS: dict[str, Reason] = {
    "21211": Reason("invalid 'To' number", "check the number is a valid E.164 number"),
    "21610": Reason("recipient unsubscribed (STOP)", "the recipient must text START before you can send again"),
    "21611": Reason("sender's queue overflow", "send more slowly or add senders (a Messaging Service)"),
    "30001": Reason("queue overflow", "send more slowly or add senders (a Messaging Service)"),
    "30003": Reason("unreachable handset", "the phone is off or out of coverage; try later"),
    "30005": Reason("unknown destination", "the number does not exist or is no longer in service"),
    "30006": Reason("landline or unreachable carrier", "SMS cannot reach this number; call it instead"),
    "30007": Reason("carrier filtering", "the carrier filtered the message as spam: review content and registration"),
    "30032": Reason("toll-free number not verified", "complete toll-free verification in the Twilio Console"),
    "30034": Reason("US A2P 10DLC: unregistered number", "register a brand and campaign and add the number to it"),
}


def reason_for(code: object) -> Reason | None:
    """The reason and remedy of a Twilio error code (str or int), or None when it has none."""
    if code is None:
        return None
    return REASONS.get(str(code).strip())
