"""Placement decision latency through Python vs cluster size and fill, per policy, plus bulk
throughput.

Clusters are 8-GPU H100 nodes filled with 1-, 2- and 4-GPU gangs of 10-70 GB per GPU; each
measured decision places one more such workload and releases it. Fills: ``packed`` (best fit to
half the memory), ``random50`` and ``random85`` (random to half and to 85 % of the memory, many
distinct node states). The baseline, measured in the same run, is a straightforward pure-Python
best fit that scans every GPU. Besides wall-clock latency per decision, ``cpu µs`` is the
thread's CPU time over all decisions divided by their number: on a shared machine a decision
that is preempted costs a scheduler slice (milliseconds) of wall time but not of CPU time.

    python benches/bench_placement.py [--sizes 1000 10000 100000] [--fills packed random50]
        [--decisions 2000] [--policies best_fit fgd]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import gpuplane
import numpy as np

GANGS = (1, 2, 4)
GPU_MIB = 81_920
FILLS = {"packed": ("best_fit", 0.5), "random50": ("random", 0.5), "random85": ("random", 0.85)}


def shape(rng: random.Random) -> tuple[int, int]:
    """A gang of 1, 2 or 4 GPUs of 10-70 GB each: (MiB per GPU, GPUs)."""
    return rng.randint(10, 70) * 1024, rng.choice(GANGS)


def filled(gpus: int, fill: str) -> gpuplane.Cluster:
    """A cluster of ``gpus`` H100s filled as ``fill`` says (see FILLS)."""
    policy, share = FILLS[fill]
    c = gpuplane.Cluster(policy, seed=1)
    for n in range(gpus // 8):
        c.add_node(f"n{n}", [gpuplane.GpuSpec("H100", GPU_MIB)] * 8)
    rng = random.Random(42)
    target, used, i = int(gpus * GPU_MIB * share), 0, 0
    while used < target and i < 8 * gpus:
        batch = [shape(rng) for _ in range(256)]
        ok, _, _ = c.place_many(
            [f"fill{i + k}" for k in range(len(batch))],
            np.array([m for m, _ in batch]),
            np.array([g for _, g in batch]),
        )
        used += sum(m * g for (m, g), placed in zip(batch, ok, strict=True) if placed)
        i += len(batch)
    return c


def time_decisions(c: gpuplane.Cluster, policy: str, decisions: int) -> tuple[list[float], float]:
    """Latency (µs) of each place + release, and their mean in thread CPU time (µs)."""
    rng = random.Random(7)
    probes = [gpuplane.Workload("probe", *shape(rng)) for _ in range(decisions)]
    out = []
    cpu = time.thread_time()
    for w in probes:
        start = time.perf_counter()
        try:
            c.place(w, policy)
            c.release("probe")
        except gpuplane.CapacityError:
            pass
        out.append(1e6 * (time.perf_counter() - start))
    return out, 1e6 * (time.thread_time() - cpu) / decisions


def naive_best_fit(free: list[list[int]], mem: int, count: int) -> tuple[int, list[int]] | None:
    """Best fit by scanning every GPU of every node: the baseline."""
    best = None
    for n, gpus in enumerate(free):
        fitting = [g for g, f in enumerate(gpus) if f >= mem]
        left = sum(gpus)
        if len(fitting) >= count and (best is None or left < best[0]):
            best = (left, n, fitting[:count])
    if best is None:
        return None
    _, n, chosen = best
    for g in chosen:
        free[n][g] -= mem
    return n, chosen


def time_naive(c: gpuplane.Cluster, decisions: int) -> tuple[list[float], float]:
    free: dict[str, list[int]] = {}
    for g in c.stats().gpus:
        free.setdefault(g.node, []).append(g.memory_free_mib)
    nodes = list(free.values())
    rng = random.Random(7)
    probes = [shape(rng) for _ in range(decisions)]
    out = []
    cpu = time.thread_time()
    for mem, count in probes:
        start = time.perf_counter()
        placed = naive_best_fit(nodes, mem, count)
        if placed:
            n, chosen = placed
            for g in chosen:
                nodes[n][g] += mem
        out.append(1e6 * (time.perf_counter() - start))
    return out, 1e6 * (time.thread_time() - cpu) / decisions


def bulk_throughput(c: gpuplane.Cluster, policy: str, n: int) -> float:
    """Decisions per second of place_many + release_many over ``n`` workloads."""
    rng = random.Random(3)
    shapes = [shape(rng) for _ in range(n)]
    mem = np.array([m for m, _ in shapes])
    count = np.array([g for _, g in shapes])
    ids = [f"bulk{i}" for i in range(n)]
    start = time.perf_counter()
    ok, _, _ = c.place_many(ids, mem, count, policy=policy)
    c.release_many([i for i, placed in zip(ids, ok, strict=True) if placed])
    return 2 * n / (time.perf_counter() - start)


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--fills", nargs="+", default=list(FILLS), choices=list(FILLS))
    ap.add_argument("--policies", nargs="+", default=list(gpuplane.POLICIES))
    ap.add_argument("--decisions", type=int, default=2000)
    ap.add_argument("--bulk", type=int, default=2000)
    args = ap.parse_args()
    row = "{:>7} {:<9} {:>6} {:<18} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11}"
    header = ("GPUs", "fill", "states", "policy", "p50 µs", "p99 µs", "mean µs", "cpu µs")
    header += ("vs naive", "bulk dec/s")
    print(row.format(*header))
    for size in args.sizes:
        for fill in args.fills:
            measure_fill(size, fill, args, row)


def measure_fill(size: int, fill: str, args: argparse.Namespace, row: str) -> None:
    """One row per policy, then the naive scan's row, for one cluster size and fill."""
    base = filled(size, fill)
    states = base.stats().node_classes
    naive, naive_cpu = time_naive(base, max(args.decisions // 10, 50) if size > 10_000 else args.decisions)
    naive_mean = statistics.fmean(naive)
    for policy in args.policies:
        c = gpuplane.Cluster.restore(base.snapshot())
        lat, cpu = time_decisions(c, policy, args.decisions)
        mean = statistics.fmean(lat)
        bulk = bulk_throughput(c, policy, args.bulk)
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        cells = (f"{p50:.1f}", f"{p99:.1f}", f"{mean:.1f}", f"{cpu:.1f}")
        cells += (f"{naive_mean / mean:.1f}x", f"{bulk:,.0f}")
        print(row.format(size, fill, states, policy, *cells), flush=True)
    p50, p99 = percentile(naive, 50), percentile(naive, 99)
    cells = (f"{p50:.1f}", f"{p99:.1f}", f"{naive_mean:.1f}", f"{naive_cpu:.1f}", "1.0x", "-")
    print(row.format(size, fill, states, "naive Python scan", *cells), flush=True)


if __name__ == "__main__":
    main()
