"""Recordings and MMS media copied from the Twilio emulator into Azurite's Blob Storage, over real HTTP.

The app runs in the local host (HTTP and the `media-downloads` queue worker); Twilio is the emulator,
whose media URLs need Basic auth and answer with a redirect to a storage path that refuses credentials.
"""

from __future__ import annotations

import io
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from switchboard.settings import get_settings
from tests.support import ACCOUNT_SID, AUTH_TOKEN, FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.host import LocalHost
from tools.emulator.inbound import inbound_call, inbound_sms
from tools.emulator.progress import CallbackPlan, Simulator
from tools.emulator.recordings import wav_bytes
from tools.emulator.rest import TwilioEmulator
from tools.emulator.voice import signed_request

pytestmark = [pytest.mark.azurite, pytest.mark.slow]
WAIT = 40.0


@dataclass
class Stack:
    origin: str
    emulator: TwilioEmulator
    simulator: Simulator
    recordings: str  # container names of this test
    media: str

    def record(self, record_id: str) -> dict[str, Any]:
        answer = requests.get(f"{self.origin}/api/records/{record_id}", params={"code": FUNCTION_KEY}, timeout=10)
        return dict(answer.json()) if answer.status_code == 200 else {}

    def wait(self, what: Callable[[], Any], timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout:.0f}s")

    def blobs(self, container: str, prefix: str) -> dict[str, Any]:
        from switchboard.adapters.storage import blob_service_client

        client = blob_service_client().get_container_client(container)
        return {blob.name: blob for blob in client.list_blobs(name_starts_with=prefix)}

    def read(self, container: str, name: str) -> bytes:
        from switchboard.adapters.storage import blob_service_client

        return bytes(blob_service_client().get_container_client(container).download_blob(name).readall())


@pytest.fixture
def stack(app, azurite: str, configure) -> Iterator[Stack]:
    mark = uuid.uuid4().hex[:8]
    overrides = {"visibility_timeout": 1.0, "max_polling_interval": 0.5}
    with (
        TwilioEmulator.from_settings(get_settings()) as emulator,
        Simulator(emulator, plan=CallbackPlan(duplicates=1.0)) as simulator,
        LocalHost(app, port=0, function_keys=(FUNCTION_KEY,), config_overrides=overrides) as host,
    ):
        origin = f"http://127.0.0.1:{host.port}"
        configure(
            PUBLIC_BASE_URL=origin, TWILIO_API_BASE_URL=emulator.base_url, RECORDINGS_CONTAINER=f"rec{mark}",
            MEDIA_CONTAINER=f"media{mark}", VOICE_VOICEMAIL="true", VOICE_FORWARD_TO=None,
            DELETE_RECORDINGS_AT_TWILIO="false",
        )  # fmt: skip
        yield Stack(origin, emulator, simulator, f"rec{mark}", f"media{mark}")
        simulator.wait_idle(10)


def voicemail(stack: Stack, caller: str) -> tuple[str, str, int]:
    """Ring /api/voice/incoming (voicemail on, nobody to forward to); returns (CallSid, RecordingSid, seconds)."""
    call_sid, result = inbound_call(
        f"{stack.origin}/api/voice/incoming", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER,
        from_=caller, media=stack.emulator.media,
    )  # fmt: skip
    assert result.errors == [], result.transcript
    # From the call's transcript (`Record: 5s -> <RecordingUrl>`), not the emulator's list: with
    # DELETE_RECORDINGS_AT_TWILIO the worker may copy and delete the recording before the call returns.
    recorded = [line.removeprefix("Record: ") for line in result.transcript if line.startswith("Record: ")]
    [(seconds, url)] = [line.split("s -> ") for line in recorded if "s -> " in line]
    recording = url.rsplit("/", 1)[1]
    assert recording in stack.emulator.media.recordings() or recording in stack.emulator.media.deleted
    return call_sid, recording, int(seconds)


def test_a_voicemail_ends_in_blob_storage_and_is_deleted_at_twilio(stack: Stack, configure) -> None:
    configure(DELETE_RECORDINGS_AT_TWILIO="true")
    call_sid, recording, duration = voicemail(stack, "+15558670301")
    record = stack.wait(lambda: (r := stack.record(call_sid)).get("blobs") and r)
    name = f"{call_sid}/{recording}.wav"
    assert record["blobs"] == [name]
    assert record["recording_url"].startswith("https://api.twilio.com/")  # what Twilio sent; no credentials in it
    stored = stack.blobs(stack.recordings, f"{call_sid}/")
    assert list(stored) == [name]
    assert stored[name].content_settings.content_type == "audio/x-wav"
    data = stack.read(stack.recordings, name)
    assert data == wav_bytes(duration)  # byte for byte what the emulator served
    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnframes() == duration * 8000
    # Twilio's copy goes only after the blob is written and checked.
    stack.wait(lambda: recording not in stack.emulator.media.recordings())
    assert recording in stack.emulator.media.deleted
    # The media request carried Basic auth to the API host; the storage redirect refuses credentials,
    # so the copy above proves the app followed it without them.
    assert [auth for path, auth in stack.emulator.media.requests if recording in path] == [True]
    from switchboard.adapters.storage import blob_service_client

    container = blob_service_client().get_container_client(stack.recordings)
    assert container.get_container_properties().public_access is None  # private
    events = [event["kind"] for event in stack.record(call_sid).get("events", [])]
    assert "stored" in events


def test_without_the_setting_the_twilio_copy_stays(stack: Stack) -> None:
    call_sid, recording, _ = voicemail(stack, "+15558670302")
    stack.wait(lambda: stack.record(call_sid).get("blobs"))
    assert recording in stack.emulator.media.recordings()
    assert stack.emulator.media.deleted == []


def test_outbound_record_with_repeated_callbacks_writes_one_blob(stack: Stack) -> None:
    """`record: true` on an outbound call: the emulator posts every callback twice (the recording's too)."""
    from switchboard.adapters.storage import queue_client

    request_id = f"rec-{uuid.uuid4().hex[:10]}"
    message = {"type": "call", "id": request_id, "to": "+15558670303", "say": "Hello.", "record": True}
    client = queue_client("outbound")
    try:
        client.create_queue()
    except Exception as error:
        if type(error).__name__ != "ResourceExistsError":
            raise
    client.send_message(__import__("json").dumps(message))
    record = stack.wait(lambda: (r := stack.record(request_id)).get("blobs") and r)
    [name] = record["blobs"]
    assert name.startswith(f"{request_id}/RE")
    assert name.endswith(".wav")
    stack.simulator.wait_idle(20)
    recording_callbacks = [c for c in stack.simulator.delivered if "RecordingSid" in c.params]
    assert len(recording_callbacks) == 2  # the same callback, delivered twice
    assert recording_callbacks[0].params["RecordingSource"] == "OutboundAPI"
    time.sleep(2)  # let the second copy job run too
    assert list(stack.blobs(stack.recordings, f"{request_id}/")) == [name]
    final = stack.record(request_id)
    assert final["blobs"] == [name]
    assert [e["kind"] for e in final["events"]].count("recording") == 1


def test_a_repeated_recording_callback_writes_one_blob(stack: Stack) -> None:
    call_sid = "CA" + uuid.uuid4().hex
    resource = stack.emulator.media.add_recording(call_sid, duration=2, source="DialVerb")
    params = {
        "AccountSid": ACCOUNT_SID, "CallSid": call_sid, "RecordingSid": resource["sid"],
        "RecordingUrl": stack.emulator.media.recording_url(resource["sid"]), "RecordingStatus": "completed",
        "RecordingDuration": "2", "RecordingChannels": "1", "RecordingSource": "DialVerb",
    }  # fmt: skip
    session = requests.Session()
    for _ in range(3):
        answer = signed_request(session, AUTH_TOKEN, "POST", f"{stack.origin}/api/voice/recording", params)
        assert answer.status_code == 200
    record = stack.wait(lambda: (r := stack.record(call_sid)).get("blobs") and r)
    time.sleep(2)
    assert list(stack.blobs(stack.recordings, f"{call_sid}/")) == [f"{call_sid}/{resource['sid']}.wav"]
    assert stack.record(call_sid)["blobs"] == record["blobs"]
    unsigned = requests.post(f"{stack.origin}/api/voice/recording", data=params, timeout=10)
    assert unsigned.status_code == 403


def test_an_inbound_mms_with_two_media(stack: Stack, configure) -> None:
    configure(DELETE_RECORDINGS_AT_TWILIO="true")  # the same deletion applies to MMS media
    result = inbound_sms(
        f"{stack.origin}/api/sms/incoming", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, to=PHONE_NUMBER,
        from_="+15558670304", body="Two pictures", media=stack.emulator.media, num_media=2,
    )  # fmt: skip
    assert result.status == 200
    sid = result.message_sid
    assert sid.startswith("MM")
    record = stack.wait(lambda: len((r := stack.record(sid)).get("blobs", [])) == 2 and r)
    media = [name.rsplit("/", 1)[1].split(".")[0] for name in record["blobs"]]
    assert all(m.startswith("ME") for m in media)
    stack.wait(lambda: not any(m["parent_sid"] == sid for m in stack.emulator.media.media().values()))
    assert sorted(stack.emulator.media.deleted) == sorted(media)  # deleted at Twilio once copied
    assert sorted(stack.blobs(stack.media, f"{sid}/")) == sorted(record["blobs"])
    for name in record["blobs"]:
        file_name = name.rsplit("/", 1)[1]
        url = f"{stack.origin}/api/media/{sid}/{file_name}"
        assert requests.get(url, timeout=10).status_code == 401
        served = requests.get(url, params={"code": FUNCTION_KEY}, timeout=10)
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "image/png"
        assert served.headers["Cache-Control"] == "private, no-store"
        assert served.content == stack.read(stack.media, name)
        assert served.content.startswith(b"\x89PNG")
    # A name the record does not list is not served, even one that exists in another record.
    other = requests.get(f"{stack.origin}/api/media/SM{'0' * 32}/{record['blobs'][0].rsplit('/', 1)[1]}",
                         params={"code": FUNCTION_KEY}, timeout=10)  # fmt: skip
    assert other.status_code == 404


def test_a_failed_download_is_retried(stack: Stack, configure) -> None:
    configure(DELETE_RECORDINGS_AT_TWILIO="true")
    stack.emulator.media.fail_next(2)
    call_sid, recording, _ = voicemail(stack, "+15558670305")
    stack.wait(lambda: stack.record(call_sid).get("blobs"))
    tries = [auth for path, auth in stack.emulator.media.requests if recording in path]
    assert len(tries) == 3  # two 500s, then the copy
    stack.wait(lambda: recording not in stack.emulator.media.recordings())  # deleted only after the copy


def test_a_download_that_keeps_failing_keeps_the_twilio_copy(stack: Stack, configure) -> None:
    configure(DELETE_RECORDINGS_AT_TWILIO="true")
    stack.emulator.media.fail_next(1000)
    call_sid, recording, _ = voicemail(stack, "+15558670306")
    record = stack.wait(lambda: (r := stack.record(call_sid)) and "copy_failed" in [e["kind"] for e in r["events"]]
                        and r)  # fmt: skip
    tries = [path for path, _ in stack.emulator.media.requests if recording in path]
    assert len(tries) == 5  # host.json maxDequeueCount, then media-downloads-poison
    assert "blobs" not in record
    assert recording in stack.emulator.media.recordings()  # Twilio's copy is kept
    assert recording not in stack.emulator.media.deleted
    assert stack.blobs(stack.recordings, f"{call_sid}/") == {}


def test_the_demo_plays_a_voicemail_back_from_the_users_storage(stack: Stack, app) -> None:
    """`make demo`'s step, in process; the recording is registered with the emulator over HTTP (RemoteMedia)."""
    from tools.devhost.demo import Tour, features_of, step_voicemail_playback

    lines: list[str] = []
    tour = Tour(stack.origin, FUNCTION_KEY, ACCOUNT_SID, AUTH_TOKEN, PHONE_NUMBER, features_of(app),
                say=lines.append, caller="+15558670307", emulator=stack.emulator.base_url)  # fmt: skip
    step_voicemail_playback(tour)
    assert any(line.strip().startswith("a WAV of 5.0 s (8000 Hz, 1 channel(s), 16-bit") for line in lines), lines
    [call_sid] = tour.record_ids
    assert [r["call_sid"] for r in stack.emulator.media.recordings().values()] == [call_sid]
