from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from switchboard.webhooks.request import BadRequest, Params, WebhookRequest, form_pairs

# What a query string or form body is made of, with the characters that mean something weighted in.
_FORM_TEXT = st.text(st.one_of(st.sampled_from("&=+%;abcXYZ019"), st.characters()), max_size=60)


def test_list_param_accepts_every_twimlets_spelling_in_order() -> None:
    params = Params((("Message[1]", "b"), ("Message[0]", "a"), ("Message[10]", "c"), ("Other", "x")))
    assert params.list_param("Message") == ["a", "b", "c"]
    assert Params((("Message[]", "x"), ("Message[]", "y"))).list_param("Message") == ["x", "y"]
    assert Params((("Message", "only"),)).list_param("Message") == ["only"]


def test_indexed_maps_keys() -> None:
    params = Params((("Options[1]", "http://a"), ("Options[22]", "http://b"), ("Options[]", "ignored")))
    assert params.indexed("Options") == {"1": "http://a", "22": "http://b"}


def test_form_comes_before_query() -> None:
    request = WebhookRequest.parse(
        "post",
        "https://x/api?Body=query&Extra=1",
        {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"Body=form",
    )
    assert request.method == "POST"
    assert request.params.get("Body") == "form"
    assert request.params.get("Extra") == "1"


def test_body_without_content_type_is_not_parsed() -> None:
    request = WebhookRequest.parse("POST", "https://x/api", {}, b"Body=hi")
    assert request.form.get("Body") is None


def test_non_utf8_body_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        WebhookRequest.parse(
            "POST", "https://x/api", {"Content-Type": "application/x-www-form-urlencoded"}, b"Body=\xff\xfe"
        )


@given(_FORM_TEXT)
@example("Called=%2B15005550006&Body=hello+world&Empty=&Flag&&=v&a=b=c")
@example("bad=%zz%4&utf=%E2%82%AC%E2%82&mixed=%C3é&lone=%ED%A0%80")
@example("surrogate=%41\ud800")  # a str can hold one; it cannot be encoded, so unquote's own path reads it
def test_form_pairs_reads_exactly_what_parse_qsl_reads(text: str) -> None:
    assert list(form_pairs(text)) == parse_qsl(text, keep_blank_values=True)
