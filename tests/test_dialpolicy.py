from __future__ import annotations

import pytest

from switchboard.policies.dialpolicy import DialPolicy


def test_exact_numbers_and_prefixes() -> None:
    policy = DialPolicy.parse(" +15558675310, +3120*,,+44*")
    assert policy.configured
    assert policy.allows("+15558675310")
    assert policy.allows("+31201234567")
    assert policy.allows("+447700900123")
    assert not policy.allows("+15558675311")
    assert not policy.allows("+31301234567")
    assert not policy.allows("+19005550000")


@pytest.mark.parametrize("bad", ["*", "+*", "0612345678", "+1555-867", "+0555*", "+1555**", "tel:+15558675310"])
def test_entries_that_are_not_numbers_or_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"neither an E\.164 number"):
        DialPolicy.parse(f"+15558675310,{bad}")


@pytest.mark.parametrize(
    "number", [None, "", "+1", "15558675310", "+1555*", "+15558675310 ", "+15558675310\n", "+1555867531０"]
)
def test_only_e164_numbers_can_be_allowed(number: str | None) -> None:
    assert not DialPolicy.parse("+1*").allows(number)


def test_a_prefix_never_opens_premium_rate_or_shared_cost_numbers() -> None:
    policy = DialPolicy.parse("+1*,+44*,+19005550124")
    assert policy.allows("+15558675310")
    assert not policy.allows("+19005550123")  # US premium rate
    assert not policy.allows("+448712345678")  # UK premium rate
    assert policy.allows("+19005550124")  # listed exactly: the operator's own decision


def test_unset_allows_only_the_configured_forward_number() -> None:
    policy = DialPolicy.parse("", fallback=["+15551230000", None, "not a number"])
    assert not policy.configured
    assert policy.allows("+15551230000")
    assert not policy.allows("+15551230001")
    assert not DialPolicy.parse(None).allows("+15551230000")


def test_national_numbers_in_the_setting_become_e164() -> None:
    policy = DialPolicy.parse("415-555-1212, (510) 555-1212, +31*")
    assert policy.exact == frozenset({"+14155551212", "+15105551212"})
    assert policy.allows("+14155551212")
    gb = DialPolicy.parse("020 7946 0000", default_country="GB")
    assert gb.exact == frozenset({"+442079460000"})


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("+15558675310", True),  # US (fictional range)
        ("+14165550123", True),  # Canada (Toronto)
        ("+18765550100", False),  # Jamaica
        ("+18095550100", False),  # Dominican Republic
        ("+12845550100", False),  # British Virgin Islands
    ],
)
def test_a_nanp_prefix_is_the_us_and_canada_only(number: str, allowed: bool) -> None:
    """Issue 20 point 5: `+1*` (or `+18*`, short of an area code) never opens the Caribbean."""
    assert DialPolicy.parse("+1*").allows(number) is allowed
    assert DialPolicy.parse("+18*").allows("+18765550100") is False


def test_other_nanp_countries_open_only_when_named() -> None:
    policy = DialPolicy.parse("+1*,+1876*,+18095550100")
    assert policy.allows("+18765550100")  # Jamaica, named by its area code
    assert policy.allows("+18095550100")  # listed exactly
    assert not policy.allows("+18095550101")
    assert not policy.allows("+12845550100")


def test_other_shared_calling_codes_open_their_main_country_only() -> None:
    assert DialPolicy.parse("+7*").allows("+74951234567")  # Russia
    assert not DialPolicy.parse("+7*").allows("+77172123456")  # Kazakhstan
    assert DialPolicy.parse("+77*").allows("+77172123456")
