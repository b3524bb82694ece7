"""Pure: what names a record. The one place the record id's shape is spelled.

A record's id is the request id a producer gave its outbound message (or, without one, the queue
message id), or, for traffic the app did not start (inbound calls and messages, orphan callbacks),
the call's or message's SID. The SID index (`sid:<SID>`, see records.model) also finds a record by
the SID Twilio gave it: a call or message SID, never any other kind (a Messaging Service's `MG…`,
an account's `AC…`). Its table keys are built in records.model.
"""

from __future__ import annotations

import re

from switchboard.shared.sids import is_call_sid, is_message_sid

# The outbound contract's `id` (schemas/outbound-message.schema.json); also safe in a table key,
# which must not hold `/`, `\`, `#`, `?` or control characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_indexed_sid(value: object) -> bool:
    """A SID the SID index may hold: a call's or a message's."""
    return is_call_sid(value) or is_message_sid(value)
