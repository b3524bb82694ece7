"""Issue 20 point 2: a record id in a URL the app gives Twilio is bound (HMAC tag), and a callback's SID must agree.

Any TwiML on the account can point Twilio's signed callbacks at `…/api/voice/status?request_id=<someone
else's id>`. Before, such a callback relinked a `retrying` request to another call (marked completed, so
the real call was never placed), and a recording callback overwrote another record's recording and filed
the audio in its blob folder.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from switchboard.media.callbacks import record_recording
from switchboard.outbound.twilio_params import (
    RECORDING_STATUS_PATH,
    SMS_STATUS_PATH,
    VOICE_STATUS_PATH,
    bound_request_id,
    status_callback_url,
)
from switchboard.records.callbacks import record_status_callback
from switchboard.records.model import Record, iso
from switchboard.records.store import RecordStore
from switchboard.shared import tags
from tests.support import PHONE_NUMBER, PUBLIC_BASE_URL, post_signed

NOW = datetime.now(timezone.utc)
KEY = tags.derive("a salt", tags.KEY_CONTEXT)


def _id() -> str:
    return "t-" + uuid.uuid4().hex[:16]


def _retrying(store: RecordStore) -> Record:
    """A request between attempts: no SID yet (the first attempt's answer was lost or it failed)."""
    record = Record(id=_id(), type="call", direction="outbound", status="retrying", created_at=iso(NOW),
                    updated_at=iso(NOW), to="+15558670501", from_=PHONE_NUMBER, attempts=1)  # fmt: skip
    return store.claim(record)[0]


def _placed(store: RecordStore, sid: str) -> Record:
    record = Record(id=_id(), type="call", direction="outbound", status="in-progress", created_at=iso(NOW),
                    updated_at=iso(NOW), to="+15558670502", from_=PHONE_NUMBER, sid=sid)  # fmt: skip
    stored = store.claim(record)[0]
    store.link_sid(sid, stored.id)
    return stored


def test_tags_bind_the_id_to_its_route_and_key() -> None:
    url = status_callback_url(PUBLIC_BASE_URL, VOICE_STATUS_PATH, "r-1", KEY)
    assert url is not None
    assert "request_id=r-1&tag=" in url
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    assert bound_request_id(query.get, VOICE_STATUS_PATH, (KEY,)) == "r-1"
    assert bound_request_id(query.get, RECORDING_STATUS_PATH, (KEY,)) is None  # another route's tag
    assert bound_request_id(query.get, SMS_STATUS_PATH, (KEY,)) is None
    assert bound_request_id((query | {"request_id": "r-2"}).get, VOICE_STATUS_PATH, (KEY,)) is None  # another id
    assert bound_request_id({"request_id": "r-1"}.get, VOICE_STATUS_PATH, (KEY,)) is None  # no tag
    other = tags.derive("another salt", tags.KEY_CONTEXT)
    assert bound_request_id(query.get, VOICE_STATUS_PATH, (other,)) is None
    assert bound_request_id(query.get, VOICE_STATUS_PATH, (other, KEY)) == "r-1"  # rotation: both accepted


def test_the_app_key_follows_the_salt_else_both_tokens(configure) -> None:
    from switchboard.settings import get_settings

    configure(ERASURE_AUDIT_SALT=None, TWILIO_AUTH_TOKEN_SECONDARY="b" * 32)
    by_tokens = get_settings().tag_keys
    assert len(by_tokens) == 2
    configure(ERASURE_AUDIT_SALT="s" * 32)
    assert get_settings().tag_keys == (tags.derive("s" * 32, tags.KEY_CONTEXT),)
    assert by_tokens[0] not in get_settings().tag_keys


def test_another_calls_callback_naming_a_retrying_request_does_not_relink_it(app, azurite: str) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    store = store_for(get_settings())
    victim = _retrying(store)
    intruder = "CA" + uuid.uuid4().hex
    url = f"{PUBLIC_BASE_URL}/api/voice/status?request_id={victim.id}"  # no tag: not the app's URL
    response = post_signed(app, "voice_status", url, {"CallSid": intruder, "CallStatus": "completed"})
    assert response.status_code == 200
    after = store.get(victim.id)
    assert after is not None
    assert (after.status, after.sid) == ("retrying", None)


def test_a_tagged_request_id_still_links_its_own_call(app, azurite: str) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    settings = get_settings()
    store = store_for(settings)
    mine = _retrying(store)
    sid = "CA" + uuid.uuid4().hex
    url = status_callback_url(PUBLIC_BASE_URL, VOICE_STATUS_PATH, mine.id, settings.tag_keys[0])
    assert url is not None
    assert post_signed(app, "voice_status", url, {"CallSid": sid, "CallStatus": "ringing"}).status_code == 200
    after = store.get(mine.id)
    assert after is not None
    assert (after.status, after.sid) == ("ringing", sid)


def test_a_sid_another_record_holds_never_relinks_a_record(twin_store: RecordStore) -> None:
    """Even with the id right (a leaked tagged URL), the SID must agree: another record's call stays its own."""
    victim, other = _retrying(twin_store), _placed(twin_store, "CA" + uuid.uuid4().hex)
    params = {"CallSid": other.sid or "", "CallStatus": "completed"}
    assert record_status_callback(twin_store, "call", params, victim.id, NOW) == other.id
    after = twin_store.get(victim.id)
    assert after is not None
    assert (after.status, after.sid) == ("retrying", None)
    landed = twin_store.get(other.id)
    assert landed is not None
    assert landed.status == "completed"


def test_a_recording_callback_cannot_overwrite_another_records_recording(app, azurite: str) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    settings = get_settings()
    store = store_for(settings)
    victim = _placed(store, "CA" + uuid.uuid4().hex)
    first = {"CallSid": victim.sid or "", "RecordingSid": "RE" + uuid.uuid4().hex, "RecordingStatus": "completed",
             "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/x"}  # fmt: skip
    first["RecordingUrl"] = first["RecordingUrl"].rsplit("/", 1)[0] + "/" + first["RecordingSid"]
    job = record_recording(store, first, victim.id, NOW)
    assert job is not None
    assert job.record_id == victim.id
    intruder = "CA" + uuid.uuid4().hex
    forged = first | {"CallSid": intruder, "RecordingSid": "RE" + uuid.uuid4().hex}
    forged["RecordingUrl"] = forged["RecordingUrl"].rsplit("/", 1)[0] + "/" + forged["RecordingSid"]
    for url in (
        f"{PUBLIC_BASE_URL}/api/voice/recording?request_id={victim.id}",  # untagged
        status_callback_url(PUBLIC_BASE_URL, RECORDING_STATUS_PATH, victim.id, settings.tag_keys[0]),  # leaked
    ):
        assert url is not None
        assert post_signed(app, "voice_recording", url, forged).status_code == 200
        after = store.get(victim.id)
        assert after is not None
        assert after.recording_sid == first["RecordingSid"], url
        assert after.sid == victim.sid
    # The forged recording is its own call's, filed under that call's record, never the victim's folder.
    assert store.record_id_for_sid(intruder) == intruder


@pytest.mark.parametrize("kind", ["call", "sms"])
def test_worker_callback_urls_carry_a_tag(kind: str) -> None:
    from switchboard.outbound.contract import validate
    from switchboard.outbound.twilio_params import create_params

    message = {"type": kind, "id": "r-1", "to": "+15558675310", "say": "Hi"}
    if kind == "sms":
        message = {"type": kind, "id": "r-1", "to": "+15558675310", "body": "Hi"}
    params = create_params(validate(message, default_id="m", default_from=PHONE_NUMBER), PUBLIC_BASE_URL, key=KEY)
    path = VOICE_STATUS_PATH if kind == "call" else SMS_STATUS_PATH
    assert params["status_callback"] == f"{PUBLIC_BASE_URL}{path}?request_id=r-1&tag={tags.tag(KEY, path, 'r-1')}"


@pytest.mark.parametrize("call_sid", ["\x1f", "CA/../x", "RE" + "0" * 32, "CA" + "0" * 31 + "'", ""])
def test_a_recording_callback_without_twilios_callsid_shape_records_nothing(app, azurite: str, call_sid: str) -> None:
    """The CallSid becomes a record key: a signed body with another shape (the hostile-input test found a
    control character, which Table Storage refuses in keys: a 503) records nothing and answers 200."""
    from switchboard.functions.glue_records import store_for
    from switchboard.settings import get_settings

    recording = "RE" + uuid.uuid4().hex
    params = {"CallSid": call_sid, "RecordingSid": recording, "RecordingStatus": "completed",
              "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{recording}"}  # fmt: skip
    response = post_signed(app, "voice_recording", f"{PUBLIC_BASE_URL}/api/voice/recording", params)
    assert response.status_code == 200
    assert record_recording(store_for(get_settings()), params, None, NOW) is None
