from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import BASE_ENV  # noqa: E402

if TYPE_CHECKING:
    from tools.localmachine import Azurite

# Session-wide watch for leaked secrets and phone numbers (tests/leakguard.py); the `azurite` marker,
# derived from fixture use (tests/tiers.py).
pytest_plugins = ["tests.leakguard", "tests.tiers"]

# The app reads settings lazily, but set them before anything imports it.
for key in list(os.environ):
    app_setting = key.startswith(("TWILIO_", "VOICE_", "SMS_")) and key != "TWILIO_OAI_SPEC"
    if app_setting or key in ("PUBLIC_BASE_URL", "WEBHOOK_VALIDATION"):
        del os.environ[key]
os.environ.update(BASE_ENV)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    from switchboard.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set app settings for one test: configure(VOICE_GREETING="Hi", VOICE_FORWARD_TO=None)."""
    from switchboard.settings import get_settings

    def apply(**values: str | None) -> None:
        for key, value in values.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    return apply


@pytest.fixture(scope="session")
def app():
    import function_app

    return function_app.app


@pytest.fixture(scope="session")
def own_azurite() -> type[Azurite]:
    """For a test that starts its own Azurite (in process, or in a subprocess such as the chaos harness).

    Asking for it marks the test `azurite` (tests/tiers.py) and fails it plainly when Azurite is not installed.
    """
    from tools.localmachine import Azurite, node_binary

    try:
        node_binary("azurite")
    except FileNotFoundError as missing:
        pytest.fail(f"Azurite is not installed ({missing}); `make test` installs it", pytrace=False)
    return Azurite


@pytest.fixture(scope="session")
def azurite(own_azurite: type[Azurite]) -> Iterator[str]:
    """A private Azurite on free ports, in memory, for the whole session. Yields its connection string.

    Before it stops, the leak guard scans everything stored in it (one Azurite per xdist worker).
    """
    from tests.leakguard import scan_storage

    server = own_azurite.on_free_ports().start()
    os.environ["AzureWebJobsStorage"] = server.connection_string
    try:
        yield server.connection_string
        scan_storage(server.connection_string)
    finally:
        server.stop()


@pytest.fixture
def start_emulator(configure: Callable[..., None]) -> Iterator[Callable[..., Any]]:
    """Start the Twilio emulator on 127.0.0.1 and point the app's SDK client at it.

    `start_emulator(timeout=1)`: the client's timeout in seconds (slow-answer faults need a short one).
    """
    from switchboard.settings import Settings
    from tools.emulator.rest import TwilioEmulator

    started: list[TwilioEmulator] = []

    def start(timeout: int = 1) -> TwilioEmulator:
        emulator = TwilioEmulator.from_settings(Settings.from_env()).start()
        started.append(emulator)
        configure(TWILIO_API_BASE_URL=emulator.base_url, TWILIO_TIMEOUT_SECONDS=str(timeout))
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def queue_name(azurite: str) -> Iterator[str]:
    """A fresh queue on the session's Azurite (not the app's `outbound`), deleted afterwards."""
    import uuid

    from switchboard.adapters.storage import queue_client

    name = "outbound-" + uuid.uuid4().hex[:10]
    queue_client(name).create_queue()
    yield name
    queue_client(name).delete_queue()


@pytest.fixture(scope="session")
def served(app: Any, azurite: str) -> Iterator[Any]:
    """The real app over HTTP through the local host (no queue listeners), with the tests' function key."""
    from tests.support import FUNCTION_KEY
    from tools.devhost.host import LocalHost
    from tools.localmachine import free_port

    host = LocalHost(app, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False, provision=True).start()
    yield host
    host.stop()
