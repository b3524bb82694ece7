"""The layout's second rule: imports run one way, down the list of rooms, and never in a circle.

Ranks, lowest first: shared leaves, policies, settings, adapters and records, the features, the
`functions/` shell (which only `function_app.py` imports), the producer faces. A module may import
its own rank or below, never above. Pure AST over the source files: nothing of the app is imported,
so the walk sees every import, also those deferred into functions or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "switchboard"
FEATURES = ("webhooks", "twiml", "outbound", "media", "mail", "dashboard", "health")
RANKS: Mapping[str, int] = {
    "": 0,  # switchboard/__init__.py: the version, nothing else
    "shared": 0,
    "policies": 1,
    "settings": 2,
    "adapters": 3,
    "records": 3,
    **dict.fromkeys(FEATURES, 4),
    "functions": 5,
    "client": 6,
    "__main__": 6,
}
SHELL = "functions"
# A producer copies client.py into its own app: it stands alone.
STANDS_ALONE = frozenset({"client"})


@dataclass(frozen=True)
class Import:
    source: str  # dotted module names
    target: str
    line: int


def modules(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a package by its __init__)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(root: Path, package: str = PACKAGE) -> tuple[list[Import], list[str]]:
    """Every import of the package's own modules, and the problems met on the way (relative or unknown imports).

    `from a.b import c` is an import of a.b.c when c is a module (a submodule, not a name), else of a.b.
    """
    known = modules(root, package)
    found: list[Import] = []
    problems: list[str] = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                problems.append(f"{name}:{node.lineno}: relative import (write the absolute module name)")
                continue
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                submodules = [f"{node.module}.{alias.name}" for alias in node.names]
                named = [module for module in submodules if module in known]
                if len(named) < len(submodules):  # some of the names are the module's own
                    named.append(node.module)
            else:
                continue
            for target in named:
                if target != package and not target.startswith(package + "."):
                    continue
                if target not in known:
                    problems.append(f"{name}:{node.lineno}: imports {target}, which is no module of {package}")
                else:
                    found.append(Import(name, target, node.lineno))
    return found, problems


def room(module: str, package: str = PACKAGE) -> str:
    """`switchboard.records.store` -> `records`; `switchboard` -> ``."""
    return module.removeprefix(package).lstrip(".").split(".", 1)[0]


def check(root: Path, package: str = PACKAGE) -> list[str]:
    """Every way the package's imports break the layout, one line each; [] when they hold."""
    edges, problems = imports(root, package)
    for each in edges:
        source, target = room(each.source, package), room(each.target, package)
        where = f"{each.source}:{each.line}: imports {each.target}"
        if source not in RANKS or target not in RANKS:
            unplaced = source if source not in RANKS else target
            problems.append(f"{where}; the room {unplaced!r} has no rank (RANKS)")
        elif RANKS[target] > RANKS[source]:
            problems.append(f"{where}, which is above it ({target} over {source or package})")
        elif target == SHELL and source != SHELL:
            problems.append(f"{where}: only function_app.py imports the shell")
        elif source in STANDS_ALONE and target != source:
            problems.append(f"{where}: {source}.py stands alone (producers copy it)")
    graph = _graph((each.source, each.target) for each in edges)
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    rooms = _graph(
        (room(e.source, package), room(e.target, package))
        for e in edges
        if room(e.source, package) != room(e.target, package)
        and RANKS.get(room(e.source, package)) == RANKS.get(room(e.target, package))
    )
    problems += [f"circle between rooms of one rank: {' -> '.join(cycle)}" for cycle in cycles(rooms)]
    return problems


def _graph(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for source, target in pairs:
        if source != target:
            graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one node, as a path that returns to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graphs here are a few hundred nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, component) for component in components]


def _path_through(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle from the component's first node back to itself (breadth first, inside the component)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {sorted(component)}")  # a strongly connected component has one


# -- the real tree ----------------------------------------------------------------------------------


def test_the_package_imports_run_one_way_without_circles() -> None:
    problems = check(ROOT)
    assert problems == [], "\n".join(problems)


def test_every_room_of_the_package_has_a_rank() -> None:
    on_disk = {room(name) for name in modules(ROOT)}
    assert on_disk == set(RANKS), sorted(on_disk ^ set(RANKS))


def test_the_walk_sees_the_imports_it_must_see() -> None:
    """A guard on the checker itself: deferred and `from package import module` forms reach the graph."""
    edges, _ = imports(ROOT)
    pairs = {(e.source, e.target) for e in edges}
    assert ("switchboard.__main__", "switchboard.client") in pairs  # `from switchboard import client`
    assert ("switchboard.__main__", "switchboard.adapters.storage") in pairs  # deferred into a function


# -- the checker on planted trees -------------------------------------------------------------------


def plant(root: Path, files: Mapping[str, str]) -> Path:
    """A small package tree: every folder gets an __init__.py, every file its (dedented) source."""
    for name, source in {"switchboard/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            if str(parent) != ".":
                (root / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return root


CLEAN = {
    "switchboard/shared/phones.py": "import re\n",
    "switchboard/policies/dialpolicy.py": "from switchboard.shared.phones import re\n",
    "switchboard/settings.py": "import switchboard.policies.dialpolicy\n",
    "switchboard/records/store.py": "from switchboard import settings\n",
    "switchboard/outbound/contract.py": "from switchboard.records import store\n",
    "switchboard/functions/outbound.py": "from switchboard.outbound.contract import x\n",
    "switchboard/functions/glue.py": "from switchboard.functions import outbound\n",
    "switchboard/__main__.py": "from switchboard import client\nfrom switchboard.records import store\n",
    "switchboard/client.py": "import json\n",
}


def test_a_clean_planted_tree_passes(tmp_path: Path) -> None:
    assert check(plant(tmp_path, CLEAN)) == []


def test_a_planted_upward_import_fails(tmp_path: Path) -> None:
    tree = plant(tmp_path, {**CLEAN, "switchboard/records/store.py": "from switchboard.outbound.contract import ID\n"})
    problems = check(tree)
    upward = "switchboard.records.store:1: imports switchboard.outbound.contract, which is above it"
    assert any(p.startswith(upward) for p in problems), problems


def test_a_deferred_upward_import_of_a_submodule_fails(tmp_path: Path) -> None:
    source = """\
        def handler():
            if True:
                from switchboard.outbound import contract
            return contract
    """
    problems = check(plant(tmp_path, {**CLEAN, "switchboard/shared/phones.py": source}))
    assert any(p.startswith("switchboard.shared.phones:3: imports switchboard.outbound.contract,") for p in problems)


def test_a_planted_cycle_is_reported_as_a_path(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "switchboard/policies/a.py": "from switchboard.policies import b\n",
        "switchboard/policies/b.py": "def f():\n    import switchboard.policies.c\n",
        "switchboard/policies/c.py": "from switchboard.policies.a import x\n",
    }
    problems = check(plant(tmp_path, files))
    chain = "switchboard.policies.a -> switchboard.policies.b -> switchboard.policies.c -> switchboard.policies.a"
    assert problems == [f"import cycle: {chain}"]


def test_a_circle_between_rooms_of_one_rank_fails_without_a_module_cycle(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "switchboard/media/jobs.py": "from switchboard.outbound import contract\n",
        "switchboard/outbound/worker.py": "from switchboard.media import copy\n",
        "switchboard/media/copy.py": "",
    }
    assert check(plant(tmp_path, files)) == ["circle between rooms of one rank: media -> outbound -> media"]


def test_only_function_app_imports_the_shell(tmp_path: Path) -> None:
    files = {**CLEAN, "switchboard/__main__.py": "from switchboard.functions import outbound\n"}
    assert check(plant(tmp_path, files)) == [
        "switchboard.__main__:1: imports switchboard.functions.outbound: only function_app.py imports the shell"
    ]


def test_the_client_stands_alone(tmp_path: Path) -> None:
    files = {**CLEAN, "switchboard/client.py": "from switchboard.shared.phones import re\n"}
    assert check(plant(tmp_path, files)) == [
        "switchboard.client:1: imports switchboard.shared.phones: client.py stands alone (producers copy it)"
    ]


def test_relative_unknown_and_unranked_imports_fail(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "switchboard/shared/phones.py": "from . import sids\nimport switchboard.shared.gone\n",
        "switchboard/shared/sids.py": "",
        "switchboard/attic/old.py": "import switchboard.shared.sids\n",
    }
    assert check(plant(tmp_path, files)) == [
        "switchboard.shared.phones:1: relative import (write the absolute module name)",
        "switchboard.shared.phones:2: imports switchboard.shared.gone, which is no module of switchboard",
        "switchboard.attic.old:1: imports switchboard.shared.sids; the room 'attic' has no rank (RANKS)",
    ]
