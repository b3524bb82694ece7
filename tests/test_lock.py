"""The locks: requirements.txt (what Azure installs) and requirements-dev.txt pin every package with hashes, match
their inputs (requirements.in, requirements-dev.in), and hold everything an install with --require-hashes needs."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import lock

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+?)(?: ; (?P<marker>.+?))?(?: \\)?$")


def pins(path: Path) -> list[tuple[str, str, str | None, list[str]]]:
    """(name, version, marker, hashes) per pinned entry of a lock."""
    entries: list[tuple[str, str, str | None, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            entries.append((canonicalize_name(found["name"]), found["version"], found["marker"], []))
        elif line.strip().startswith("--hash=sha256:") and entries:
            entries[-1][3].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return entries


def applies(marker: str | None, env: dict[str, str]) -> bool:
    parsed = Requirement(f"x; {marker}").marker if marker else None
    return parsed is None or parsed.evaluate(env)


def inputs(path: Path) -> list[Requirement]:
    found: list[Requirement] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text.startswith("-r "):
            found += inputs(path.parent / text[3:].strip())
        elif text:
            found.append(Requirement(text))
    return found


@pytest.mark.parametrize(("source", "locked"), list(lock.LOCKS.items()))
def test_the_lock_was_made_from_its_input_as_it_is(source: str, locked: str) -> None:
    recorded = lock.recorded_digest(ROOT / locked)
    assert recorded is not None, f"{locked} has no input hash: make it with `make lock`"
    assert recorded == lock.input_digest(ROOT / source), f"{source} changed since {locked} was made: run `make lock`"


def test_a_changed_input_is_seen(tmp_path: Path) -> None:
    for name in ("requirements.in", "requirements-dev.in"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    before = lock.input_digest(tmp_path / "requirements-dev.in")
    with (tmp_path / "requirements.in").open("a", encoding="utf-8") as included:
        included.write("six>=1\n")  # a change to the included file changes the dev lock's input too
    assert lock.input_digest(tmp_path / "requirements-dev.in") != before


@pytest.mark.parametrize(("source", "locked"), list(lock.LOCKS.items()))
def test_every_entry_is_pinned_with_hashes_and_fits_the_ranges(source: str, locked: str) -> None:
    entries = pins(ROOT / locked)
    assert entries
    assert all(hashes and all(len(h) == 64 for h in hashes) for _, _, _, hashes in entries), "an entry has no hash"
    text = (ROOT / locked).read_text(encoding="utf-8")
    assert not re.search(r"^(?!#)[^\s-][^=\n]*(?:>=|<|~=|\s@\s)", text, re.M), "every entry is an exact pin"
    for python in ("3.11", "3.13"):
        env = default_environment() | {"python_version": python, "python_full_version": f"{python}.0"}
        chosen = {name: version for name, version, marker, _ in entries
                  if marker is None or Requirement(f"x; {marker}").marker.evaluate(env)}  # fmt: skip
        for wanted in inputs(ROOT / source):
            if wanted.marker is not None and not wanted.marker.evaluate(env):
                continue
            name = canonicalize_name(wanted.name)
            assert name in chosen, f"{locked} has no {name} for Python {python}"
            assert wanted.specifier.contains(chosen[name], prereleases=True), (name, chosen[name], python)
    versions = {(name, marker) for name, _, marker, _ in entries}
    assert len(versions) == len(entries), "a package is pinned twice for the same Pythons"


def test_azure_functions_is_1x_below_313_and_2x_from_313() -> None:
    entries = [(v, m) for name, v, m, _ in pins(ROOT / "requirements.txt") if name == "azure-functions"]
    majors = {marker: version.split(".")[0] for version, marker in entries}
    assert majors == {"python_full_version < '3.13'": "1", "python_full_version >= '3.13'": "2"}


def test_the_lock_is_closed_under_the_installed_dependencies() -> None:
    """--require-hashes refuses an install that needs a package the lock lacks: check each locked package's own
    requirements (this interpreter's markers) against the lock, from the metadata of what is installed here."""
    env = default_environment()
    for locked in lock.LOCKS.values():
        entries = pins(ROOT / locked)
        here = {
            name for name, _, marker, _ in entries if marker is None or Requirement(f"x; {marker}").marker.evaluate(env)
        }
        for name in sorted(here):
            try:
                requires = importlib.metadata.requires(name) or []
            except importlib.metadata.PackageNotFoundError:
                continue  # not installed in this environment (uv itself, say): the lead's `make setup` adds it
            for text in requires:
                requirement = Requirement(text)
                if requirement.marker is not None and not requirement.marker.evaluate(env | {"extra": ""}):
                    continue
                assert canonicalize_name(requirement.name) in here, f"{locked}: {name} needs {requirement.name}"


def test_the_installed_environment_is_the_lock() -> None:
    """What this environment runs the tests with is what the lock pins (for the packages it has)."""
    env = default_environment()
    different = []
    for name, version, marker, _ in pins(ROOT / "requirements-dev.txt"):
        if marker is not None and not Requirement(f"x; {marker}").marker.evaluate(env):
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if installed != version:
            different.append(f"{name} {installed} (lock: {version})")
    assert not different, f"reinstall with `make setup` (it installs the lock): {different}"
