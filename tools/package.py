"""`make package`: build the deployment artifact, `.dist/switchboard.zip`, and its unpacked tree `.dist/app`.

The artifact holds the files git tracks that `.funcignore` lets through (git itself applies `.funcignore`,
with the gitignore rules Core Tools and azd read it with; a stray folder or an untracked file never ships),
plus the app's bytecode compiled here, in `__pycache__`, for each interpreter given:
Azure's (infra/ says Python 3.12) and the local default. Bytecode is per version
(`cpython-312` beside `cpython-311`), and compiled with `--invalidation-mode unchecked-hash`, so it
stays valid whatever timestamps unpacking gives the files: Azure mounts the package read-only, and
without shipped bytecode every cold start compiles the app's own modules from source.

`.funcignore` still lists `__pycache__/` and `*.pyc`: a developer's stale bytecode never ships; only
what this step compiles from the staged sources does. Core Tools' own packing would drop it.

It needs only Python (any 3.10+, the standard library) and git: no virtual environment, no dev requirements,
no Node, so azd's prepackage hook runs it as `python3 -m tools.package` (`python` on Windows).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURE_PYTHON = "3.12"  # infra/main.bicep: runtimeVersion
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries carry no build time: the same tree gives the same zip


class NotACheckout(RuntimeError):
    """The folder is not a git checkout: what git tracks is what ships, so there must be a git."""


def _git(root: Path, *args: str) -> list[str]:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, timeout=60)
    except FileNotFoundError:
        raise NotACheckout("git is not installed: `make package` ships the files git tracks") from None
    if done.returncode != 0:
        raise NotACheckout(f"{root} is not a git checkout ({done.stderr.decode(errors='replace').strip()})")
    return sorted(name for name in done.stdout.decode("utf-8").split("\0") if name)


def shipped_files(root: Path) -> list[Path]:
    """Files git tracks under `root` that `.funcignore` does not exclude, relative to `root`, sorted."""
    tracked = _git(root, "ls-files", "-z", "--cached")
    ignored = set(_git(root, "ls-files", "-z", "--cached", "--ignored", f"--exclude-from={root / '.funcignore'}"))
    return [Path(name) for name in tracked if name not in ignored and (root / name).is_file()]


def interpreters(extra: Iterable[str] = ()) -> list[str]:
    """The local default interpreter, then Azure's version when this machine has it (pyenv or PATH)."""
    candidates = [*extra, os.environ.get("PACKAGE_PYTHON312", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        versions = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False).stdout
        candidates += [
            str(Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions" / v / "bin" / "python3")
            for v in versions.split()
            if v.startswith(f"{AZURE_PYTHON}.")
        ]
    candidates.append(shutil.which(f"python{AZURE_PYTHON}") or "")
    found, tags = [sys.executable], {sys.implementation.cache_tag}
    for candidate in candidates:
        tag = cache_tag(candidate) if candidate and Path(candidate).is_file() else None
        if tag and tag not in tags:
            found.append(candidate)
            tags.add(tag)
    return found


def cache_tag(python: str) -> str | None:
    """`cpython-312` and the like; None when the interpreter does not run (a pyenv shim for a missing version)."""
    out = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass(frozen=True)
class Built:
    archive: Path
    stage: Path
    files: int
    cache_tags: list[str]


def build(out: Path, root: Path = ROOT, pythons: list[str] | None = None) -> Built:
    """Stage the shipped files into `out/app`, compile them per interpreter, zip them to `out/switchboard.zip`."""
    stage, archive = out / "app", out / "switchboard.zip"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    files = shipped_files(root)
    for rel in files:
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, stage / rel)
    tags: list[str | None] = []
    for python in pythons or interpreters():
        subprocess.run(
            [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", str(stage),
             str(stage)],
            check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        )  # fmt: skip
        tags.append(cache_tag(python))
    entries = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in entries:
            info = zipfile.ZipInfo(rel.as_posix(), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (stage / rel).read_bytes())
    return Built(archive=archive, stage=stage, files=len(entries), cache_tags=[tag for tag in tags if tag])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".dist")
    args = parser.parse_args(argv)
    try:
        result = build(args.out)
    except NotACheckout as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {result.archive} ({result.files} files; bytecode for {', '.join(result.cache_tags)})")
    if f"cpython-{AZURE_PYTHON.replace('.', '')}" not in result.cache_tags:
        print(f"warning: no Python {AZURE_PYTHON} found: the package has no bytecode for the version Azure runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
