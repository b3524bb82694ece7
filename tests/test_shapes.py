"""One owner per shape: a SID, a number, a record id, an http(s) URL is spelled once, in its module.

The walk reads every string literal of the package (f-string parts too) and refuses the pattern of a
shape outside the module that owns it. client.py stands alone (producers copy it): its copies are
held equal to the originals instead.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

from switchboard import client
from switchboard.records import ids
from switchboard.shared import phones, sids, urls

ROOT = Path(__file__).resolve().parents[1]
# shape -> (what gives a literal away, the module allowed to spell it)
OWNERS = {
    # 32 of something, or two capitals before a hex class (`(CA|SM)[0-9a-f]`); not `%[0-9A-Fa-f]{2}`
    "a Twilio SID": (re.compile(r"\{32\}|[A-Z]{2}\)?\[(?:0-9)?(?:a-f|A-F|a-fA-F|A-Fa-f)(?:0-9)?\]"), "shared/sids.py"),
    "an E.164 number": (re.compile(r"\\\+\[1-9\]"), "shared/phones.py"),
    "a record id": (re.compile(re.escape("A-Za-z0-9_.:-")), "records/ids.py"),
    "an http(s) URL": (re.compile(re.escape("https?://")), "shared/urls.py"),
}
STANDS_ALONE = "client.py"


def literals(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.Tuple):
            # A rule of its own by prefix: `value.startswith(("http://", "https://"))` spells `https?://`.
            words = {item.value for item in node.elts if isinstance(item, ast.Constant)}
            if {"http://", "https://"} <= words:
                yield node.lineno, "https?://"


def respelled(package: Path) -> list[str]:
    """Every literal that spells a shape outside its owner, as `path:line: <shape> (owned by <module>)`."""
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name == STANDS_ALONE:
            continue
        for line, text in sorted(literals(path)):
            for shape, (tell, owner) in OWNERS.items():
                if name != owner and tell.search(text):
                    found.append(f"{name}:{line}: {shape} (owned by {owner})")
    return found


def test_no_module_respells_a_shape_it_does_not_own() -> None:
    problems = respelled(ROOT / "switchboard")
    assert problems == [], "\n".join(problems)


def test_the_walk_finds_a_planted_sid_pattern(tmp_path: Path) -> None:
    source = """\
        import re
        SID = re.compile(r"(CA|SM|MG)[0-9a-fA-F]{32}")
        def check(value):
            return re.fullmatch(rf"RE[0-9a-f]{{32}}\\.{value}", value)
        PHONE = r"^\\+[1-9]\\d{1,14}$"
    """
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "records.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "sids.py").write_text('CALL = r"CA[0-9a-fA-F]{32}"\n', encoding="utf-8")
    assert respelled(tmp_path) == [
        "functions/records.py:2: a Twilio SID (owned by shared/sids.py)",
        "functions/records.py:4: a Twilio SID (owned by shared/sids.py)",
        "functions/records.py:5: an E.164 number (owned by shared/phones.py)",
    ]


def test_the_clients_copies_are_the_originals() -> None:
    assert client._REQUEST_ID.pattern == ids.ID_PATTERN.pattern
    assert client._E164.pattern == phones.E164.pattern
    assert client._WHATSAPP.pattern == phones.WHATSAPP.pattern
    assert client._ALPHA_SENDER.pattern == phones.ALPHA_SENDER.pattern
    assert client._CONTENT_SID.pattern == sids.CONTENT.pattern
    assert client._HTTP_URL.pattern == urls.HTTP_URL.pattern
    assert client._URL_LIMIT == urls.URL_LIMIT


def test_clip_is_defined_once() -> None:
    defined = [
        f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
        for path in sorted((ROOT / "switchboard").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == "clip"
    ]
    assert [where.rsplit(":", 1)[0] for where in defined] == ["switchboard/shared/text.py"], defined
