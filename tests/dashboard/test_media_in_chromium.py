"""The operator page plays a recording and shows MMS images from the user's own storage, in a real Chromium.

Media come through the keyed route GET /api/media/{id}/{name} on the page's own origin, under the page's
strict Content-Security-Policy (media-src and img-src 'self'): no Twilio URL, no public container, no SAS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.dashboard.test_page_in_chromium import ARTIFACTS, browser, open_page  # noqa: F401 (fixture)
from tests.support import FUNCTION_KEY, PHONE_NUMBER
from tools.devhost.host import LocalHost
from tools.emulator.recordings import png_bytes, wav_bytes
from tools.localmachine import free_port

pytestmark = pytest.mark.slow
MARK = uuid.uuid4().hex[:10]
SETTINGS = {"RECORDS_TABLE": f"media{MARK}", "RECORDINGS_CONTAINER": f"rec{MARK}", "MEDIA_CONTAINER": f"mms{MARK}"}


@pytest.fixture
def seeded(azurite: str, configure) -> dict[str, Any]:
    """A voicemail with its WAV and an MMS with two PNGs, stored as the copy jobs store them."""
    from azure.storage.blob import ContentSettings

    from switchboard.functions.glue_records import store_for
    from switchboard.media.blobs import container
    from switchboard.records.model import Record, iso
    from switchboard.settings import get_settings

    configure(**SETTINGS)
    store = store_for(get_settings())
    now = datetime.now(timezone.utc)
    call, mms = "CA" + uuid.uuid4().hex, "MM" + uuid.uuid4().hex
    recording = f"{call}/RE{uuid.uuid4().hex}.wav"
    images = [f"{mms}/ME{uuid.uuid4().hex}.png" for _ in range(2)]
    for record_id, kind, names, created in ((call, "call", [recording], now - timedelta(minutes=2)),
                                            (mms, "sms", images, now - timedelta(minutes=1))):  # fmt: skip
        store.claim(Record(id=record_id, type=kind, direction="inbound", status="completed" if kind == "call" else
                           "received", created_at=iso(created), updated_at=iso(created), to=PHONE_NUMBER,
                           from_="+15558670501", sid=record_id, blobs=json.dumps(names)))  # fmt: skip
    container(SETTINGS["RECORDINGS_CONTAINER"]).upload_blob(
        recording, wav_bytes(2), overwrite=True, content_settings=ContentSettings(content_type="audio/x-wav")
    )
    for index, name in enumerate(images):
        container(SETTINGS["MEDIA_CONTAINER"]).upload_blob(
            name, png_bytes(index), overwrite=True, content_settings=ContentSettings(content_type="image/png")
        )
    return {"call": call, "mms": mms, "recording": recording, "images": images}


@pytest.fixture
def host(app, seeded: dict[str, Any]) -> Iterator[LocalHost]:
    with LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as served:
        yield served


def test_the_operator_page_plays_a_recording_and_shows_mms_images(
    browser: Any,  # noqa: F811 (the fixture)
    host: LocalHost,
    seeded: dict[str, Any],
) -> None:
    page, problems = open_page(browser, f"{host.base_url}/dashboard?code={FUNCTION_KEY}")
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    try:
        call_row = page.locator(f'#records tbody tr:has(code:text-is("{seeded["call"]}"))')
        audio = call_row.locator("audio")
        assert audio.count() == 1
        src = audio.get_attribute("src") or ""
        assert src.startswith(f"media/{seeded['call']}/RE")
        assert "twilio.com" not in page.content()
        # Chromium loads and decodes the WAV through the keyed route: two seconds of audio.
        page.wait_for_function(
            "el => el.readyState >= 1 && Math.abs(el.duration - 2) < 0.05", arg=audio.element_handle(), timeout=15_000
        )
        played = page.evaluate(
            "async el => { el.muted = true; try { await el.play(); } catch (e) { return String(e); }"
            " await new Promise(r => setTimeout(r, 400)); el.pause(); return el.currentTime; }",
            audio.element_handle(),
        )
        assert isinstance(played, float | int), played
        assert played > 0
        mms_row = page.locator(f'#records tbody tr:has(code:text-is("{seeded["mms"]}"))')
        images = mms_row.locator("img")
        assert images.count() == 2
        for index in range(2):
            image = images.nth(index)
            image.scroll_into_view_if_needed()
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())
            assert image.evaluate("el => [el.naturalWidth, el.naturalHeight]") == [32, 32]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-media.png"), full_page=True)
        # Nothing refused by the CSP, no failed request, no script errors.
        assert failed == []
        assert problems == [], problems
    finally:
        page.close()
    # Without the key the route answers 401: the media are not public.
    import requests

    assert requests.get(f"{host.base_url}/{src.split('?')[0]}", timeout=10).status_code == 401
