"""Signature checks with the SDK's own RequestValidator, across the URL shapes Azure produces."""

from __future__ import annotations

import hashlib
import json

from switchboard.webhooks.request import WebhookRequest
from switchboard.webhooks.signature import is_valid, signed_url
from tests.support import AUTH_TOKEN, signed_form, twilio_signature

PARAMS = [("CallSid", "CA" + "1" * 32), ("From", "+15558675310"), ("To", "+15005550006")]


def form_request(url: str, headers: dict[str, str], body: bytes) -> WebhookRequest:
    return WebhookRequest.parse("POST", url, headers, body)


def test_valid_signature_is_accepted() -> None:
    url = "https://switchboard.example.net/api/voice/incoming"
    headers, body = signed_form(url, PARAMS)
    assert is_valid(form_request(url, headers, body), AUTH_TOKEN, None)


def test_wrong_token_is_refused() -> None:
    url = "https://switchboard.example.net/api/voice/incoming"
    headers, body = signed_form(url, PARAMS, token="another-accounts-token")
    assert not is_valid(form_request(url, headers, body), AUTH_TOKEN, None)


def test_tampered_parameter_is_refused() -> None:
    url = "https://switchboard.example.net/api/voice/incoming"
    headers, body = signed_form(url, PARAMS)
    tampered = body.replace(b"%2B15558675310", b"%2B19005550000")
    assert tampered != body
    assert not is_valid(form_request(url, headers, tampered), AUTH_TOKEN, None)


def test_missing_signature_is_refused() -> None:
    url = "https://switchboard.example.net/api/voice/incoming"
    headers, body = signed_form(url, PARAMS)
    del headers["X-Twilio-Signature"]
    assert not is_valid(form_request(url, headers, body), AUTH_TOKEN, None)


def test_public_base_url_replaces_internal_origin() -> None:
    # Azure's front end terminates TLS: the worker sees http and an internal host.
    public = "https://switchboard.example.net"
    internal = "http://10.0.0.4:8080/api/voice/incoming?tenant=a%20b"
    headers, body = signed_form(internal, PARAMS, signed_as=public + "/api/voice/incoming?tenant=a%20b")
    request = form_request(internal, headers, body)
    assert signed_url(request, public) == public + "/api/voice/incoming?tenant=a%20b"
    assert is_valid(request, AUTH_TOKEN, public)
    assert not is_valid(request, AUTH_TOKEN, None)


def test_forwarded_proto_and_host_are_used_only_when_trusted() -> None:
    internal = "http://127.0.0.1:7071/api/sms/incoming"
    headers, body = signed_form(internal, PARAMS, signed_as="https://sb.example.org/api/sms/incoming")
    headers |= {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "sb.example.org"}
    assert is_valid(form_request(internal, headers, body), AUTH_TOKEN, None, trust_forwarded=True)


def test_default_port_is_optional_either_way() -> None:
    signed_with_port = "https://sb.example.org:443/api/voice/incoming"
    headers, body = signed_form("https://sb.example.org/api/voice/incoming", PARAMS, signed_as=signed_with_port)
    assert is_valid(form_request("https://sb.example.org/api/voice/incoming", headers, body), AUTH_TOKEN, None)


def test_non_default_port_must_match() -> None:
    url = "http://127.0.0.1:7071/api/voice/incoming"
    headers, body = signed_form(url, PARAMS, signed_as="http://127.0.0.1:8080/api/voice/incoming")
    assert not is_valid(form_request(url, headers, body), AUTH_TOKEN, None)
    headers, body = signed_form(url, PARAMS)
    assert is_valid(form_request(url, headers, body), AUTH_TOKEN, None)
    # Signed with the port, but the app only knows the portless public URL: no match.
    assert not is_valid(form_request(url, headers, body), AUTH_TOKEN, "http://127.0.0.1")


def test_repeated_parameters_are_all_signed() -> None:
    url = "https://sb.example.org/api/twiml/message"
    pairs = [("Message[]", "one"), ("Message[]", "two")]
    headers, body = signed_form(url, pairs)
    assert is_valid(form_request(url, headers, body), AUTH_TOKEN, None)
    headers_one, _ = signed_form(url, pairs[:1])
    assert not is_valid(form_request(url, headers_one, body), AUTH_TOKEN, None)


def test_json_body_is_checked_through_body_sha256() -> None:
    body = json.dumps({"CallSid": "CA" + "2" * 32, "Status": "completed"})
    digest = hashlib.sha256(body.encode()).hexdigest()
    url = f"https://sb.example.org/api/voice/status?bodySHA256={digest}"
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(url)}
    assert is_valid(WebhookRequest.parse("POST", url, headers, body.encode()), AUTH_TOKEN, None)
    altered = body.replace("completed", "failed").encode()
    assert not is_valid(WebhookRequest.parse("POST", url, headers, altered), AUTH_TOKEN, None)


def test_json_body_without_body_hash_is_refused() -> None:
    body = b'{"CallSid": "CA1"}'
    url = "https://sb.example.org/api/voice/status"
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(url)}
    assert not is_valid(WebhookRequest.parse("POST", url, headers, body), AUTH_TOKEN, None)


def test_header_casing_does_not_matter() -> None:
    url = "https://sb.example.org/api/voice/incoming"
    headers, body = signed_form(url, PARAMS)
    lowered = {key.lower(): value for key, value in headers.items()}
    assert is_valid(form_request(url, lowered, body), AUTH_TOKEN, None)
