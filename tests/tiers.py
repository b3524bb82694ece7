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

# Modules whose module-scoped fixture starts processes or builds something (the benchmark's quick run, Prism,
# twilio-node, the artifact, an OAuth Azurite, Chromium, the docs' stack): each runs on one xdist worker
# (the scheduler below), or every worker that got one of its tests would pay for it again.
ONE_WORKER = (
    "tests/bench/test_smoke.py",
    "tests/outbound/test_prism_contract.py",
    "tests/emulator/test_twilio_node.py",
    "tests/test_package.py",
    "tests/functions/test_holdmusic_sas.py",
    "tests/dashboard/test_page_in_chromium.py",
    "tests/test_docs.py",
)


def needs_azurite(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return any(name in names for name in AZURITE_FIXTURES)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: only called under `-n`
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """xdist's `load`, except that each ONE_WORKER module is one unit of work (its tests on one worker, sent
    first, as the largest units). Not `--dist loadgroup`: with pytest 9, xdist 3.8's group marker is lost."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # xdist ships no types

    class HeavyModulesTogether(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER else nodeid

    return HeavyModulesTogether(config, log)


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
