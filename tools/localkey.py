"""`make run`'s first local.settings.json: the example, with a random LOCAL_FUNCTION_KEY.

The example's key is published with the project: a web page that knows it could call the local host's
keyed routes (the host also refuses foreign Hosts, Origins and non-JSON bodies, tools/devhost/server.py).
So the copy `make run` makes the first time gets a key of its own. Standard library only: it runs
before the virtual environment exists.

    python -m tools.localkey local.settings.json.example local.settings.json
    python -m tools.localkey --print local.settings.json     # the key, for `export LOCAL_FUNCTION_KEY=...`
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

KEY = "LOCAL_FUNCTION_KEY"


def local_settings(example: str) -> str:
    """The example's text with a fresh random key (the example's own key replaced)."""
    data = json.loads(example)
    data.setdefault("Values", {})[KEY] = secrets.token_urlsafe(24)
    return json.dumps(data, indent=2) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--print":
        values = json.loads(Path(argv[1]).read_text(encoding="utf-8")).get("Values", {})
        print(values.get(KEY, ""))
        return 0 if values.get(KEY) else 1
    if len(argv) != 2:
        print("usage: python -m tools.localkey <example> <target> | --print <settings>", file=sys.stderr)
        return 2
    source, target = (Path(arg) for arg in argv)
    if target.exists():  # never overwrite the user's own settings
        return 0
    target.write_text(local_settings(source.read_text(encoding="utf-8")), encoding="utf-8")
    print(f'Wrote {target} with a random {KEY}: find it there ("Values").', flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
