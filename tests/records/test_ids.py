"""What names a record: its id's shape, and which SIDs the SID index may hold."""

from __future__ import annotations

import pytest

from switchboard.records.ids import is_indexed_sid, is_record_id

HEX = "0123456789abcdef" * 2


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("order-1234:shipped", True),
        ("a" * 64, True),
        ("CA" + HEX, True),  # a SID is a record id too (inbound traffic is recorded under its SID)
        ("", False),
        ("a" * 65, False),
        ("a/b", False),  # not a table key
        ("a#b", False),
        ("a b", False),
        ("a\n", False),
        (None, False),
    ],
)
def test_the_record_id_shape(value: object, ok: bool) -> None:
    assert is_record_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("CA" + HEX, True),
        ("SM" + HEX, True),
        ("MM" + HEX, True),
        ("CA" + HEX.upper(), True),
        ("MG" + HEX, False),  # a Messaging Service sends many messages: it names no one record
        ("AC" + HEX, False),
        ("RE" + HEX, False),
        ("ME" + HEX, False),
        ("CA" + HEX[:-1], False),
        ("CA" + HEX + "0", False),
        ("CA" + HEX[:-1] + "g", False),
        ("ca" + HEX, False),
    ],
)
def test_the_sid_index_holds_call_and_message_sids_only(value: str, ok: bool) -> None:
    assert is_indexed_sid(value) is ok
