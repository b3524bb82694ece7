"""Pure parts: copy jobs, blob names, where credentials may go, and the new settings."""

from __future__ import annotations

import json

import pytest

from switchboard.media.jobs import BadJob, Job, credentialed_url, media_jobs, recording_job
from switchboard.settings import Settings, SettingsError
from tests.support import ACCOUNT_SID, BASE_ENV

RE = "RE" + "a1" * 16
ME = "ME" + "b2" * 16
MM = "MM" + "c3" * 16
TWILIO = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"


def test_a_completed_recording_makes_one_job_named_by_the_record() -> None:
    job = recording_job("req-1", {"RecordingSid": RE, "RecordingUrl": f"{TWILIO}/Recordings/{RE}", "CallSid": "CA1"})
    assert job is not None
    assert (job.blob_name, job.download_url) == (f"req-1/{RE}.wav", f"{TWILIO}/Recordings/{RE}.wav")
    assert Job.from_message(job.to_message(b"k"), (b"k",)) == job
    with pytest.raises(BadJob, match="tag"):
        Job.from_message(job.to_message(b"another key"), (b"k",))  # a job the app did not queue
    forged = json.loads(job.to_message(b"k")) | {"record_id": "victim"}
    with pytest.raises(BadJob, match="tag"):
        Job.from_message(json.dumps(forged), (b"k",))
    in_progress = {"RecordingSid": RE, "RecordingUrl": f"{TWILIO}/Recordings/{RE}", "RecordingStatus": "in-progress"}
    assert recording_job("req-1", in_progress) is None
    assert recording_job("req-1", {"RecordingSid": RE, "RecordingUrl": f"{TWILIO}/Recordings/RE{'0' * 32}"}) is None
    assert recording_job("../etc", {"RecordingSid": RE, "RecordingUrl": f"{TWILIO}/Recordings/{RE}"}) is None


def test_mms_media_make_one_job_each_with_an_extension_from_the_content_type() -> None:
    params = {
        "MessageSid": MM, "NumMedia": "3", "MediaUrl0": f"{TWILIO}/Messages/{MM}/Media/{ME}",
        "MediaContentType0": "image/jpeg", "MediaUrl1": f"{TWILIO}/Messages/{MM}/Media/ME{'d4' * 16}",
        "MediaContentType1": "text/vcard", "MediaUrl2": "https://elsewhere.example/not-a-sid",
    }  # fmt: skip
    jobs = media_jobs(MM, params)
    assert [job.blob_name for job in jobs] == [f"{MM}/{ME}.jpg", f"{MM}/ME{'d4' * 16}.vcf"]  # the bad one is skipped
    assert all(job.parent_sid == MM for job in jobs)
    assert media_jobs(MM, {"NumMedia": "many"}) == []


@pytest.mark.parametrize(
    "raw", [b"not json", b"[]", b'{"kind": "recording"}', b'{"kind":"x","record_id":"a","sid":"b","url":"c",'
            b'"content_type":"d","parent_sid":"e"}',
            b"[" * 100_000, b'{"waits": 1' + b"0" * 5000 + b"}"],  # past the recursion and int-digit limits
)  # fmt: skip
def test_malformed_jobs_are_refused(raw: bytes) -> None:
    with pytest.raises(BadJob):
        Job.from_message(raw, (b"k",))


def test_credentials_go_only_to_the_api_host_of_this_account() -> None:
    emulator = "http://127.0.0.1:4011"
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RE}.wav"
    assert credentialed_url(f"https://api.twilio.com{path}", "https://api.twilio.com", ACCOUNT_SID) == (
        f"https://api.twilio.com{path}"
    )
    assert credentialed_url(f"https://api.twilio.com{path}", emulator, ACCOUNT_SID) == emulator + path
    assert credentialed_url(emulator + path, emulator, ACCOUNT_SID) == emulator + path
    for elsewhere in (f"https://api.twilio.com.evil.example{path}", f"http://api.twilio.com{path}",
                      f"https://media.twiliocdn.com{path}", f"http://127.0.0.1:4012{path}",
                      f"https://api.twilio.com/2010-04-01/Accounts/AC{'f' * 32}/Recordings/{RE}.wav"):  # fmt: skip
        with pytest.raises(BadJob):
            credentialed_url(elsewhere, emulator, ACCOUNT_SID)


def test_the_new_settings() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert (settings.recordings_container, settings.media_container) == ("recordings", "media")
    assert (settings.retention_days, settings.delete_recordings_at_twilio) == (None, False)
    extra = {"RETENTION_DAYS": "30", "DELETE_RECORDINGS_AT_TWILIO": "true", "ERASURE_AUDIT_SALT": "s3cret-salt"}
    chosen = Settings.from_env(BASE_ENV | extra | {"MEDIA_CONTAINER": "mms-copies"})
    assert (chosen.retention_days, chosen.delete_recordings_at_twilio) == (30, True)
    assert chosen.media_container == "mms-copies"
    assert "s3cret-salt" in chosen.secrets
    assert "s3cret-salt" not in repr(chosen)
    for name, value in (("RETENTION_DAYS", "0"), ("RETENTION_DAYS", "a week"), ("RECORDINGS_CONTAINER", "Recs"),
                        ("MEDIA_CONTAINER", "a--b"), ("MEDIA_CONTAINER", "ab")):  # fmt: skip
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(BASE_ENV | {name: value})
