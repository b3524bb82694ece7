"""`make lock`: pin requirements.in and requirements-dev.in into requirements.txt and requirements-dev.txt.

Each lock lists every package the app (or the dev tools) needs, at one version, with the sha256 of
every file PyPI serves for it, for every Python from 3.10 up (`uv pip compile --universal`): markers
split what differs, such as azure-functions 1.x below Python 3.13 and 2.x from 3.13 on. uv keeps the
versions already in a lock when they still fit its input, so relocking after a small change moves
nothing else; `--upgrade` moves everything to the newest versions the ranges allow.

Each lock starts with the sha256 of its input; tests/test_lock.py fails when an input changed without
a new lock. Needs `uv` (in requirements-dev.in) and the package index.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"requirements.in": "requirements.txt", "requirements-dev.in": "requirements-dev.txt"}
LOWEST_PYTHON = "3.10"  # pyproject.toml: requires-python
INPUT_HASH = "# input sha256: "


def input_digest(source: Path) -> str:
    """The sha256 of an input and of every input it includes with `-r` (the dev input includes the app's)."""
    digest = hashlib.sha256()
    for path in _with_includes(source):
        digest.update(path.name.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()


def _with_includes(source: Path) -> list[Path]:
    found = [source]
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("-r "):
            found += _with_includes(source.parent / line[3:].strip())
    return found


def recorded_digest(lock: Path) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(INPUT_HASH):
            return line.removeprefix(INPUT_HASH).strip()
    return None


def compile_lock(source: Path, lock: Path, *, upgrade: bool, uv: str) -> None:
    command = [
        uv, "pip", "compile", str(source.name), "--output-file", str(lock.name), "--universal", "--generate-hashes",
        "--python-version", LOWEST_PYTHON, "--custom-compile-command", "make lock", "--quiet",
    ]  # fmt: skip
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, cwd=source.parent, check=True)
    text = lock.read_text(encoding="utf-8")
    lock.write_text(f"{INPUT_HASH}{input_digest(source)}\n{text}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest version allowed")
    args = parser.parse_args(argv)
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(uv).exists():
        print("error: uv is not installed (it is in requirements-dev.in: `make setup`)", file=sys.stderr)
        return 2
    for source, lock in LOCKS.items():
        compile_lock(ROOT / source, ROOT / lock, upgrade=args.upgrade, uv=uv)
        print(f"wrote {lock} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
