from __future__ import annotations

import pytest

from switchboard.twiml.twimlets import Call
from switchboard.twiml.twimlets import message as message_twimlet
from switchboard.webhooks.request import Params
from tests.support import XML_DECLARATION as DECL


def message(query: Params) -> object:
    return message_twimlet(Call(query=query, path="/api/twiml/message"))


def test_hello_world_from_the_azure_guide() -> None:
    assert str(message(Params((("Message", "Hello world."),)))) == f"{DECL}<Response><Say>Hello world.</Say></Response>"


@pytest.mark.parametrize(
    "pairs",
    [
        (("Message[]", "Hi"), ("Message[]", "https://cdn.example.net/a.mp3")),
        (("Message[1]", "https://cdn.example.net/a.mp3"), ("Message[0]", "Hi")),
    ],
)
def test_lists_say_text_and_play_urls_in_order(pairs: tuple[tuple[str, str], ...]) -> None:
    assert str(message(Params(pairs))) == (
        f"{DECL}<Response><Say>Hi</Say><Play>https://cdn.example.net/a.mp3</Play></Response>"
    )


def test_voice_and_language_apply_to_say() -> None:
    params = Params((("Message", "Hallo"), ("Voice", "alice"), ("Language", "nl-NL")))
    assert str(message(params)) == f'{DECL}<Response><Say language="nl-NL" voice="alice">Hallo</Say></Response>'


def test_no_message_is_an_empty_response_and_injection_is_escaped() -> None:
    assert str(message(Params())) == f"{DECL}<Response />"
    injected = str(message(Params((("Message", "</Say><Dial>+19005550000</Dial><Say>"),))))
    assert injected == (
        f"{DECL}<Response><Say>&lt;/Say&gt;&lt;Dial&gt;+19005550000&lt;/Dial&gt;&lt;Say&gt;</Say></Response>"
    )


def test_say_text_is_bounded_to_twilios_limit() -> None:
    xml = str(message(Params((("Message", "a" * 5000),))))
    said = xml.split("<Say>")[1].split("</Say>", maxsplit=1)[0]
    assert len(said) == 4096
