"""A pytest plugin that derives the `azurite` marker from fixture use, so it cannot drift, and marks `versioned`.

A test needs Azurite when its fixture closure (every fixture it asks for, and every fixture those ask
for, transitively) holds one of AZURITE_FIXTURES:
- `azurite`: the session's private Azurite (tests/conftest.py);
- `own_azurite`: the test starts its own, in process through `tools.localmachine.Azurite` or in a
  subprocess (the chaos harness, the benchmark, `make run`'s launcher).

Nobody writes `@pytest.mark.azurite` by hand (tests/test_tiers.py checks). A test without the marker
runs with no storage connection in its environment and may not start Azurite in process: one that
quietly used the session's Azurite (started earlier by another test) fails on its own, not only in
`make check`, where no Azurite runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import pytest

AZURITE_FIXTURES = ("azurite", "own_azurite")
STORAGE_SETTING = "AzureWebJobsStorage"
# What can differ between Python 3.10-3.12 (azure-functions 1.x) and 3.13 (2.x), beyond the quick tier:
# the shell, called through `app.get_functions()` with the worker's request, response and queue types;
# the app's function metadata and timer and queue triggers as the local host reads them; the deployment
# artifact's bytecode and what pip installs from a checkout. Marked `versioned`; .ci/run's 3.13 pass runs
# `versioned or (not azurite and not slow)`.
VERSIONED = (
    "tests/functions/",
    "tests/devhost/test_local_host.py",
    "tests/devhost/test_timers.py",
    "tests/outbound/test_worker.py",
    "tests/test_package.py",
    "tests/test_packaging.py",
    "tests/test_settings.py",
)


def needs_azurite(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return any(name in names for name in AZURITE_FIXTURES)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_azurite(item):
            item.add_marker(pytest.mark.azurite)
        if item.nodeid.startswith(VERSIONED):
            item.add_marker(pytest.mark.versioned)


@pytest.fixture(autouse=True)
def _no_storage_unless_declared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("azurite") is not None:
        yield
        return
    from tools.localmachine import Azurite

    def refuse(self: Azurite, *args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("this test starts Azurite: ask for the `own_azurite` fixture, which marks it `azurite`")

    monkeypatch.delenv(STORAGE_SETTING, raising=False)
    monkeypatch.setattr(Azurite, "start", refuse)
    yield
