"""Phone numbers as people write them, through libphonenumber's data, with a default country."""

from __future__ import annotations

import pytest

from switchboard.shared.phones import is_e164, mask, national_digits, to_e164


@pytest.mark.parametrize(
    ("written", "country", "e164"),
    [
        ("+15558675310", "US", "+15558675310"),
        ("415-555-1212", "US", "+14155551212"),  # Twilio's twimlet documentation
        ("555-867-5309", "US", "+15558675309"),  # a fictional 555 area code: possible, if not assigned
        ("(415) 555-1212", "US", "+14155551212"),
        ("415.555.1212", "US", "+14155551212"),
        ("1 415 555 1212", "US", "+14155551212"),
        ("011 44 20 7946 0000", "US", "+442079460000"),
        ("0044 20 7946 0000", "US", "+442079460000"),
        ("+31 20 123 4567", "US", "+31201234567"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("06 12345678", "NL", "+31612345678"),
        (" +1 (555) 867-5310 ", "US", "+15558675310"),
    ],
)
def test_written_numbers_become_e164(written: str, country: str, e164: str) -> None:
    assert to_e164(written, country) == e164


@pytest.mark.parametrize(
    "written",
    [None, "", "me", "555", "0612345678", "415-555-121", "tel:+14155551212", "sip:a@b.example", "+1 415 555 1212 x",
     "415-055-1212", "１２３４５６７８９０", "+1555867531０", 12345],
)  # fmt: skip
def test_what_is_not_a_phone_number(written: object) -> None:
    assert to_e164(written, "US") is None


def test_e164_stays_strict_for_machines() -> None:
    assert is_e164("+15558675310")
    assert not is_e164("415-555-1212")
    assert not is_e164("15558675310")


def test_the_callee_hears_national_digits_at_home_and_the_country_code_abroad() -> None:
    assert national_digits("+14155551212", "US") == "4155551212"
    assert national_digits("+442079460000", "US") == "442079460000"
    assert national_digits("+442079460000", "GB") == "2079460000"


def test_mask_is_unchanged() -> None:
    assert mask("+15558675310") == "+1555***5310"
