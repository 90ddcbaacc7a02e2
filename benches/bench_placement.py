"""Placement decision latency through Python vs cluster size, per policy, plus bulk throughput.

Clusters are 8-GPU H100 nodes filled to about half their memory with LLM-shaped workloads; each
measured decision places one more workload and releases it. The baseline, measured in the same
run, is a straightforward pure-Python best fit that scans every GPU.

    python benches/bench_placement.py [--sizes 8 1024 100000] [--decisions 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import gpuplane
import numpy as np

SHAPES = [(10_000, 1), (20_000, 1), (40_000, 1), (80_000, 1), (40_000, 2), (80_000, 4)]
GPU_MIB = 81_920


def half_full(gpus: int) -> gpuplane.Cluster:
    """A cluster of ``gpus`` H100s filled to about half their memory (best fit)."""
    c = gpuplane.Cluster("best_fit", seed=1)
    for n in range(gpus // 8):
        c.add_node(f"n{n}", [gpuplane.GpuSpec("H100", GPU_MIB)] * 8)
    rng = random.Random(42)
    target, used, i = gpus * GPU_MIB // 2, 0, 0
    while used < target:
        batch = [SHAPES[rng.randrange(len(SHAPES))] for _ in range(256)]
        ok, _, _ = c.place_many(
            [f"fill{i + k}" for k in range(len(batch))],
            np.array([m for m, _ in batch]),
            np.array([g for _, g in batch]),
        )
        used += sum(m * g for (m, g), placed in zip(batch, ok, strict=True) if placed)
        i += len(batch)
    return c


def time_decisions(c: gpuplane.Cluster, policy: str, decisions: int) -> list[float]:
    """Latency (µs) of each place + release."""
    rng = random.Random(7)
    out = []
    for _ in range(decisions):
        mem, count = SHAPES[rng.randrange(len(SHAPES))]
        w = gpuplane.Workload("probe", mem, count)
        start = time.perf_counter()
        try:
            c.place(w, policy)
            c.release("probe")
        except gpuplane.CapacityError:
            pass
        out.append(1e6 * (time.perf_counter() - start))
    return out


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


def time_naive(c: gpuplane.Cluster, decisions: int) -> list[float]:
    free: dict[str, list[int]] = {}
    for g in c.stats().gpus:
        free.setdefault(g.node, []).append(g.memory_free_mib)
    nodes = list(free.values())
    rng = random.Random(7)
    out = []
    for _ in range(decisions):
        mem, count = SHAPES[rng.randrange(len(SHAPES))]
        start = time.perf_counter()
        placed = naive_best_fit(nodes, mem, count)
        if placed:
            n, chosen = placed
            for g in chosen:
                nodes[n][g] += mem
        out.append(1e6 * (time.perf_counter() - start))
    return out


def bulk_throughput(c: gpuplane.Cluster, policy: str, n: int) -> float:
    """Decisions per second of place_many + release_many over ``n`` workloads."""
    rng = np.random.default_rng(3)
    picks = rng.integers(0, len(SHAPES), n)
    mem = np.array([SHAPES[i][0] for i in picks])
    count = np.array([SHAPES[i][1] for i in picks])
    ids = [f"bulk{i}" for i in range(n)]
    start = time.perf_counter()
    ok, _, _ = c.place_many(ids, mem, count, policy=policy)
    c.release_many([i for i, placed in zip(ids, ok, strict=True) if placed])
    return 2 * n / (time.perf_counter() - start)


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 1024, 100_000])
    ap.add_argument("--decisions", type=int, default=2000)
    ap.add_argument("--bulk", type=int, default=2000)
    args = ap.parse_args()
    row = "{:>7} {:<20} {:>8} {:>8} {:>8} {:>9} {:>11}"
    print(row.format("GPUs", "policy", "p50 µs", "p99 µs", "mean µs", "vs naive", "bulk dec/s"))
    for size in args.sizes:
        base = half_full(size)
        naive = time_naive(base, max(args.decisions // 10, 50) if size > 10_000 else args.decisions)
        naive_mean = statistics.fmean(naive)
        for policy in gpuplane.POLICIES:
            c = gpuplane.Cluster.restore(base.snapshot())
            lat = time_decisions(c, policy, args.decisions)
            mean = statistics.fmean(lat)
            bulk = bulk_throughput(c, policy, args.bulk)
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            speedup = naive_mean / mean
            print(
                row.format(
                    size, policy, f"{p50:.1f}", f"{p99:.1f}", f"{mean:.1f}", f"{speedup:.1f}x", f"{bulk:,.0f}"
                )
            )
        p50, p99 = percentile(naive, 50), percentile(naive, 99)
        print(
            row.format(
                size, "naive Python scan", f"{p50:.1f}", f"{p99:.1f}", f"{naive_mean:.1f}", "1.0x", "-"
            )
        )


if __name__ == "__main__":
    main()
