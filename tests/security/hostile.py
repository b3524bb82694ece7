"""Hostile requests for property-based tests, and the invariants every answer must keep.

A generated request knows whether its Twilio signature is valid for exactly what the app
will check (URL, query and form), so the expected answer follows from the request alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode

from hypothesis import strategies as st

from tests.security.routes import ALL_METHODS, Route
from tests.support import AUTH_TOKEN, PUBLIC_BASE_URL, twilio_signature

FORM = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 64 * 1024
# What a builder that did not escape would let through: a <Dial> to a premium number.
INJECTED_NUMBER = "+19005550199"
INJECTIONS = (
    f"</Say><Dial>{INJECTED_NUMBER}</Dial><Say>",
    f"</Message><Message to='{INJECTED_NUMBER}'>pwned</Message><Message>",
    f"]]><Dial>{INJECTED_NUMBER}</Dial><![CDATA[",
    f'"/><Redirect>https://evil.example/{INJECTED_NUMBER}</Redirect><Say a="',
    "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><r>&x;</r>",
    "&amp;&lt;&#0;&#x1F;\x00\x1b\ud7ff\ufffe",
)
# Twilio's documented limits for text the app places in TwiML.
LIMITS = {"Say": 4096, "Message": 1600, "Body": 1600, "Play": 2048}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
SIGNATURE_MODES = ("valid", "none", "garbage", "other_url", "other_params", "other_token", "empty")

CONTENT_TYPES = st.sampled_from(
    [
        FORM,
        "Application/X-WWW-Form-URLencoded; charset=UTF-8",
        "application/json",
        "text/xml",
        "text/plain; charset=iso-8859-1",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "",
        "%%%; ;;=",
        None,
    ]
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(INJECTIONS),
    st.sampled_from(["+15558675310", "client:alice", "sip:x@y", "http://example.com/a.mp3", "", " "]),
    st.text(min_size=1, max_size=3).map(lambda s: s * 2000),  # long text, past every Twilio limit
)
PARAM_NAMES = st.one_of(
    st.sampled_from(
        ["From", "To", "Body", "CallSid", "MessageSid", "CallStatus", "Digits", "Message", "Message[]", "Message[0]",
         "Message[1]", "Voice", "Language", "Url", "NumMedia", "AccountSid", "bodySHA256"]
    ),
    st.text(max_size=12),
)  # fmt: skip
PARAMS = st.lists(st.tuples(PARAM_NAMES, TEXT), max_size=6)
# URLs stay under what HTTP servers accept (Azure's front end refuses very long ones before the app).
SHORT_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(INJECTIONS))
QUERY_PARAMS = st.lists(st.tuples(PARAM_NAMES, SHORT_TEXT), max_size=5)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
RAW_BODIES = st.one_of(
    st.binary(max_size=512),
    st.just(b"\xff\xfe\xfd" + "Body=é".encode("latin-1")),  # not UTF-8
    st.just(b"[" * 5000 + b"]" * 5000),  # deeply nested JSON
    st.integers(min_value=1, max_value=64).map(lambda n: b"Body=" + b"x" * (MAX_BODY_BYTES - 5 + n)),  # just over
    st.just(b"A" * (MAX_BODY_BYTES - 1)),  # just under
    st.just(b"Body=" + b"%FF%FE" * 100),  # percent-encoded invalid UTF-8
)


def random_case(draw: st.DrawFn, name: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if flip else c.lower() for c, flip in zip(name, flips, strict=True))


@dataclass(frozen=True)
class Hostile:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    validly_signed: bool

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def __repr__(self) -> str:
        body = self.body if len(self.body) < 200 else self.body[:200] + b"...(%d bytes)" % len(self.body)
        return (
            f"Hostile({self.method} {self.url[:300]} headers={self.headers} body={body!r} "
            f"validly_signed={self.validly_signed})"
        )


@st.composite
def hostile_requests(draw: st.DrawFn, route: Route, *, any_method: bool = True) -> Hostile:
    method = draw(st.sampled_from((*ALL_METHODS, "get", "PROPFIND")) if any_method else st.sampled_from(route.methods))
    query_pairs = draw(QUERY_PARAMS)
    query = draw(
        st.one_of(
            st.just(urlencode(query_pairs)),
            st.sampled_from(["a=%ZZ&%%&=&==", "Message=" + quote(INJECTIONS[0]), "x=" + "%00" * 10, "&&&;"]),
        )
    )
    content_type = draw(CONTENT_TYPES)
    form_pairs: list[tuple[str, str]] = []
    if content_type and content_type.lower().startswith(FORM) and draw(st.integers(0, 4)):
        form_pairs = draw(PARAMS)
        body = urlencode(form_pairs).encode()
        form_pairs = parse_qsl(body.decode(), keep_blank_values=True)
    elif content_type == "application/json":
        body = json.dumps(draw(JSON_VALUES)).encode()
    else:
        body = draw(RAW_BODIES)
    if content_type and content_type.lower().startswith(FORM) and _text_ok(body, content_type):
        form_pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)  # what the app will read
    is_json = content_type == "application/json"
    if is_json and draw(st.booleans()):
        query = (query + "&" if query else "") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
    url = PUBLIC_BASE_URL + route.path + (f"?{query}" if query else "")
    mode = draw(st.sampled_from(SIGNATURE_MODES))
    signed_params: Any = [] if is_json else form_pairs
    signature = {
        "valid": lambda: twilio_signature(url, signed_params),
        "garbage": lambda: draw(st.text(max_size=40)),
        "empty": lambda: "",
        "other_url": lambda: twilio_signature(url.replace(route.path, "/api/elsewhere", 1), signed_params),
        "other_params": lambda: twilio_signature(url, [*form_pairs, ("Injected", "1")]),
        "other_token": lambda: twilio_signature(url, signed_params, token=AUTH_TOKEN[::-1]),
        "none": lambda: None,
    }[mode]()
    headers: dict[str, str] = {}
    if content_type is not None:
        headers[random_case(draw, "Content-Type")] = content_type
    if signature is not None:
        headers[random_case(draw, "X-Twilio-Signature")] = signature
    if draw(st.booleans()):
        headers[random_case(draw, "X-Forwarded-Host")] = draw(st.sampled_from(["evil.example", "", "a, b"]))
        headers["X-Forwarded-Proto"] = draw(st.sampled_from(["http", "https", "gopher"]))
    # Twilio's validator reads the first non-blank bodySHA256.
    json_hash_ok = not is_json or parse_qs(query).get("bodySHA256", [""])[0] == hashlib.sha256(body).hexdigest()
    # A JSON body is only trusted through bodySHA256; form params only count under the form type.
    valid = mode == "valid" and json_hash_ok and _text_ok(body, content_type)
    return Hostile(method, route.path, query, headers, body, valid)


def _text_ok(body: bytes, content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in (FORM, "application/json") or not body:
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_answer(
    route: Route, request: Hostile, status: int, content_type: str, body: bytes, *, local_host: bool = False
) -> None:
    """The invariants of section 3; raises AssertionError with the reason. `local_host`: answered over HTTP."""
    text = body.decode("utf-8", "replace")
    if route.name == "health" and status == 503:
        # Its deliberate answer when a check fails (here: a hostile Host, no Twilio): still JSON, still no trace.
        assert json.loads(text)["status"] == "failing", text[:500]
    else:
        assert status < 500, f"{status} from {route}: {text[:500]}"
    assert not TRACEBACK.search(text), f"a stack trace in the answer of {route}"
    keyed_body = not route.anonymous and request.body and request.method in ("POST", "PUT", "PATCH")
    if local_host and keyed_body and not _json(request):
        # The local host refuses non-JSON bodies on keyed routes (a browser's cross-site POST) before the app.
        assert status in (401, 415), f"{status} for a non-JSON body on {route}"
        return
    if len(request.body) > MAX_BODY_BYTES and (route.anonymous or route.reads_body):
        assert status == 413, f"{status} for a {len(request.body)}-byte body on {route}"
        return
    if route.anonymous:
        if not request.validly_signed:
            assert status == 403, f"{status} for a request not validly signed on {route}"
            assert b"<Response" not in body
            return
        assert status == 200, f"{status} for a validly signed request on {route}: {text[:300]}"
    if status == 200 and content_type.startswith("text/xml"):
        check_twiml(body)


def _json(request: Hostile) -> bool:
    kind = next((value for name, value in request.headers.items() if name.lower() == "content-type"), "")
    return kind.split(";", 1)[0].strip().lower() == "application/json"


def check_twiml(body: bytes) -> None:
    root = ET.fromstring(body)  # noqa: S314 (our own output; a parse error is the finding)
    assert root.tag == "Response", root.tag
    for element in root.iter():
        limit = LIMITS.get(element.tag)
        if limit is not None:
            assert len(element.text or "") <= limit, f"<{element.tag}> text of {len(element.text or '')} chars"
        # Injected markup stays text: the number only ever shows up inside a text element.
        assert INJECTED_NUMBER not in (element.text or "") or element.tag in ("Say", "Message", "Body", "Play"), (
            f"injected markup became a <{element.tag}> element"
        )
        assert not (element.tag == "Redirect" and "evil.example" in (element.text or ""))
