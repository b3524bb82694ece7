"""Every twimlet and every stage, as exact XML, from the pure flows."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence

import pytest

from switchboard.policies.dialpolicy import DialPolicy
from switchboard.twiml.twimlets import MISCONFIGURED, Call, TwimletConfig, VoicemailEvent, answer
from switchboard.twiml.twimlets.voicemail import notice
from switchboard.webhooks.request import Params
from tests.support import XML_DECLARATION as DECL

ALLOW = TwimletConfig(destinations=DialPolicy.parse("+1555*"), echo_enabled=True)
SORRY = f"{DECL}<Response><Say>{MISCONFIGURED}</Say><Hangup /></Response>"
HANGUP = f"{DECL}<Response><Hangup /></Response>"
Pairs = Sequence[tuple[str, str]]


class Mailbox:
    """An in-memory VoicemailSink: what the flow asked to store and send."""

    def __init__(self) -> None:
        self.saved: list[VoicemailEvent] = []
        self.notified: list[tuple[str, VoicemailEvent]] = []
        self.emailed: list[tuple[str, VoicemailEvent]] = []

    def save_voicemail(self, event: VoicemailEvent) -> None:
        self.saved.append(event)

    def notify_voicemail(self, number: str, event: VoicemailEvent) -> None:
        self.notified.append((number, event))

    def email_voicemail(self, address: str, event: VoicemailEvent) -> None:
        self.emailed.append((address, event))


def run(name: str, query: Pairs, form: Pairs = (), config: TwimletConfig = ALLOW, **extra) -> str:
    call = Call(
        form=Params(tuple(form)),
        query=Params(tuple(query)),
        path=f"/api/twiml/{name}",
        config=config,
        rng=random.Random(7),
        **extra,
    )
    return str(answer(name, call))


# forward


def test_forward_dials_with_an_action_back_to_itself() -> None:
    assert run("forward", [("PhoneNumber", "+15551234567")]) == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=%2B15551234567&amp;Stage=dial-result"'
        ' timeout="20"><Number>+15551234567</Number></Dial></Response>'
    )


def test_forward_with_caller_id_timeout_and_fail_url() -> None:
    query = [
        ("PhoneNumber", "+15551234567"),
        ("CallerId", "+15005550006"),
        ("Timeout", "30"),
        ("FailUrl", "https://example.net/busy"),
    ]
    assert run("forward", query) == (
        f'{DECL}<Response><Dial action="/api/twiml/forward?PhoneNumber=%2B15551234567&amp;CallerId=%2B15005550006'
        '&amp;Timeout=30&amp;FailUrl=https%3A%2F%2Fexample.net%2Fbusy&amp;Stage=dial-result" callerId="+15005550006"'
        ' timeout="30"><Number>+15551234567</Number></Dial></Response>'
    )


@pytest.mark.parametrize(
    ("status", "fail_url", "expected"),
    [
        ("completed", "https://example.net/busy", HANGUP),
        (
            "busy",
            "https://example.net/busy",
            f"{DECL}<Response><Redirect>https://example.net/busy</Redirect></Response>",
        ),
        ("no-answer", "/api/twiml/voicemail", f"{DECL}<Response><Redirect>/api/twiml/voicemail</Redirect></Response>"),
        ("failed", None, HANGUP),
    ],
)
def test_forward_dial_outcome(status: str, fail_url: str | None, expected: str) -> None:
    query = [("PhoneNumber", "+15551234567"), *([("FailUrl", fail_url)] if fail_url else []), ("Stage", "dial-result")]
    assert run("forward", query, [("DialCallStatus", status)]) == expected


def test_forward_refuses_callers_not_on_the_allow_list() -> None:
    query = [
        ("PhoneNumber", "+15551234567"),
        ("AllowedCallers[0]", "+15550000001"),
        ("AllowedCallers[1]", "+15550000002"),
    ]
    refused = run("forward", query, [("From", "+15550000003")])
    assert refused == (
        f"{DECL}<Response><Say>Sorry, you are calling from a restricted number. Good bye.</Say><Hangup /></Response>"
    )
    assert "<Dial" in run("forward", query, [("From", "+15550000002")])


@pytest.mark.parametrize(
    "form",
    [
        [("From", "client:mallory"), ("To", "+15550000001"), ("Direction", "inbound")],  # Voice SDK: To is chosen
        [("From", "client:mallory"), ("To", "+15550000001"), ("Direction", "outbound-api")],
        [("From", "sip:mallory@example.net"), ("To", "+15550000001")],
        [("From", "+15550000003"), ("To", "+15550000001"), ("Direction", "inbound")],  # To is the number dialled
        [("From", "+15550000003"), ("To", "+15550000001")],
    ],
)
def test_a_caller_chosen_to_is_never_the_callers_identity(form: list[tuple[str, str]]) -> None:
    """Issue 20 point 1: AllowedCallers and Moderators match the party Twilio vouches for, not a chosen `To`."""
    forward = [("PhoneNumber", "+15551234567"), ("AllowedCallers[]", "+15550000001")]
    assert "restricted number" in run("forward", forward, form)
    conference = [("Name", "Board"), ("Moderators[]", "+15550000001")]
    assert 'startConferenceOnEnter="true"' not in run("conference", conference, form)


def test_to_is_the_party_on_a_call_the_account_placed() -> None:
    forward = [("PhoneNumber", "+15551234567"), ("AllowedCallers[]", "+15550000001")]
    placed = [("From", "+15005550006"), ("To", "+15550000001"), ("Direction", "outbound-api")]
    assert "<Dial" in run("forward", forward, placed)


def test_forward_to_a_destination_outside_the_allow_list_is_refused_and_logged_masked(caplog) -> None:
    with caplog.at_level(logging.WARNING, "switchboard.twimlets"):
        assert run("forward", [("PhoneNumber", "+19005550123")]) == SORRY
    assert "+1900***0123 is not allowed" in caplog.text
    assert "+19005550123" not in caplog.text


def test_unset_allow_list_says_what_to_set(caplog) -> None:
    with caplog.at_level(logging.WARNING, "switchboard.twimlets"):
        assert run("forward", [("PhoneNumber", "+15551234567")], config=TwimletConfig()) == SORRY
    assert "set it to numbers or prefixes" in caplog.text


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("PhoneNumber", "0612345678")],
        [("PhoneNumber", "+1555123456789012")],
        [("PhoneNumber", "+15551234567"), ("CallerId", "anonymous")],
        [("PhoneNumber", "+15551234567"), ("FailUrl", "javascript:alert(1)")],
        [("PhoneNumber", "+15551234567"), ("AllowedCallers[]", "me")],
        [("PhoneNumber", "+15551234567"), ("Stage", "dial-result"), ("FailUrl", "//evil.example")],
    ],
)
def test_forward_bad_parameters_get_a_polite_apology(query: Pairs) -> None:
    assert run("forward", query) == SORRY


# simulring


def test_simulring_rings_every_number_with_a_whisper() -> None:
    query = [("PhoneNumbers[0]", "+15551234567"), ("PhoneNumbers[1]", "+15551234568"), ("Message", "Call for sales")]
    assert run("simulring", query) == (
        f'{DECL}<Response><Dial action="/api/twiml/simulring?PhoneNumbers%5B0%5D=%2B15551234567'
        '&amp;PhoneNumbers%5B1%5D=%2B15551234568&amp;Message=Call+for+sales&amp;Stage=dial-result" timeout="20">'
        '<Number url="/api/twiml/whisper?Message=Call+for+sales">+15551234567</Number>'
        '<Number url="/api/twiml/whisper?Message=Call+for+sales">+15551234568</Number></Dial></Response>'
    )


def test_simulring_without_message_announces_the_caller_and_with_timeout() -> None:
    query = [("PhoneNumbers[]", "+15551234567"), ("PhoneNumbers[]", "+15551234568"), ("Timeout", "15")]
    assert run("simulring", query) == (
        f'{DECL}<Response><Dial action="/api/twiml/simulring?PhoneNumbers%5B%5D=%2B15551234567'
        '&amp;PhoneNumbers%5B%5D=%2B15551234568&amp;Timeout=15&amp;Stage=dial-result" timeout="15">'
        '<Number url="/api/twiml/whisper">+15551234567</Number><Number url="/api/twiml/whisper">+15551234568</Number>'
        "</Dial></Response>"
    )


def test_simulring_outcome_goes_to_fail_url() -> None:
    query = [("PhoneNumbers[]", "+15551234567"), ("FailUrl", "https://example.net/vm"), ("Stage", "dial-result")]
    assert run("simulring", query, [("DialCallStatus", "no-answer")]) == (
        f"{DECL}<Response><Redirect>https://example.net/vm</Redirect></Response>"
    )
    assert run("simulring", query, [("DialCallStatus", "completed")]) == HANGUP


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("PhoneNumbers[]", f"+155512345{n:02d}") for n in range(11)],
        [("PhoneNumbers[]", "+15551234567"), ("PhoneNumbers[]", "+19005550123")],
        [("PhoneNumbers[]", "555"), ("PhoneNumbers[]", "boss")],
    ],
)
def test_simulring_bad_number_lists(query: Pairs) -> None:
    assert run("simulring", query) == SORRY


def test_a_bad_list_entry_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    query = [("PhoneNumbers[]", "+15551234567"), ("PhoneNumbers[]", "555"), ("PhoneNumbers[]", "(555) 234-4568")]
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        xml = run("simulring", query)
    assert ">+15551234567</Number>" in xml
    assert ">+15552344568</Number>" in xml
    assert xml.count("<Number") == 2
    assert "PhoneNumbers entry 1 is not a phone number; skipped" in caplog.text


# findme

FINDME = [("PhoneNumbers[0]", "+15551234567"), ("PhoneNumbers[1]", "+15551234568"), ("Message", "Caller waiting")]
FINDME_Q = "PhoneNumbers%5B0%5D=%2B15551234567&amp;PhoneNumbers%5B1%5D=%2B15551234568&amp;Message=Caller+waiting"
FINDME_WHISPER = "/api/twiml/whisper?Message=Caller+waiting&amp;HumanCheck=true"


def test_findme_rings_the_first_number_with_a_human_check() -> None:
    assert run("findme", FINDME) == (
        f'{DECL}<Response><Dial action="/api/twiml/findme?{FINDME_Q}&amp;Stage=dial-result&amp;Index=0"'
        f' timeout="60"><Number url="{FINDME_WHISPER}">+15551234567</Number></Dial></Response>'
    )


def test_findme_moves_on_to_the_next_number_then_fails_over() -> None:
    second = run("findme", [*FINDME, ("Stage", "dial-result"), ("Index", "0")], [("DialCallStatus", "no-answer")])
    assert second == (
        f'{DECL}<Response><Dial action="/api/twiml/findme?{FINDME_Q}&amp;Stage=dial-result&amp;Index=1"'
        f' timeout="60"><Number url="{FINDME_WHISPER}">+15551234568</Number></Dial></Response>'
    )
    last = [*FINDME, ("FailUrl", "https://example.net/vm"), ("Stage", "dial-result"), ("Index", "1")]
    assert run("findme", last, [("DialCallStatus", "busy")]) == (
        f"{DECL}<Response><Redirect>https://example.net/vm</Redirect></Response>"
    )
    assert run("findme", [*FINDME, ("Stage", "dial-result"), ("Index", "1")], [("DialCallStatus", "busy")]) == HANGUP


def test_findme_stops_when_someone_answers() -> None:
    query = [*FINDME, ("Stage", "dial-result"), ("Index", "0")]
    assert run("findme", query, [("DialCallStatus", "completed")]) == HANGUP


def test_findme_without_message_still_checks_for_a_human() -> None:
    assert 'url="/api/twiml/whisper?HumanCheck=true"' in run("findme", [("PhoneNumbers", "+15551234567")])


@pytest.mark.parametrize("index", ["x", "-1"])
def test_findme_bad_index_is_refused(index: str) -> None:
    assert run("findme", [*FINDME, ("Stage", "dial-result"), ("Index", index)], [("DialCallStatus", "busy")]) == SORRY


# whisper: the prompt sits in a one-key Gather; without HumanCheck the call is bridged either way

CHECK = "/api/twiml/whisper?Stage=human-check"
ANNOUNCE_4155551212 = "You are receiving a call from 4. 1. 5. 5. 5. 5. 1. 2. 1. 2. Press any key to accept."


def test_whisper_message_without_human_check_bridges_whether_or_not_a_key_is_pressed() -> None:
    url = "/api/twiml/whisper?Message=Call+from+the+website&amp;Stage=human-check"
    # The prompt; silence falls through to the end of the document, and the end bridges the call.
    assert run("whisper", [("Message", "Call from the website")]) == (
        f'{DECL}<Response><Gather action="{url}" numDigits="1"><Say>Call from the website</Say></Gather></Response>'
    )
    staged = [("Message", "Call from the website"), ("Stage", "human-check")]
    assert run("whisper", staged, [("Digits", "7")]) == f"{DECL}<Response />"
    assert run("whisper", staged) == f"{DECL}<Response />"  # no key: still bridged, never a hang-up


def test_whisper_without_message_or_human_check_announces_the_caller_and_bridges_either_way() -> None:
    assert run("whisper", [], [("From", "+14155551212")]) == (
        f'{DECL}<Response><Gather action="{CHECK}" numDigits="1"><Say>{ANNOUNCE_4155551212}</Say></Gather></Response>'
    )
    assert run("whisper", [], [("From", "+442079460000")]) == (
        f'{DECL}<Response><Gather action="{CHECK}" numDigits="1">'
        "<Say>You are receiving a call from 4. 4. 2. 0. 7. 9. 4. 6. 0. 0. 0. 0. Press any key to accept.</Say>"
        "</Gather></Response>"
    )
    assert run("whisper", [], [("Caller", "+14155551212")]) == run("whisper", [], [("From", "+14155551212")])
    assert run("whisper", [], [("From", "anonymous")]) == (
        f'{DECL}<Response><Gather action="{CHECK}" numDigits="1">'
        "<Say>You are receiving a call. Press any key to accept.</Say></Gather></Response>"
    )
    assert run("whisper", [("Stage", "human-check")], [("Digits", "1")]) == f"{DECL}<Response />"
    assert run("whisper", [("Stage", "human-check")]) == f"{DECL}<Response />"


@pytest.mark.parametrize("off", ["false", "0", "no", "off"])
def test_whisper_human_check_off_is_the_same_as_no_human_check(off: str) -> None:
    url = f"/api/twiml/whisper?HumanCheck={off}&amp;Stage=human-check"
    assert run("whisper", [("HumanCheck", off)], [("From", "+14155551212")]) == (
        f'{DECL}<Response><Gather action="{url}" numDigits="1"><Say>{ANNOUNCE_4155551212}</Say></Gather></Response>'
    )
    assert run("whisper", [("HumanCheck", off), ("Stage", "human-check")]) == f"{DECL}<Response />"


def test_whisper_human_check_with_message_wants_a_key_and_hangs_up_on_silence() -> None:
    query = [("Message", "https://example.net/ding.mp3"), ("HumanCheck", "1")]
    assert run("whisper", query) == (
        f'{DECL}<Response><Gather action="/api/twiml/whisper?Message=https%3A%2F%2Fexample.net%2Fding.mp3'
        '&amp;HumanCheck=1&amp;Stage=human-check" numDigits="1" timeout="10"><Play>https://example.net/ding.mp3</Play>'
        "<Say>Press any key to accept this call.</Say></Gather><Hangup /></Response>"
    )
    assert run("whisper", [*query, ("Stage", "human-check")], [("Digits", "5")]) == f"{DECL}<Response />"
    assert run("whisper", [*query, ("Stage", "human-check")]) == HANGUP


def test_whisper_human_check_without_message_announces_the_caller_and_hangs_up_on_silence() -> None:
    url = "/api/twiml/whisper?HumanCheck=true&amp;Stage=human-check"
    assert run("whisper", [("HumanCheck", "true")], [("From", "+14155551212")]) == (
        f'{DECL}<Response><Gather action="{url}" numDigits="1" timeout="10"><Say>{ANNOUNCE_4155551212}</Say>'
        "</Gather><Hangup /></Response>"
    )
    query = [("HumanCheck", "true"), ("Stage", "human-check")]
    assert run("whisper", query, [("Digits", "5")]) == f"{DECL}<Response />"
    assert run("whisper", query) == HANGUP


def test_whisper_human_check_must_be_a_flag() -> None:
    assert run("whisper", [("Message", "Hi"), ("HumanCheck", "perhaps")]) == SORRY


def test_whisper_reads_digits_and_the_caller_from_twilios_fields_only() -> None:
    # A query Digits on a POST (a re-signed URL) is not a key press; From in the query is not the caller.
    query = [("HumanCheck", "true"), ("Stage", "human-check"), ("Digits", "1")]
    assert run("whisper", query) == HANGUP
    assert "You are receiving a call. Press" in run("whisper", [("From", "+14155551212")])


@pytest.mark.parametrize("message", [None, "Call for sales"])
def test_simulring_and_findme_legs_hear_the_whisper_their_twimlet_asks_for(message: str | None) -> None:
    """simulring's callee is bridged whether or not a key is pressed; findme's must press one (HumanCheck)."""
    import xml.etree.ElementTree as ET
    from urllib.parse import parse_qsl, urlsplit

    extra = [("Message", message)] if message else []
    prompt = f"<Say>{message}</Say>" if message else f"<Say>{ANNOUNCE_4155551212}</Say>"
    for name, human_check in (("simulring", False), ("findme", True)):
        xml = run(name, [("PhoneNumbers[]", "+15551234567"), *extra])
        leg = ET.fromstring(xml.removeprefix(DECL)).find(".//Number")  # noqa: S314 - our own output
        assert leg is not None
        url = urlsplit(leg.attrib["url"])
        assert url.path == "/api/twiml/whisper"
        query = parse_qsl(url.query)
        assert query == extra + ([("HumanCheck", "true")] if human_check else [])
        whispered = run("whisper", query, [("From", "+14155551212")])
        action = "/api/twiml/whisper?" + "&amp;".join(
            f"{k}={v.replace(' ', '+')}" for k, v in [*query, ("Stage", "human-check")]
        )
        if human_check:
            accept = "<Say>Press any key to accept this call.</Say>" if message else ""
            assert whispered == (
                f'{DECL}<Response><Gather action="{action}" numDigits="1" timeout="10">{prompt}{accept}</Gather>'
                "<Hangup /></Response>"
            )
        else:
            assert whispered == f'{DECL}<Response><Gather action="{action}" numDigits="1">{prompt}</Gather></Response>'
        staged = [*query, ("Stage", "human-check")]
        assert run("whisper", staged, [("Digits", "1")]) == f"{DECL}<Response />"
        assert run("whisper", staged) == (HANGUP if human_check else f"{DECL}<Response />")


# callme: forward with a whisper that bridges whether or not the callee presses a key


def test_callme_dials_with_a_whisper_and_its_default_timeout() -> None:
    assert run("callme", [("PhoneNumber", "+15551234567")]) == (
        f'{DECL}<Response><Dial action="/api/twiml/callme?PhoneNumber=%2B15551234567&amp;Stage=dial-result"'
        ' timeout="20"><Number url="/api/twiml/whisper">+15551234567</Number></Dial></Response>'
    )


def test_callme_with_message_timeout_and_fail_url() -> None:
    query = [("PhoneNumber", "(555) 234-4568"), ("Message", "Call from the website"), ("Timeout", "42"),
             ("FailUrl", "https://example.net/busy")]  # fmt: skip
    assert run("callme", query) == (
        f'{DECL}<Response><Dial action="/api/twiml/callme?PhoneNumber=%28555%29+234-4568'
        "&amp;Message=Call+from+the+website&amp;Timeout=42&amp;FailUrl=https%3A%2F%2Fexample.net%2Fbusy"
        '&amp;Stage=dial-result" timeout="42"><Number url="/api/twiml/whisper?Message=Call+from+the+website">'
        "+15552344568</Number></Dial></Response>"
    )


@pytest.mark.parametrize(
    ("status", "fail_url", "expected"),
    [
        ("completed", "https://example.net/busy", HANGUP),
        ("answered", "https://example.net/busy", HANGUP),
        ("busy", None, HANGUP),
        ("no-answer", "https://example.net/busy", f"{DECL}<Response><Redirect>https://example.net/busy</Redirect></Response>"),
        ("failed", "/sorry.mp3", f"{DECL}<Response><Play>/sorry.mp3</Play><Hangup /></Response>"),
    ],
)  # fmt: skip
def test_callme_dial_outcome(status: str, fail_url: str | None, expected: str) -> None:
    query = [("PhoneNumber", "+15551234567"), ("Stage", "dial-result")] + ([("FailUrl", fail_url)] if fail_url else [])
    assert run("callme", query, [("DialCallStatus", status)]) == expected


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("PhoneNumber", "boss")],
        [("PhoneNumber", "+19005550123")],  # outside FORWARD_ALLOWED_DESTINATIONS (premium rate)
        [("PhoneNumber", "+447911123456")],  # outside the allow-list
        [("PhoneNumber", "+15551234567"), ("FailUrl", "javascript:alert(1)")],
    ],
)
def test_callme_follows_the_destination_policy_and_checks_its_parameters(query: Pairs) -> None:
    assert run("callme", query) == SORRY


def test_callme_takes_no_caller_configuration_from_the_form() -> None:
    xml = run("callme", [("PhoneNumber", "+15551234567")], [("PhoneNumber", "+15559999999"), ("Message", "x")])
    assert ">+15551234567</Number>" in xml
    assert 'url="/api/twiml/whisper"' in xml


# menu

MENU = [("Message", "Press 1 for sales, 22 for support."), ("Options[1]", "https://example.net/sales"),
        ("Options[22]", "/api/twiml/forward?PhoneNumber=%2B15551234567")]  # fmt: skip
MENU_Q = (
    "Message=Press+1+for+sales%2C+22+for+support.&amp;Options%5B1%5D=https%3A%2F%2Fexample.net%2Fsales"
    "&amp;Options%5B22%5D=%2Fapi%2Ftwiml%2Fforward%3FPhoneNumber%3D%252B15551234567"
)


def menu_prompt(loop: int) -> str:
    url = f"/api/twiml/menu?{MENU_Q}&amp;Stage=choice&amp;Loop={loop}"
    return (
        f'<Gather action="{url}" numDigits="2"><Say>Press 1 for sales, 22 for support.</Say></Gather>'
        f"<Redirect>{url}</Redirect>"
    )


def test_menu_gathers_as_many_digits_as_the_longest_key() -> None:
    assert run("menu", MENU) == f"{DECL}<Response>{menu_prompt(1)}</Response>"


def test_menu_choice_redirects() -> None:
    query = [*MENU, ("Stage", "choice"), ("Loop", "1")]
    assert run("menu", query, [("Digits", "22")]) == (
        f"{DECL}<Response><Redirect>/api/twiml/forward?PhoneNumber=%2B15551234567</Redirect></Response>"
    )
    assert (
        run("menu", query, [("Digits", "1")])
        == f"{DECL}<Response><Redirect>https://example.net/sales</Redirect></Response>"
    )


def test_menu_miss_repeats_then_gives_up() -> None:
    miss = "<Say>I'm sorry, that wasn't a valid option.</Say>"
    assert run("menu", [*MENU, ("Stage", "choice"), ("Loop", "1")], [("Digits", "9")]) == (
        f"{DECL}<Response>{miss}{menu_prompt(2)}</Response>"
    )
    assert run("menu", [*MENU, ("Stage", "choice"), ("Loop", "3")], [("Digits", "9")]) == (
        f"{DECL}<Response>{miss}<Say>Goodbye.</Say><Hangup /></Response>"
    )


def test_menu_silence_repeats_without_an_apology_as_on_twimlets_com() -> None:
    assert run("menu", [*MENU, ("Stage", "choice"), ("Loop", "1")]) == f"{DECL}<Response>{menu_prompt(2)}</Response>"
    assert run("menu", [*MENU, ("Stage", "choice"), ("Loop", "3")]) == (
        f"{DECL}<Response><Say>Goodbye.</Say><Hangup /></Response>"
    )


@pytest.mark.parametrize(
    "query",
    [
        [("Message", "Hi")],
        [("Options[a]", "https://example.net/a")],
        [("Options[1]", "ftp://example.net/a")],
        [("Options[1]", "https://example.net/a"), ("Stage", "choice"), ("Loop", "x")],
    ],
)
def test_menu_bad_parameters(query: Pairs) -> None:
    assert run("menu", query) == SORRY


# voicemail

VM_Q = "NotifyNumber=%2B15558675310"
CALLBACK = [("CallSid", "CA" + "1" * 32), ("RecordingSid", "RE" + "2" * 32),
            ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "2" * 32),
            ("RecordingDuration", "14")]  # fmt: skip


def test_voicemail_greets_and_records_with_callbacks() -> None:
    base = f"/api/twiml/voicemail?{VM_Q}"
    caller = "&amp;VoicemailFrom=%2B15550001111"
    assert run("voicemail", [("NotifyNumber", "+15558675310")], [("From", "+15550001111")]) == (
        f"{DECL}<Response><Say>Please leave a message after the beep.</Say>"
        f'<Record action="{base}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{base}&amp;Stage=recording{caller}" recordingStatusCallbackEvent="completed"'
        f' transcribe="true" transcribeCallback="{base}&amp;Stage=transcription{caller}" /><Hangup /></Response>'
    )


def test_voicemail_without_transcription_plays_a_greeting() -> None:
    query = [("Message", "https://example.net/greeting.mp3"), ("Transcribe", "false"), ("Email", "me@example.net")]
    base = (
        "/api/twiml/voicemail?Message=https%3A%2F%2Fexample.net%2Fgreeting.mp3"
        "&amp;Transcribe=false&amp;Email=me%40example.net"
    )
    assert run("voicemail", query) == (
        f"{DECL}<Response><Play>https://example.net/greeting.mp3</Play>"
        f'<Record action="{base}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{base}&amp;Stage=recording" recordingStatusCallbackEvent="completed" />'
        "<Hangup /></Response>"
    )


def test_voicemail_record_action_thanks_and_hangs_up() -> None:
    assert run("voicemail", [("Stage", "recorded")], CALLBACK) == (
        f"{DECL}<Response><Say>Thanks.  Good bye.</Say><Hangup /></Response>"
    )


def test_voicemail_callbacks_store_and_notify_once_the_transcript_is_in() -> None:
    box = Mailbox()
    query = [("NotifyNumber", "+15558675310"), ("VoicemailFrom", "+15550001111")]
    assert run("voicemail", [*query, ("Stage", "recording")], CALLBACK, voicemail=box) == f"{DECL}<Response />"
    assert box.notified == []
    assert box.saved[0].duration == 14
    assert box.saved[0].caller == "+15550001111"
    said = [("TranscriptionText", "Please call me back."), ("TranscriptionStatus", "completed")]
    assert (
        run("voicemail", [*query, ("Stage", "transcription")], CALLBACK + said, voicemail=box) == f"{DECL}<Response />"
    )
    assert box.saved[1].transcript == "Please call me back."
    [(number, event)] = box.notified
    assert number == "+15558675310"
    assert notice(event) == (
        'New voicemail from +15550001111 (14 s): "Please call me back." Listen: '
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "2" * 32 + ".mp3"
    )


def test_voicemail_without_transcription_notifies_on_the_recording() -> None:
    box = Mailbox()
    query = [("NotifyNumber", "+15558675310"), ("Transcribe", "false"), ("Stage", "recording")]
    run("voicemail", query, CALLBACK, voicemail=box)
    assert [number for number, _ in box.notified] == ["+15558675310"]
    assert box.notified[0][1].transcript is None


def test_voicemail_without_notify_number_only_stores() -> None:
    box = Mailbox()
    run("voicemail", [("Stage", "transcription")], [*CALLBACK, ("TranscriptionText", "hi")], voicemail=box)
    assert len(box.saved) == 1
    assert box.notified == []


@pytest.mark.parametrize(
    ("query", "form"),
    [
        ([("NotifyNumber", "0612345678")], []),
        ([("Stage", "recording")], [("CallSid", "CA1")]),
    ],
)
def test_voicemail_bad_parameters(query: Pairs, form: Pairs) -> None:
    assert run("voicemail", query, form, voicemail=Mailbox()) == SORRY


def test_notice_fits_one_long_sms() -> None:
    event = VoicemailEvent("CA1", "RE1", "https://api.twilio.com/r", 120, "blah " * 1000, None, None)
    text = notice(event)
    assert len(text) <= 1600
    assert text.startswith('New voicemail from an unknown caller (120 s): "blah')
    assert text.endswith("Listen: https://api.twilio.com/r.mp3")


# conference

UNNAMED = "conference-" + hashlib.sha256(b"\n\n").hexdigest()[:24]
PASSWORD_ROOM = "conference-" + hashlib.sha256(b"\n\n4321").hexdigest()[:24]
ROOM = f"<Say>You are now entering the conference line.</Say><Dial><Conference>{UNNAMED}</Conference></Dial>"


def test_conference_without_password_joins() -> None:
    assert run("conference", []) == f"{DECL}<Response>{ROOM}</Response>"
    assert run("conference", [("Name", "Weekly"), ("Message", "https://example.net/hi.mp3")]) == (
        f"{DECL}<Response><Play>https://example.net/hi.mp3</Play><Dial><Conference>Weekly</Conference></Dial></Response>"
    )


def password_prompt(attempt: int) -> str:
    return (
        f'<Gather action="/api/twiml/conference?Password=4321&amp;Stage=password&amp;Attempt={attempt}"'
        ' actionOnEmptyResult="true" finishOnKey="#" numDigits="4" timeout="10">'
        "<Say>Please enter your conference pass code.</Say></Gather>"
    )


def test_conference_password_is_gathered_with_bounded_retries() -> None:
    assert run("conference", [("Password", "4321")]) == f"{DECL}<Response>{password_prompt(1)}</Response>"
    stage = [("Password", "4321"), ("Stage", "password")]
    assert run("conference", [*stage, ("Attempt", "1")], [("Digits", "4321")]) == (
        f"{DECL}<Response>{ROOM.replace(UNNAMED, PASSWORD_ROOM)}</Response>"
    )
    assert run("conference", [*stage, ("Attempt", "1")], [("Digits", "1111")]) == (
        f"{DECL}<Response><Say>That password is not correct.</Say>{password_prompt(2)}</Response>"
    )
    assert run("conference", [*stage, ("Attempt", "2")]) == (
        f"{DECL}<Response><Say>That password is not correct.</Say>{password_prompt(3)}</Response>"
    )
    assert run("conference", [*stage, ("Attempt", "3")], [("Digits", "1111")]) == (
        f"{DECL}<Response><Say>Sorry, that password is not correct. Goodbye.</Say><Hangup /></Response>"
    )


def test_conference_moderators_start_and_end_it() -> None:
    query = [("Name", "Board"), ("Moderators[]", "+15550000001"), ("Moderators[]", "+15550000002")]
    assert run("conference", query, [("From", "+15550000002")]) == (
        f"{DECL}<Response><Say>You are now entering the conference line.</Say><Dial>"
        '<Conference endConferenceOnExit="true" startConferenceOnEnter="true">Board</Conference></Dial></Response>'
    )
    assert run("conference", query, [("From", "+15550000009")]) == (
        f"{DECL}<Response><Say>You are now entering the conference line.</Say><Dial>"
        '<Conference startConferenceOnEnter="false">Board</Conference></Dial></Response>'
    )


@pytest.mark.parametrize(
    ("music", "wait_url"),
    [
        ("rock", "https://twimlets.com/holdmusic?Bucket=com.twilio.music.rock"),
        ("Soft-Rock", "https://twimlets.com/holdmusic?Bucket=com.twilio.music.soft-rock"),
        ("https://example.net/api/twiml/holdmusic?Container=holdmusic", None),
    ],
)
def test_conference_music_is_a_genre_or_a_url(music: str, wait_url: str | None) -> None:
    expected = (wait_url or music).replace("&", "&amp;")
    assert run("conference", [("Music", music)]) == (
        f"{DECL}<Response><Say>You are now entering the conference line.</Say><Dial>"
        f'<Conference waitMethod="GET" waitUrl="{expected}">{UNNAMED}</Conference></Dial></Response>'
    )


@pytest.mark.parametrize("music", ["polka", "jazz", "Jazz", "newage", "javascript:alert(1)", "ftp://example.net/a.mp3"])
def test_conference_unknown_music_falls_back_to_twilios_default_and_is_named_in_the_log(music: str, caplog) -> None:
    # With the request URL known (as in production), a bare word must not become /api/twiml/<word> (a 404).
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        xml = run("conference", [("Music", music)], request_url=HERE + "conference")
    assert xml == f"{DECL}<Response>{ROOM}</Response>"
    assert (
        f"Music {music!r} is neither a URL nor one of ambient, classical, electronica, guitars, rock, soft-rock;"
        " using the default hold music" in caplog.text
    )


def test_an_oversized_unknown_music_is_clipped_in_the_log(caplog) -> None:
    music = "jazz" * 500
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        xml = run("conference", [("Music", music)], request_url=HERE + "conference")
    assert xml == f"{DECL}<Response>{ROOM}</Response>"
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Music ")]
    assert line.startswith("Music '" + ("jazz" * 20)[:79] + "…' is neither")
    assert len(line) < 250  # 2,000 characters given


def test_a_music_value_cannot_forge_log_lines(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        run("conference", [("Music", "jazz\nCRITICAL forged")], request_url=HERE + "conference")
    assert "Music 'jazz\\nCRITICAL forged' is neither" in caplog.text
    assert "\nCRITICAL forged" not in caplog.text


def test_unnamed_conferences_stay_apart_and_stable() -> None:
    def room(query: Pairs) -> str:
        # With a password, the room is where the right digits lead.
        return element_text(run("conference", [*query, ("Stage", "password")], [("Digits", "999")]), "Conference")

    sales = [("Message", "Sales line"), ("Moderators[0]", "+15550000001")]
    support = [("Message", "Support line"), ("Moderators[0]", "+15550000001")]
    assert room(sales) == room(sales) != room(support)
    assert room(sales) != room([*sales, ("Password", "999")]) != room([])
    assert room([("Moderators[0]", "555-200-0001")]) == room([("Moderators[0]", "+15552000001")])
    assert room([("Name", "Weekly"), *sales]) == "Weekly"


def element_text(xml: str, tag: str) -> str:
    import xml.etree.ElementTree as ET

    found = ET.fromstring(xml.removeprefix(DECL)).find(f".//{tag}")  # noqa: S314 - our own output
    assert found is not None
    assert found.text is not None
    return found.text


@pytest.mark.parametrize(
    "query",
    [
        [("Password", "12")],
        [("Password", "12a4")],
        [("Moderators[]", "boss")],
        [("Name", "x" * 129)],
        [("Password", "1234"), ("Stage", "password"), ("Attempt", "one")],
    ],
)
def test_conference_bad_parameters(query: Pairs) -> None:
    assert run("conference", query) == SORRY


# holdmusic

TRACKS = [f"https://cdn.example.net/track{n}.mp3" for n in range(1, 4)]


def test_holdmusic_plays_the_playlist_and_loops() -> None:
    query = [*(("Url[]", url) for url in TRACKS[:2]), ("Message", "Please hold."), ("Shuffle", "false")]
    assert run("holdmusic", query) == (
        f"{DECL}<Response><Play>{TRACKS[0]}</Play><Say>Please hold.</Say><Play>{TRACKS[1]}</Play>"
        "<Say>Please hold.</Say><Redirect>/api/twiml/holdmusic?Url%5B%5D=https%3A%2F%2Fcdn.example.net%2Ftrack1.mp3"
        "&amp;Url%5B%5D=https%3A%2F%2Fcdn.example.net%2Ftrack2.mp3&amp;Message=Please+hold.&amp;Shuffle=false"
        "</Redirect></Response>"
    )


def test_holdmusic_shuffles_by_default() -> None:
    query = [(f"Url[{n}]", url) for n, url in enumerate(TRACKS)]
    shuffled = TRACKS[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != TRACKS  # the seed does reorder
    plays = "".join(f"<Play>{url}</Play>" for url in shuffled)
    assert run("holdmusic", query).startswith(f"{DECL}<Response>{plays}<Redirect>/api/twiml/holdmusic?Url%5B0%5D=")


def test_holdmusic_from_an_allowed_container() -> None:
    listed: list[str] = []

    def list_audio(container: str) -> list[str]:
        listed.append(container)
        return ["http://blob.example/holdmusic/a.mp3"]

    assert run("holdmusic", [("Container", "holdmusic")], list_audio=list_audio) == (
        f"{DECL}<Response><Play>http://blob.example/holdmusic/a.mp3</Play>"
        "<Redirect>/api/twiml/holdmusic?Container=holdmusic</Redirect></Response>"
    )
    assert listed == ["holdmusic"]
    assert run("holdmusic", [("Container", "azure-webjobs-secrets")], list_audio=list_audio) == SORRY
    assert listed == ["holdmusic"]


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("Url[]", "file:///etc/passwd")],
        [("Url[]", TRACKS[0]), ("Container", "holdmusic")],
        [("Url", TRACKS[0]), ("Shuffle", "sometimes")],
    ],
)
def test_holdmusic_bad_parameters(query: Pairs) -> None:
    assert run("holdmusic", query, list_audio=lambda _container: []) == SORRY


def test_holdmusic_empty_container_is_an_apology() -> None:
    assert run("holdmusic", [("Container", "holdmusic")], list_audio=lambda _container: []) == SORRY


# echo


def test_echo_returns_the_twiml_verbatim() -> None:
    twiml = '<Response><Say voice="alice">Hi &amp; bye</Say>\n<Hangup/></Response>'
    assert run("echo", [("Twiml", twiml)]) == twiml


@pytest.mark.parametrize(
    "twiml",
    [
        "",
        "<Say>no root</Say><Say>two</Say>",
        "<Foo/>",
        "<Response><Say>unclosed</Response>",
        '<!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Say>&a;</Say></Response>',
        "<Response>" + "<Pause/>" * 3000 + "</Response>",
    ],
)
def test_echo_refuses_what_is_not_a_small_response_document(twiml: str) -> None:
    assert run("echo", [("Twiml", twiml)]) == SORRY


def test_echo_is_refused_while_off() -> None:
    assert run("echo", [("Twiml", "<Response/>")], config=TwimletConfig()) == SORRY


# twimlets.com's parameter spellings, twimlet by twimlet


@pytest.mark.parametrize(
    ("name", "spellings", "needle"),
    [
        ("simulring", ["PhoneNumbers", "PhoneNumbers[]", "PhoneNumbers[0]"], ">+15551234567</Number>"),
        ("findme", ["PhoneNumbers", "PhoneNumbers[]", "PhoneNumbers[0]"], ">+15551234567</Number>"),
        ("forward", ["PhoneNumber", "PhoneNumber[]", "PhoneNumber[0]"], "<Number>+15551234567</Number>"),
    ],
)
def test_number_spellings(name: str, spellings: list[str], needle: str) -> None:
    for key in spellings:
        assert needle in run(name, [(key, "+15551234567")]), key


@pytest.mark.parametrize("key", ["Message", "Message[]", "Message[0]"])
@pytest.mark.parametrize(
    ("name", "extra", "needle"),
    [
        ("whisper", [], "<Say>Hi there</Say>"),
        ("menu", [("Options[1]", "https://example.net/1")], "<Say>Hi there</Say></Gather>"),
        ("voicemail", [], "<Say>Hi there</Say><Record"),
        ("conference", [], "<Say>Hi there</Say><Dial>"),
        ("holdmusic", [("Url[0]", "https://example.net/1.mp3")], "<Say>Hi there</Say><Redirect>"),
        ("simulring", [("PhoneNumbers[0]", "+15551234567")], 'url="/api/twiml/whisper?Message=Hi+there"'),
        ("findme", [("PhoneNumbers[0]", "+15551234567")], 'url="/api/twiml/whisper?Message=Hi+there&amp;HumanCheck'),
    ],
)
def test_message_spellings(key: str, name: str, extra: Pairs, needle: str) -> None:
    assert needle in run(name, [(key, "Hi there"), *extra])


@pytest.mark.parametrize(
    ("name", "key", "value", "needle"),
    [
        ("forward", "AllowedCallers[0]", "+15550000001", "calling from a restricted number"),
        ("forward", "AllowedCallers[]", "+15550000001", "calling from a restricted number"),
        ("conference", "Moderators[0]", "+15550000001", 'startConferenceOnEnter="false"'),
        ("conference", "Moderators", "+15550000001", 'startConferenceOnEnter="false"'),
        ("holdmusic", "Url", TRACKS[0], f"<Play>{TRACKS[0]}</Play>"),
        ("holdmusic", "Url[0]", TRACKS[0], f"<Play>{TRACKS[0]}</Play>"),
        ("menu", "Options[1]", "https://example.net/1", 'numDigits="1"'),
    ],
)
def test_list_spellings(name: str, key: str, value: str, needle: str) -> None:
    query = [(key, value)] + ([("PhoneNumber", "+15551234567")] if name == "forward" else [])
    assert needle in run(name, query, [("From", "+15559999999")])


def test_get_webhooks_do_not_carry_twilios_parameters_into_follow_ups() -> None:
    # A number configured for GET puts Twilio's call parameters in the query string.
    query = [("PhoneNumber", "+15551234567"), ("CallSid", "CA1"), ("From", "+15550001111"), ("Caller", "+15550001111"),
             ("To", "+15005550006"), ("CallStatus", "ringing"), ("Direction", "inbound")]  # fmt: skip
    assert 'action="/api/twiml/forward?PhoneNumber=%2B15551234567&amp;Stage=dial-result"' in run("forward", query)


# Relative URLs resolve against the URL Twilio requested, as Twilio resolves them, then pass the same checks

HERE = "https://sb.example.net/api/twiml/"


def test_relative_fail_url_options_message_url_and_music_resolve_against_the_request() -> None:
    fail = [("PhoneNumber", "+15551234567"), ("FailUrl", "voicemail?Email=me%40example.com"), ("Stage", "dial-result")]
    assert run("forward", fail, [("DialCallStatus", "busy")], request_url=HERE + "forward?x=1") == (
        f"{DECL}<Response><Redirect>{HERE}voicemail?Email=me%40example.com</Redirect></Response>"
    )
    menu = [("Options[1]", "../other/sales"), ("Stage", "choice"), ("Loop", "1")]
    assert run("menu", menu, [("Digits", "1")], request_url=HERE + "menu") == (
        f"{DECL}<Response><Redirect>https://sb.example.net/api/other/sales</Redirect></Response>"
    )
    assert run(
        "message", [("Message", "audio/hello.mp3"), ("Message", "Hello there.")], request_url=HERE + "message"
    ) == (f"{DECL}<Response><Play>{HERE}audio/hello.mp3</Play><Say>Hello there.</Say></Response>")
    music = run("holdmusic", [("Url", "/music/a.mp3"), ("Shuffle", "false")], request_url=HERE + "holdmusic")
    assert music.startswith(f"{DECL}<Response><Play>https://sb.example.net/music/a.mp3</Play><Redirect>")
    room = run("conference", [("Name", "B"), ("Music", "holdmusic?Container=lobby")], request_url=HERE + "conference")
    assert f'waitUrl="{HERE}holdmusic?Container=lobby"' in room


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("forward", [("PhoneNumber", "+15551234567"), ("FailUrl", "javascript:alert(1)"), ("Stage", "dial-result")]),
        ("menu", [("Options[1]", "ftp://example.net/x")]),
        ("menu", [("Options[1]", "data:text/xml,<Response/>")]),
    ],
)
def test_resolved_urls_pass_the_same_checks(name: str, query: Pairs) -> None:
    assert run(name, query, [("DialCallStatus", "busy")], request_url=HERE + name) == SORRY


@pytest.mark.parametrize(
    ("timeout", "dialled"), [("3", "5"), ("0", "20"), ("00", "20"), ("601", "600"), ("9999", "600"), ("abc", "20")]
)
def test_timeout_is_clamped_to_twilios_range(timeout: str, dialled: str) -> None:
    xml = run("forward", [("PhoneNumber", "+15551234567"), ("Timeout", timeout)])
    assert f'timeout="{dialled}"><Number>+15551234567</Number>' in xml


def test_voicemail_greeting_takes_voice_and_language_as_on_twimlets_com() -> None:
    query = [("Message", "Leave a message"), ("Voice", "woman"), ("Language", "en-gb"), ("Transcribe", "false")]
    base = "/api/twiml/voicemail?Message=Leave+a+message&amp;Voice=woman&amp;Language=en-gb&amp;Transcribe=false"
    assert run("voicemail", query) == (
        f'{DECL}<Response><Say language="en-gb" voice="woman">Leave a message</Say>'
        f'<Record action="{base}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{base}&amp;Stage=recording" recordingStatusCallbackEvent="completed" />'
        "<Hangup /></Response>"
    )


def test_voicemail_transcribe_other_than_true_records_without_transcription_as_on_twimlets_com() -> None:
    base = "/api/twiml/voicemail?Transcribe=never"
    assert run("voicemail", [("Transcribe", "never")]) == (
        f"{DECL}<Response><Say>Please leave a message after the beep.</Say>"
        f'<Record action="{base}&amp;Stage=recorded" maxLength="120" playBeep="true"'
        f' recordingStatusCallback="{base}&amp;Stage=recording" recordingStatusCallbackEvent="completed" />'
        "<Hangup /></Response>"
    )
