"""The emulator's Recordings and Message Media through the real twilio SDK, checked against Twilio's OpenAPI."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from switchboard.adapters.twilio_client import build_client
from switchboard.settings import Settings
from tests.openapi import response_validator
from tests.support import ACCOUNT_SID, API_SECRET, AUTH_TOKEN
from tools.emulator.rest import TwilioEmulator

ACCOUNT = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
CALL_SID = "CA" + "ab" * 16


@pytest.fixture
def emulator() -> Iterator[TwilioEmulator]:
    with TwilioEmulator.from_settings(Settings.from_env()) as running:
        yield running


def client(emulator: TwilioEmulator):  # the app's own client: API key auth, base URL rewritten
    from dataclasses import replace

    return build_client(replace(Settings.from_env(), api_base_url=emulator.base_url))


def test_recordings_fetch_list_and_delete_through_the_sdk(emulator: TwilioEmulator) -> None:
    first = emulator.media.add_recording(CALL_SID, duration=3)
    other = emulator.media.add_recording("CA" + "cd" * 16, duration=4, source="OutboundAPI")
    sdk = client(emulator)
    fetched = sdk.recordings(first["sid"]).fetch()
    assert (fetched.sid, fetched.call_sid, fetched.duration) == (first["sid"], CALL_SID, "3")
    assert fetched.status == "completed"
    assert {r.sid for r in sdk.recordings.list()} == {first["sid"], other["sid"]}
    assert [r.sid for r in sdk.recordings.list(call_sid=CALL_SID)] == [first["sid"]]
    assert [r.sid for r in sdk.calls(CALL_SID).recordings.list()] == [first["sid"]]
    # The JSON is Twilio's documented shape.
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    one = requests.get(f"{emulator.base_url}{ACCOUNT}/Recordings/{first['sid']}.json", auth=auth, timeout=5)
    response_validator("/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json", "get").validate(one.json())
    page = requests.get(f"{emulator.base_url}{ACCOUNT}/Recordings.json", auth=auth, timeout=5).json()
    response_validator("/2010-04-01/Accounts/{AccountSid}/Recordings.json", "get").validate(page)
    assert sdk.recordings(first["sid"]).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        sdk.recordings(first["sid"]).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)
    assert emulator.media.deleted == [first["sid"]]
    unauthorised = requests.delete(f"{emulator.base_url}{ACCOUNT}/Recordings/{other['sid']}.json", timeout=5)
    assert unauthorised.status_code == 401


def test_recording_media_needs_auth_and_redirects_to_storage_that_refuses_credentials(emulator: TwilioEmulator) -> None:
    sid = emulator.media.add_recording(CALL_SID, duration=2)["sid"]
    url = f"{emulator.base_url}{ACCOUNT}/Recordings/{sid}"
    assert requests.get(url + ".wav", timeout=5, allow_redirects=False).status_code == 401
    for auth in ((ACCOUNT_SID, AUTH_TOKEN), ("SK" + "0" * 32, API_SECRET)):
        for suffix in ("", ".wav"):
            answer = requests.get(url + suffix, auth=auth, timeout=5, allow_redirects=False)
            assert answer.status_code == 302
            location = answer.headers["Location"]
            assert location.startswith(f"{emulator.base_url}/_storage/")
            # Sending the credentials on to storage is refused, as S3 refuses a second auth mechanism.
            assert requests.get(location, auth=auth, timeout=5).status_code == 400
            media = requests.get(location, timeout=5)
            assert media.status_code == 200
            assert media.headers["Content-Type"] == "audio/x-wav"
            with wave.open(io.BytesIO(media.content)) as audio:
                assert (audio.getnchannels(), audio.getframerate(), audio.getsampwidth()) == (1, 8000, 2)
                assert audio.getnframes() == 2 * 8000
    assert requests.get(url + ".mp3", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5).status_code == 404
    assert requests.get(f"{emulator.base_url}/_storage/not-a-link", timeout=5).status_code == 403
    # Without "enforce HTTP auth on media URLs", Twilio serves media to anyone holding the URL.
    emulator.media.enforce_auth = False
    assert requests.get(url + ".wav", timeout=5, allow_redirects=False).status_code == 302
    assert requests.get(f"{url}.json", timeout=5).status_code == 401  # the resource itself still needs auth


def test_message_media_list_fetch_download_and_delete(emulator: TwilioEmulator) -> None:
    message = "MM" + "12" * 16
    pairs = emulator.media.add_message_media(message, 2)
    assert [content_type for _, content_type in pairs] == ["image/png", "image/png"]
    assert all(url.startswith(f"https://api.twilio.com{ACCOUNT}/Messages/{message}/Media/ME") for url, _ in pairs)
    sdk = client(emulator)
    listed = sdk.messages(message).media.list()
    assert {m.sid for m in listed} == {url.rsplit("/", 1)[1] for url, _ in pairs}
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    page = requests.get(f"{emulator.base_url}{ACCOUNT}/Messages/{message}/Media.json", auth=auth, timeout=5).json()
    response_validator("/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media.json", "get").validate(page)
    sid = listed[0].sid
    one = requests.get(f"{emulator.base_url}{ACCOUNT}/Messages/{message}/Media/{sid}.json", auth=auth, timeout=5)
    response_validator("/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json", "get").validate(
        one.json()
    )
    media_url = f"{emulator.base_url}{ACCOUNT}/Messages/{message}/Media/{sid}"
    # A client that carries its credentials through the redirect (requests does, on the same host) is refused.
    naive = requests.get(media_url, auth=auth, timeout=5)
    assert (naive.status_code, naive.history[0].status_code) == (400, 302)
    redirect = requests.get(media_url, auth=auth, timeout=5, allow_redirects=False)
    image = requests.get(redirect.headers["Location"], timeout=5)
    assert (image.status_code, image.headers["Content-Type"]) == (200, "image/png")
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert sdk.messages(message).media(sid).delete() is True
    assert [m.sid for m in sdk.messages(message).media.list()] == [listed[1].sid]
