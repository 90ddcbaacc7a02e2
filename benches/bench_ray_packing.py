"""GPU packing on Ray: Ray's fractional ``num_gpus`` versus gpuplane's placement, one mix.

A local Ray cluster (``ray.cluster_utils.Cluster``) with ``--nodes`` nodes of 4 fake 80 GB
GPUs (``num_gpus=4`` and the ``gpuplane.io/gpu-memory-mib`` label). One seeded sequence of
one-GPU actors of 10/20/30/40/60 GB (weights 3/3/2/1/1) is requested until 130 % of the GPU
memory is asked for. Each request is placed:

* by Ray, as a placement group of one ``{"GPU": f}`` bundle (what an actor with
  ``num_gpus=f`` reserves, without starting a process), created in order; one not ready within
  ``--wait`` seconds counts as not fitting and is removed. ``f`` is the memory fraction
  (``exact``: the best Ray can do when users size fractions by memory), or that fraction
  rounded up to a quarter GPU (``quarters``: the usual 0.25/0.5/0.75/1);
* by gpuplane's ``GpuPacker`` (the core ``Cluster``, ``fgd`` and ``best_fit``), from Ray's view
  of the same nodes.

Reported: how many fit, GPU memory placed, and memory stranded (free when requests were
refused).

Usage: python benches/bench_ray_packing.py [--nodes 3] [--seed 0] [--wait 1.0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import ray
from gpuplane.errors import CapacityError
from gpuplane.ray import GpuPacker
from gpuplane.ray.packing import MEMORY_LABEL
from ray.cluster_utils import Cluster
from ray.util.placement_group import placement_group, remove_placement_group

GPU_MIB = 81_920
SIZES_GB = [10, 20, 30, 40, 60]
WEIGHTS = [3, 3, 2, 1, 1]


def mix(capacity: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    out: list[int] = []
    while sum(out) < 1.3 * capacity:
        out.append(rng.choices(SIZES_GB, WEIGHTS)[0] * 1024)
    return out


def fraction(mib: int, rounding: str) -> float:
    f = mib / GPU_MIB
    return math.ceil(f * 4) / 4 if rounding == "quarters" else round(f, 4)


def ray_fractional(requests: list[int], capacity: int, rounding: str, wait_s: float) -> dict:
    placed, groups = [], []
    for mib in requests:
        pg = placement_group([{"GPU": fraction(mib, rounding)}])
        if pg.wait(timeout_seconds=wait_s):
            placed.append(mib)
            groups.append(pg)
        else:
            remove_placement_group(pg)
    for pg in groups:
        remove_placement_group(pg)
    return summary(f"Ray num_gpus ({rounding})", requests, placed, capacity)


def gpuplane_packing(requests: list[int], capacity: int, policy: str) -> dict:
    packer = GpuPacker(policy)
    placed = []
    start = time.perf_counter()
    for i, mib in enumerate(requests):
        try:
            packer.place(f"w{i}", mib)
            placed.append(mib)
        except CapacityError:
            pass
    per_decision_us = 1e6 * (time.perf_counter() - start) / len(requests)
    row = summary(f"gpuplane GpuPacker ({policy})", requests, placed, capacity)
    row["decision_us"] = round(per_decision_us, 1)
    return row


def summary(label: str, requests: list[int], placed: list[int], capacity: int) -> dict:
    return {
        "placer": label,
        "requested": len(requests),
        "fit": len(placed),
        "placed_gib": round(sum(placed) / 1024, 1),
        "stranded_gib": round((capacity - sum(placed)) / 1024, 1),
        "allocation": round(sum(placed) / capacity, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--wait", type=float, default=1.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 0})
    for _ in range(args.nodes):
        cluster.add_node(num_cpus=1, num_gpus=4, labels={MEMORY_LABEL: str(GPU_MIB)})
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    capacity = args.nodes * 4 * GPU_MIB
    requests = mix(capacity, args.seed)
    rows = [ray_fractional(requests, capacity, r, args.wait) for r in ("exact", "quarters")]
    rows += [gpuplane_packing(requests, capacity, p) for p in ("fgd", "best_fit")]
    for row in rows:
        print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
