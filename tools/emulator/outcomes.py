"""Pure: scripted outcomes per destination number, so every path of a call or text can be played offline.

Twilio's own test-credential magic numbers (refused at create time) live in `resources.py`.
These are the emulator's additions, in the +1 555 010 xxxx range (fictional numbers), for what
happens after Twilio accepted the request. Any other number answers, or is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallOutcome:
    status: str = "completed"  # a final status other than completed means the call was never answered
    slow: bool = False  # rings for `slow_answer_seconds` (real time) before answering
    answered_by: str = "human"  # reported when the create asked for MachineDetection


@dataclass(frozen=True)
class MessageOutcome:
    status: str = "delivered"  # or "failed" (never sent) / "undelivered" (sent, not delivered)
    error_code: int | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class Scripted:
    number: str
    call: CallOutcome
    message: MessageOutcome
    meaning: str


SCRIPTED = (
    Scripted("+15550100001", CallOutcome("busy"), MessageOutcome(), "call: busy"),
    Scripted("+15550100002", CallOutcome("no-answer"), MessageOutcome(), "call: no-answer"),
    Scripted(
        "+15550100003",
        CallOutcome("failed"),
        MessageOutcome("failed", 30008, "Unknown error"),
        "call: failed; SMS: failed (30008)",
    ),
    Scripted("+15550100004", CallOutcome(slow=True), MessageOutcome(), "call: answers after a slow ring"),
    Scripted(
        "+15550100005",
        CallOutcome(),
        MessageOutcome("undelivered", 30003, "Unreachable destination handset"),
        "SMS: sent, then undelivered (30003)",
    ),
    Scripted("+15550100006", CallOutcome(answered_by="machine_start"), MessageOutcome(), "call: answered by a machine"),
    # Delivery failures that say the number cannot take SMS (SUPPRESS_ON_ERRORS), and an unregistered sender.
    Scripted(
        "+15550100007",
        CallOutcome(),
        MessageOutcome("undelivered", 30006, "Landline or unreachable carrier"),
        "SMS: sent, then undelivered (30006, a landline)",
    ),
    Scripted(
        "+15550100008",
        CallOutcome(),
        MessageOutcome("undelivered", 30005, "Unknown destination handset"),
        "SMS: sent, then undelivered (30005)",
    ),
    Scripted(
        "+15550100009",
        CallOutcome(),
        MessageOutcome("failed", 30034, "Message from an Unregistered Number"),
        "SMS: failed (30034, US A2P 10DLC: unregistered)",
    ),
)
_BY_NUMBER = {item.number: item for item in SCRIPTED}


def call_outcome(number: str) -> CallOutcome:
    item = _BY_NUMBER.get(number)
    return item.call if item else CallOutcome()


def message_outcome(number: str) -> MessageOutcome:
    item = _BY_NUMBER.get(number)
    return item.message if item else MessageOutcome()
