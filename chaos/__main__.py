"""`python -m chaos`: the fault-injection run. Exits 1 if any promise was broken."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chaos.run import Options, execute


def main(argv: list[str] | None = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--n", type=int, default=defaults.n, help="outbound requests")
    parser.add_argument("--kills", type=int, default=defaults.kills, help="SIGKILLs of the local host")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--enqueue-seconds", type=float, default=defaults.enqueue_seconds)
    parser.add_argument("--settle-seconds", type=float, default=defaults.settle_seconds)
    parser.add_argument("--malformed", type=float, default=defaults.malformed)
    parser.add_argument("--twice", type=float, default=defaults.twice)
    parser.add_argument("--hosts", type=int, default=defaults.hosts, help="local hosts on the same queues")
    parser.add_argument("--lease", type=float, default=defaults.lease, help="seconds a host holds a message")
    parser.add_argument("--no-azurite-restart", action="store_true", help="no storage outage")
    parser.add_argument("--outage-seconds", type=float, default=defaults.outage_seconds,
                        help="how long storage is unreachable halfway through")  # fmt: skip
    parser.add_argument("--storm-seconds", type=float, default=defaults.storm_seconds,
                        help="a 429 storm on every create, a fifth of the way in (0: none)")  # fmt: skip
    parser.add_argument("--created-500", type=float, default=defaults.fault_created_500, metavar="P",
                        help="share of creates carried out and then answered 500")  # fmt: skip
    parser.add_argument("--no-reconcile", action="store_true", help="skip the reconcile run at the end")
    parser.add_argument("--workdir", type=Path, default=defaults.workdir)
    parser.add_argument("--scenario", choices=("faults", "limits"), default="faults",
                        help="faults: the run above; limits: 40 SMS to one number under a cap")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from switchboard.shared.logs import install

    install()
    if args.scenario == "limits":
        from chaos.limits import LimitsOptions, execute_limits

        return execute_limits(LimitsOptions(hosts=args.hosts, workdir=args.workdir))
    options = Options(
        n=args.n, kills=args.kills, seed=args.seed, enqueue_seconds=args.enqueue_seconds,
        settle_seconds=args.settle_seconds, malformed=args.malformed, twice=args.twice,
        azurite_restart=not args.no_azurite_restart, workdir=args.workdir, hosts=args.hosts, lease=args.lease,
        outage_seconds=args.outage_seconds, storm_seconds=args.storm_seconds, fault_created_500=args.created_500,
        reconcile=not args.no_reconcile,
    )  # fmt: skip
    return execute(options)


if __name__ == "__main__":
    sys.exit(main())
