"""The openb replay with GPU model constraints vs without, measured in the same run.

The constrained pod list is the openb default pod list with each pod naming the GPU models it may
use (``gpu_spec``): every model of the node list except one drawn per pod (seeded), so that the
constraints bind. The baseline is the same replay of the unconstrained pod list. The figure is
microseconds per placement decision and the ratio constrained / unconstrained.

    python benches/bench_constrained_replay.py [--traces ../shared/traces/alibaba_gpu_v2023]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from pathlib import Path

from gpuplane.simulate.placement import replay
from gpuplane.traces.openb import read_nodes, read_pods

DEFAULT_TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces" / "alibaba_gpu_v2023"


def constrained(pods: list, models: list[str], seed: int = 7) -> list:
    """Each pod allows every model but one, drawn per pod."""
    rng = random.Random(seed)
    out = []
    for p in pods:
        drop = rng.choice(models)
        out.append(dataclasses.replace(p, gpu_spec=tuple(m for m in models if m != drop)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=DEFAULT_TRACES)
    parser.add_argument("--policy", default="best_fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    nodes = read_nodes(args.traces / "openb_node_list_gpu_node.csv")
    pods = read_pods(args.traces / "openb_pod_list_default.csv")
    models = sorted({n.model for n in nodes})
    plain = replay(nodes, pods, args.policy, args.seed)
    bound = replay(nodes, constrained(pods, models), args.policy, args.seed)
    for name, r in (("unconstrained", plain), ("constrained", bound)):
        print(
            f"{name:>13}: {r.arrived} decisions, {r.microseconds_per_decision:8.1f} us/decision, "
            f"allocation {100 * r.allocation_ratio:.2f} %"
        )
    ratio = bound.microseconds_per_decision / plain.microseconds_per_decision
    print(f"constrained / unconstrained time per decision: {ratio:.2f}x")


if __name__ == "__main__":
    main()
