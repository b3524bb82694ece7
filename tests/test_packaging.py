"""Packaging: `pip install <checkout>` gives the `switchboard` package and its runtime dependencies, and
`.funcignore` keeps what never runs in Azure out of the deployment without dropping anything the app imports."""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pathspec
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY = (
    "tests/conftest.py", "bench/__main__.py", "chaos/__main__.py", "infra/main.bicep", "docs/emulator.md",
    "tools/devhost/host.py", "tools/emulator/rest.py", "switchboard/__main__.py",
    "switchboard/client.py", "local.settings.json.example", "requirements-dev.txt", "node_modules/x.js",
)  # fmt: skip
DEPLOYED = ("function_app.py", "host.json", "requirements.txt")
RANGES = ROOT / "requirements.in"  # the ranges; requirements.txt is their lock (tests/test_lock.py)


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


PRODUCER = ["azure-storage-queue>=12.9,<13", "azure-identity>=1.15,<2"]  # what switchboard.client and the CLI need


def test_pyproject_declares_the_runtime_requirements() -> None:
    """A producer's install is light; with `[app]` it is exactly the app's ranges (requirements.in)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["dependencies"] == PRODUCER
    app = project["optional-dependencies"]["app"]
    assert not set(app) & set(PRODUCER)
    assert sorted(project["dependencies"] + app) == sorted(requirement_lines(RANGES))


def test_only_the_switchboard_package_is_discovered() -> None:
    from setuptools import find_packages  # type: ignore[import-untyped]

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(str(ROOT), include=include))
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "switchboard").rglob("__init__.py")}
    assert found == on_disk
    assert not found & {"tests", "bench", "chaos"}


def local_imports(source: Path) -> set[str]:
    """Every module a file imports (at module level or deferred inside functions), with its parents."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 2)}


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def app_files() -> set[str]:
    """The files the app can import, starting at function_app.py."""
    seen: dict[str, Path] = {}
    todo = ["function_app"]
    while todo:
        name = todo.pop()
        if name in seen or (found := module_file(name)) is None:
            continue
        seen[name] = found
        todo.extend(local_imports(found))
    return {path.relative_to(ROOT).as_posix() for path in seen.values()}


@functools.cache
def funcignore() -> pathspec.GitIgnoreSpec:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines)


def test_funcignore_never_drops_what_the_app_imports() -> None:
    files = app_files()
    assert {"function_app.py", "switchboard/settings.py", "switchboard/functions/voice.py"} <= files
    excluded = sorted(path for path in files | set(DEPLOYED) if funcignore().match_file(path))
    assert excluded == [], f".funcignore drops files the app needs: {excluded}"


def test_funcignore_keeps_dev_tools_out_of_the_deployment() -> None:
    kept = [path for path in DEV_ONLY if not funcignore().match_file(path)]
    assert kept == [], f"dev-only files would be deployed: {kept}"
    # Everything under switchboard/ that the app cannot reach stays out too.
    reachable = app_files()
    for path in (ROOT / "switchboard").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if "__pycache__" not in relative and relative not in reachable:
            assert funcignore().match_file(relative), f"{relative} is never imported by the app but is deployed"


def test_deployed_code_reads_no_excluded_file() -> None:
    """The app's modules name no excluded path in code (docstrings aside): it reads nothing left behind."""
    spec = funcignore()
    for relative in app_files():
        tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value.strip()
                if "/" in text and not text.startswith(("/", "http")) and spec.match_file(text):
                    pytest.fail(f"{relative} refers to {text!r}, which .funcignore leaves out")


@pytest.mark.slow
def test_pip_install_of_a_checkout_in_a_fresh_venv(tmp_path: Path) -> None:
    """`pip install <checkout>` into a new venv, then import the client from another directory.

    Offline: the new venv sees this environment's packages through a .pth file, so pip finds every
    runtime dependency already satisfied (`--no-index` proves nothing is downloaded) and builds the
    package with this environment's setuptools.
    """
    checkout = tmp_path / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "dev-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--quiet", str(checkout)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import importlib.metadata, json, sys\n"
        "from switchboard.client import send_sms, outbound_queue\n"
        "import switchboard\n"
        "print(json.dumps({'file': switchboard.__file__, 'requires': importlib.metadata.requires('switchboard'),"
        " 'heavy': sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'twilio', 'requests'))}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run = subprocess.run(
        [str(python), "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert Path(found["file"]).is_relative_to(purelib)  # the installed copy, not the checkout
    assert found["heavy"] == []  # the client's import stays light: the Azure SDK loads on first use
    # A producer's install: only the queue SDK and azure-identity; the app's runtime is the `app` extra.
    base = {_normalise(r) for r in found["requires"] if "extra ==" not in r}
    assert base == {_normalise(r) for r in PRODUCER}
    extras = {_normalise(r.split(";")[0]) for r in found["requires"] if 'extra == "app"' in r}
    assert {"twilio['<10', '>=9.4']", "azure-data-tables['<13', '>=12.5']"} <= extras
    installed = {p.name for p in Path(purelib).iterdir()}
    assert not installed & {"tests", "bench", "chaos", "infra", "docs"}


def _normalise(requirement: str) -> str:
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    return f"{parsed.name.lower()}{sorted(str(s) for s in parsed.specifier)}{parsed.marker or ''}"


def test_make_setup_installs_the_project_so_the_client_runs_from_any_folder(tmp_path: Path) -> None:
    """`make setup` installs the checkout into .venv (editable, no more dependencies): a producer's script
    saved outside the checkout imports the client with .venv's python."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists():
        pytest.skip("this checkout has no .venv (`make setup` makes it)")
    script = tmp_path / "send.py"
    script.write_text("import switchboard, switchboard.client\nprint(switchboard.__file__)\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    run = subprocess.run(
        [str(venv_python), str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    owner = (ROOT / ".venv").resolve().parent  # the checkout whose `make setup` made this .venv
    assert Path(run.stdout.strip()).is_relative_to(owner)  # editable: that checkout's own code
