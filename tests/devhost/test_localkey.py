"""Issue 20 point 7: `make run` gives the first local.settings.json a random LOCAL_FUNCTION_KEY."""

from __future__ import annotations

import json
from pathlib import Path

from tools.localkey import KEY, main
from tools.localmachine import PROJECT_ROOT


def test_the_first_copy_gets_a_key_of_its_own_and_an_existing_file_is_kept(tmp_path: Path) -> None:
    example = PROJECT_ROOT / "local.settings.json.example"
    published = json.loads(example.read_text(encoding="utf-8"))
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main([str(example), str(first)]) == 0
    assert main([str(example), str(second)]) == 0
    made = json.loads(first.read_text(encoding="utf-8"))
    keys = {made["Values"][KEY], json.loads(second.read_text(encoding="utf-8"))["Values"][KEY]}
    assert published["Values"][KEY] not in keys
    assert len(keys) == 2
    assert all(len(key) >= 32 for key in keys)
    assert {k: v for k, v in made["Values"].items() if k != KEY} == {
        k: v for k, v in published["Values"].items() if k != KEY
    }
    first.write_text('{"Values": {"MINE": "1"}}', encoding="utf-8")
    assert main([str(example), str(first)]) == 0
    assert json.loads(first.read_text(encoding="utf-8")) == {"Values": {"MINE": "1"}}


def test_make_run_uses_it() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "local.settings.json:\n\t$(PYTHON) -m tools.localkey local.settings.json.example $@" in makefile
