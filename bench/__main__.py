"""`python -m bench [--quick]`: run every benchmark and write bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

from bench.suite import SIZES, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs, measures little")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where results go")
    parser.add_argument("--only", nargs="*", choices=sorted(SIZES["full"]), help="run only these sections")
    args = parser.parse_args(argv)
    start = time.monotonic()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    json_path, md_path = run(quick=args.quick, out=args.out, only=args.only)
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S} wrote {json_path} and {md_path} "
        f"in {time.monotonic() - start:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
