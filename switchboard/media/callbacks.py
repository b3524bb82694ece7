"""Recording status callbacks applied to the call's record; the copy job they start.

Pure of HTTP: the store is passed in. Used by POST /api/voice/recording (any recording status
callback: `record` on outbound calls, `<Record>`, `<Dial record>`) and by the voicemail twimlet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from switchboard.media.jobs import Job, recording_job
from switchboard.records.ids import ID_PATTERN
from switchboard.records.model import Record, iso
from switchboard.records.store import Finalised, RecordStore
from switchboard.shared.sids import is_call_sid

log = logging.getLogger("switchboard.media")


def call_record_id(store: RecordStore, request_id: str | None, call_sid: str, now: datetime) -> str | None:
    """The record of the call: by our (tag-checked) request id if that record is this call's, else by CallSid,
    else a new record for the call; None when the call was erased.

    A request id whose record holds another call's SID, or whose call SID another record holds, is
    not this call's: the recording never lands on it (nor its blob in that record's folder).
    """
    found = store.record_id_for_sid(call_sid)
    if request_id and ID_PATTERN.fullmatch(request_id):
        named = store.get(request_id)
        if named is not None and named.sid in (None, call_sid) and found in (None, request_id):
            return request_id
        if named is not None:
            log.warning("A recording callback named record %s, which is not call %s's: ignored", request_id, call_sid)
    if found is not None:
        return found
    record = Record(
        id=call_sid, type="call", direction="unknown", status="completed", created_at=iso(now), updated_at=iso(now),
        sid=call_sid, reason="recording for a call with no record",
    )  # fmt: skip
    try:
        store.claim(record)  # and its index rows: the SID row too, unless another record holds the SID
    except Finalised:
        return None  # the call was erased: a replayed recording callback records and copies nothing
    return store.record_id_for_sid(call_sid) or call_sid


def record_recording(
    store: RecordStore, params: Mapping[str, str], request_id: str | None, now: datetime
) -> Job | None:
    """Note a completed recording on the call's record (once per RecordingSid); returns its copy job."""
    call_sid = params.get("CallSid") or ""
    if (params.get("RecordingStatus") or "completed") != "completed":
        return None
    if not is_call_sid(call_sid):  # it becomes a record key: only Twilio's shape (a signed body may hold anything)
        log.warning("Ignored a recording callback without a valid CallSid")
        return None
    record_id = call_record_id(store, request_id, call_sid, now)
    if record_id is None:
        return None
    job = recording_job(record_id, dict(params))
    if job is None:
        log.warning("Ignored a recording callback without a usable RecordingSid or RecordingUrl")
        return None
    duration = params.get("RecordingDuration") or ""
    changes: dict[str, Any] = {"recording_sid": job.sid, "recording_url": job.url}
    if duration.isdigit():
        changes["recording_duration"] = int(duration)

    def merge(record: Record) -> Record | None:
        if all(getattr(record, key) == value for key, value in changes.items()):
            return None
        return record.with_changes(now, **changes)

    store.update(record_id, merge)
    if store.mark_once(record_id, f"recording:{job.sid}"):
        store.add_event(record_id, "recording", sid=job.sid, status="completed", params=params, now=now)
    return job
