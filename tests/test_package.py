"""`make package`: the deployment artifact holds the app and its bytecode, and nothing that never runs in Azure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tools import package

ROOT = Path(__file__).resolve().parent.parent
NEVER_SHIPPED = (
    *("tests/", "bench/", "chaos/", "tools/", "docs/", "infra/", "tools/devhost/", "tools/emulator/"),
    *(".venv", "node_modules/", "local.settings.json", "Makefile", "azure.yaml", "README.md", ".git"),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> package.Built:
    return package.build(tmp_path_factory.mktemp("dist"))


def test_azure_yaml_runs_the_packager_before_azd_packages_and_ships_its_output() -> None:
    service = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))["services"]["api"]
    assert service["host"] == "function"
    hooks = service["hooks"]["prepackage"]
    assert hooks["posix"] == {"shell": "sh", "run": "python3 -m tools.package"}
    assert hooks["windows"] == {"shell": "pwsh", "run": "python -m tools.package"}  # no .venv assumed
    assert service["dist"] == ".dist/app"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\npackage:\n\t$(PYTHON) -m tools.package\n" in makefile  # no `setup`: no Node, no dev requirements
    assert package.main.__module__ == "tools.package"
    assert Path(service["dist"]).parts[0] == ".dist"  # where the hook writes is where azd reads


def test_the_packager_runs_with_a_bare_python_and_no_node(tmp_path: Path) -> None:
    """The hook's command, in a venv without pip or any package, on a PATH with git but without node or npm."""
    import shutil

    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    git = shutil.which("git")
    assert git, "git is needed to package"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(git)
    (bin_dir / "python3").symlink_to(venv / "bin" / "python3")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run(["/bin/sh", "-c", "command -v node || command -v npm || echo none"], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert probe.stdout.strip() == "none"
    out = tmp_path / "dist"
    run = subprocess.run(["/bin/sh", "-c", f"python3 -m tools.package --out {out}"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "pathspec" not in run.stderr
    with zipfile.ZipFile(out / "switchboard.zip") as zf:
        names = set(zf.namelist())
    assert {"function_app.py", "host.json", "requirements.txt", "switchboard/settings.py"} <= names


def test_only_what_git_tracks_is_shipped(tmp_path: Path) -> None:
    """A stray file or folder in the checkout (untracked, not git-ignored) never reaches the artifact."""
    stray = ROOT / "switchboard" / "zz_stray_for_test"
    stray.mkdir()
    try:
        (stray / "__init__.py").write_text("raise SystemExit('a stray folder was shipped')\n", encoding="utf-8")
        built = package.build(tmp_path / "dist", pythons=[sys.executable])
        with zipfile.ZipFile(built.archive) as zf:
            names = zf.namelist()
    finally:
        (stray / "__init__.py").unlink()
        stray.rmdir()
    assert not [name for name in names if "zz_stray_for_test" in name]
    assert "switchboard/settings.py" in names


def test_the_artifact_is_the_app_and_nothing_that_never_runs_in_azure(built: package.Built) -> None:
    with zipfile.ZipFile(built.archive) as zf:
        names = zf.namelist()
    assert "function_app.py" in names
    assert "host.json" in names
    assert "requirements.txt" in names
    for module in ("switchboard/functions/outbound.py", "switchboard/outbound/worker.py", "switchboard/settings.py"):
        assert module in names
    leaked = [name for name in names if name.startswith(NEVER_SHIPPED) or "/.pytest_cache" in name]
    assert leaked == []
    # Every module function_app can import is there (whatever the other areas add).
    shipped_sources = {name for name in names if name.endswith(".py")}
    local_sources = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "switchboard").rglob("*.py")
        if not path.relative_to(ROOT).as_posix().startswith(("tools/devhost/", "tools/emulator/"))
    } - {"switchboard/client.py", "switchboard/__main__.py"}
    assert local_sources <= shipped_sources


def test_every_shipped_module_has_unchecked_hash_bytecode_for_each_interpreter(built: package.Built) -> None:
    with zipfile.ZipFile(built.archive) as zf:
        names = set(zf.namelist())
        tags = built.cache_tags
        assert sys.implementation.cache_tag in tags
        for source in (name for name in names if name.endswith(".py")):
            folder, _, file = source.rpartition("/")
            for tag in tags:
                cached = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{tag}.pyc"
                assert cached in names, cached
                header = zf.read(cached)[:16]
                flags = int.from_bytes(header[4:8], "little")
                assert flags == 0b01, f"{cached}: hash-based, source not checked"
                if tag == sys.implementation.cache_tag:
                    assert header[:4] == importlib.util.MAGIC_NUMBER


def test_bytecode_for_azures_python_is_included_when_this_machine_has_it(built: package.Built) -> None:
    if len(package.interpreters()) == 1 and sys.implementation.cache_tag != "cpython-312":
        pytest.skip("no Python 3.12 on this machine: the package has bytecode for the local interpreter only")
    assert "cpython-312" in built.cache_tags


def test_the_unpacked_artifact_starts_read_only_from_its_bytecode(built: package.Built, tmp_path: Path) -> None:
    with zipfile.ZipFile(built.archive) as zf:
        zf.extractall(tmp_path)
    result = subprocess.run(
        [sys.executable, "-v", "-c", "import function_app; print(len(function_app.app.get_functions()))"],
        cwd=tmp_path, env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert int(result.stdout.strip()) > 10
    loaded = [
        line for line in result.stderr.splitlines() if line.startswith("# code object from") and str(tmp_path) in line
    ]
    assert any("function_app." in line for line in loaded)
    assert any("/switchboard/functions/__pycache__/" in line for line in loaded)
    assert not list(tmp_path.rglob("*.pyc.*")), "nothing was written"
