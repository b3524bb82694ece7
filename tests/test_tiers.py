"""The `azurite` marker is derived from fixture use (tests/tiers.py), and `make check` can trust it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import conftest, tiers
from tools.localmachine import PROJECT_ROOT, Azurite

# A tiny suite: fixtures named like the real ones, used directly, through other fixtures, and not at all.
CONFTEST = """
import pytest

@pytest.fixture(scope="session")
def own_azurite():
    return "installed"

@pytest.fixture(scope="session")
def azurite(own_azurite):
    return "UseDevelopmentStorage=true"

@pytest.fixture
def table(azurite):
    return azurite

@pytest.fixture
def store(table):
    return table
"""
TESTS = """
import os

import pytest

from tools.localmachine import Azurite

def test_direct(azurite):
    assert os.environ["AzureWebJobsStorage"] == "given"

def test_two_fixtures_away(store):
    pass

@pytest.mark.usefixtures("azurite")
def test_by_usefixtures():
    pass

def test_starts_its_own(own_azurite):
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(n, store):
    pass

class TestGroup:
    def test_in_a_class(self, store):
        pass

def test_pure(tmp_path):
    assert "AzureWebJobsStorage" not in os.environ
    with pytest.raises(AssertionError, match="own_azurite"):
        Azurite.on_free_ports().start()
"""
NEEDS_AZURITE = [
    "test_direct",
    "test_two_fixtures_away",
    "test_by_usefixtures",
    "test_starts_its_own",
    "test_parametrized[1]",
    "test_parametrized[2]",
    "TestGroup::test_in_a_class",
]


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only the plugin under test: installed plugins (Hypothesis, Playwright...) would cost a second a run.
    env = dict(
        os.environ, PYTHONPATH=str(PROJECT_ROOT), AzureWebJobsStorage="given", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    command = [sys.executable, "-m", "pytest", "-p", "tests.tiers", "-p", "no:cacheprovider", "-q",
               "--rootdir", str(folder), "-c", str(folder / "pytest.ini"), *args, str(folder)]  # fmt: skip
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    azurite: needs Azurite\n", encoding="utf-8")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST), encoding="utf-8")
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent(TESTS), encoding="utf-8")
    return tmp_path


def collected(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line.split("::", 1)[1] for line in result.stdout.splitlines() if line.startswith("test_tiny.py::"))


def test_the_marker_follows_the_fixture_closure(suite: Path) -> None:
    marked = run_pytest(suite, "--collect-only", "-m", "azurite")
    assert collected(marked) == sorted(NEEDS_AZURITE), marked.stdout + marked.stderr
    unmarked = run_pytest(suite, "--collect-only", "-m", "not azurite")
    assert collected(unmarked) == ["test_pure"], unmarked.stdout + unmarked.stderr


def test_an_unmarked_test_has_no_storage_and_cannot_start_azurite(suite: Path) -> None:
    ran = run_pytest(suite)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "8 passed" in ran.stdout


def test_this_session_derives_from_the_real_fixtures() -> None:
    for name in tiers.AZURITE_FIXTURES:
        assert callable(getattr(conftest, name)), name
    # This test uses neither: the guard is on for it.
    assert tiers.STORAGE_SETTING not in os.environ
    with pytest.raises(AssertionError, match="own_azurite"):
        Azurite.on_free_ports().start()


def test_no_test_marks_azurite_by_hand() -> None:
    hand_written = re.compile(r"mark\.azurite\b")
    ours = {Path(tiers.__file__).resolve(), Path(__file__).resolve()}
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in sorted((PROJECT_ROOT / "tests").rglob("*.py"))
        if path.resolve() not in ours and hand_written.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_versioned_path_exists() -> None:
    """A moved or renamed file would silently drop out of .ci/run's 3.13 pass."""
    for prefix in tiers.VERSIONED:
        path = PROJECT_ROOT / prefix
        assert path.is_dir() if prefix.endswith("/") else path.is_file(), prefix
