from __future__ import annotations

from switchboard.twiml.sms import SmsConfig, incoming_message
from tests.support import XML_DECLARATION as DECL


def test_nothing_configured_is_an_empty_response() -> None:
    assert str(incoming_message("+15558675310", "hi", SmsConfig())) == f"{DECL}<Response />"


def test_auto_reply() -> None:
    assert str(incoming_message("+15558675310", "hi", SmsConfig(auto_reply="Thanks!"))) == (
        f"{DECL}<Response><Message>Thanks!</Message></Response>"
    )


def test_forward_names_the_sender_and_escapes_the_body() -> None:
    config = SmsConfig(forward_to="+15551230000")
    assert str(incoming_message("+15558675310", "</Message><Redirect>x", config)) == (
        f'{DECL}<Response><Message to="+15551230000">From +15558675310: '
        f"&lt;/Message&gt;&lt;Redirect&gt;x</Message></Response>"
    )


def test_reply_and_forward_together_and_long_bodies_are_clipped() -> None:
    config = SmsConfig(auto_reply="Got it", forward_to="+15551230000")
    xml = str(incoming_message("+15558675310", "x" * 2000, config))
    assert xml.startswith(f'{DECL}<Response><Message>Got it</Message><Message to="+15551230000">From +15558675310: x')
    forwarded = xml.split('<Message to="+15551230000">')[1].split("</Message>", maxsplit=1)[0]
    assert len(forwarded) == 1600
    assert forwarded.endswith("…")


def test_forward_target_texting_in_is_not_looped_back() -> None:
    config = SmsConfig(forward_to="+15551230000")
    assert str(incoming_message("+15551230000", "hi", config)) == f"{DECL}<Response />"


WHATSAPP = "whatsapp:+15558675310"


def test_a_whatsapp_message_gets_its_reply_on_whatsapp_and_its_forward_as_an_sms() -> None:
    config = SmsConfig(auto_reply="Thanks!", forward_to="+15551230000", sms_sender="+15005550006")
    assert str(incoming_message(WHATSAPP, "hi", config)) == (
        f"{DECL}<Response><Message>Thanks!</Message>"
        f'<Message from="+15005550006" to="+15551230000">From {WHATSAPP}: hi</Message></Response>'
    )


def test_without_an_sms_sender_a_whatsapp_message_is_not_forwarded() -> None:
    config = SmsConfig(auto_reply="Thanks!", forward_to="+15551230000")
    assert str(incoming_message(WHATSAPP, "hi", config)) == f"{DECL}<Response><Message>Thanks!</Message></Response>"


def test_the_forward_target_writing_on_whatsapp_is_not_looped_back() -> None:
    config = SmsConfig(forward_to="+15558675310", sms_sender="+15005550006")
    assert str(incoming_message(WHATSAPP, "hi", config)) == f"{DECL}<Response />"


def test_a_whatsapp_stop_gets_no_reply() -> None:
    config = SmsConfig(auto_reply="Thanks!")
    assert str(incoming_message(WHATSAPP, "STOP", config)) == f"{DECL}<Response />"


def test_twilios_opt_out_type_keeps_the_auto_reply_quiet() -> None:
    """Advanced Opt-Out: Twilio answers "ARRET" itself and says so in OptOutType; a body it calls no keyword
    ("STOP" with OptOutType absent still is one) follows the word list."""
    config = SmsConfig(auto_reply="Thanks!")
    assert str(incoming_message("+15558675310", "ARRET", config, "STOP")) == f"{DECL}<Response />"
    assert str(incoming_message("+15558675310", "AIDE", config, "HELP")) == f"{DECL}<Response />"
    assert str(incoming_message("+15558675310", "ARRET", config)) == (
        f"{DECL}<Response><Message>Thanks!</Message></Response>"
    )
    assert str(incoming_message("+15558675310", "STOP", config, "")) == f"{DECL}<Response />"
