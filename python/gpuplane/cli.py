"""The ``gpuplane`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gpuplane._core import POLICIES
from gpuplane.commands import agent, remote, serve, simulate_llm, simulate_placement
from gpuplane.errors import GpuplaneError


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    top = argparse.ArgumentParser(prog="gpuplane", description="GPU control plane")
    commands = top.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser("simulate", help="replay traces through the core")
    kinds = simulate.add_subparsers(dest="kind", required=True)
    placement = kinds.add_parser(
        "placement",
        help="replay a cluster trace through each placement policy",
        description="Replays an openb-format cluster trace (or a built-in synthetic one) through each "
        "placement policy and prints the share of GPU capacity allocated, beside the FGD paper's figures.",
    )
    placement.add_argument("--nodes", help="openb node list CSV (default: built-in synthetic cluster)")
    placement.add_argument("--pods", help="openb pod list CSV (default: built-in synthetic workload)")
    placement.add_argument(
        "--policies", nargs="+", default=list(POLICIES), choices=POLICIES, metavar="POLICY"
    )
    placement.add_argument("--seeds", type=int, default=10, help="number of seeds (0..N-1), default 10")
    placement.add_argument(
        "--target", type=float, default=1.3, help="stop when requested GPUs reach this share"
    )
    placement.add_argument(
        "--distribution",
        choices=["learned", "trace"],
        default="learned",
        help="fgd's workload distribution: learned online, or the trace's own (as in the FGD paper)",
    )
    placement.add_argument(
        "--protocol",
        choices=["gpuplane", "artifact"],
        default="gpuplane",
        help="gpuplane's replay, or the FGD paper's artifact exactly (pods sorted by name, shuffled, "
        "samples appended; integer node scores, seeded node names; its 95%% typical pods for fgd)",
    )
    placement.add_argument(
        "--ties",
        choices=["first", "random"],
        default="first",
        help="under --protocol artifact, equal node scores go to the first node of the seeded order "
        "(default) or to one drawn at random, as the Kubernetes scheduler's selectHost does",
    )
    placement.add_argument(
        "--variant",
        metavar="KIND:PERCENT",
        help="resample the pod list as the FGD paper's variants are: gpushare:P (sharing pods request "
        "P%% of GPUs), multigpu:P (multi-GPU pods do), gpuspec:P (P%% of GPU pods name one model), "
        "cpu:P (CPU-only pods at P%% of their number); seeded, the same list for every policy",
    )
    placement.add_argument("--json", metavar="FILE", help="also write per-run results as JSON")
    placement.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    placement.add_argument(
        "--departures", action="store_true", help="also replay in trace time with departures"
    )
    placement.set_defaults(run=simulate_placement.run)
    simulate_llm.register(kinds)
    serve.register(commands)
    remote.register(commands)
    agent.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gpuplane`` script."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except GpuplaneError as e:
        print(f"gpuplane: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
