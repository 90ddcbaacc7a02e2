"""Batching step time through Python: schedule + update, at 64, 256 and 1,024 running requests
with 10,000 waiting, for gpuplane (fcfs and fair) beside a pure-Python FCFS scheduler with the
same rules (``pure_python_fcfs.py``), measured in the same run.

Steady state: every request that samples generates one token per step; requests finish at
``max_new_tokens`` and are replaced (outside the timed part) so that 10,000 stay waiting. The KV
pool is large enough that the sequence cap binds, as on an engine sized for its batch. A step is
timed from ``schedule()`` to the return of ``update()``, including building the engine's
output (ids that sample, one token each). Both schedulers see the same requests; the run checks
that the gpuplane fcfs and the pure-Python runs planned the same tokens.

    python benches/bench_batching.py [--steps 1000] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gpuplane
import numpy as np
from pure_python_fcfs import PurePythonFcfs  # beside this file, on sys.path when run as a script

WAITING = 10_000
TOKEN_BUDGET = 8192
BLOCK_SIZE = 16
PROMPT = (32, 1024)
MAX_NEW = (16, 256)
TENANTS = [f"tenant{i}" for i in range(8)]


class Workload:
    """An endless, seeded stream of requests: (prompt_len, max_new_tokens, tenant) columns."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.next_id = 0

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        ids = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        self.next_id += n
        prompt = self.rng.integers(*PROMPT, n, endpoint=True)
        max_new = self.rng.integers(*MAX_NEW, n, endpoint=True)
        tenants = [TENANTS[t] for t in self.rng.integers(0, len(TENANTS), n)]
        return ids, prompt, max_new, tenants


def kv_blocks(running: int) -> int:
    """A pool in which ``running`` of the longest requests fit, with 10% to spare."""
    per_request = -(-(PROMPT[1] + MAX_NEW[1]) // BLOCK_SIZE)
    return int(running * per_request * 1.1)


def run_gpuplane(policy: str, running: int, warmup: int, steps: int) -> tuple[list[float], list[int]]:
    """Per-step µs and planned tokens of gpuplane.BatchScheduler."""
    config = gpuplane.BatchConfig(
        token_budget=TOKEN_BUDGET,
        max_running=running,
        kv_blocks=kv_blocks(running),
        block_size=BLOCK_SIZE,
        policy=policy,
    )
    s = gpuplane.BatchScheduler(config)
    work = Workload(seed=1)

    def refill(n: int) -> None:
        if n <= 0:
            return
        ids, prompt, max_new, tenants = work.take(n)
        s.add_many(ids, prompt, max_new, tenants=tenants, arrival=ids.astype(np.float64))

    refill(WAITING)
    waiting = WAITING
    ones = np.ones(TOKEN_BUDGET, dtype=np.int64)
    times, tokens = [], []
    for i in range(warmup + steps):
        start = time.perf_counter_ns()
        plan = s.schedule()
        ids = plan.ids[plan.samples]
        s.update(ids, ones[: len(ids)])
        elapsed = time.perf_counter_ns() - start
        if i >= warmup:
            times.append(elapsed / 1000)
            tokens.append(plan.total_tokens)
        waiting += len(plan.preempted) - len(plan.admitted)
        refill(WAITING - waiting)
        waiting = max(waiting, WAITING)
    assert s.metrics().waiting == waiting
    return times, tokens


def run_pure_python(running: int, warmup: int, steps: int) -> tuple[list[float], list[int]]:
    """Per-step µs and planned tokens of the pure-Python FCFS scheduler."""
    s = PurePythonFcfs(TOKEN_BUDGET, running, kv_blocks(running), BLOCK_SIZE)
    work = Workload(seed=1)

    def refill(n: int) -> None:
        if n <= 0:
            return
        ids, prompt, max_new, _ = work.take(n)
        for i, p, m in zip(ids.tolist(), prompt.tolist(), max_new.tolist(), strict=True):
            s.add(i, p, m)

    refill(WAITING)
    times, tokens = [], []
    for i in range(warmup + steps):
        start = time.perf_counter_ns()
        plan = s.schedule()
        s.update({e.id: 1 for e in plan if e.samples})
        elapsed = time.perf_counter_ns() - start
        if i >= warmup:
            times.append(elapsed / 1000)
            tokens.append(sum(e.num_tokens for e in plan))
        refill(WAITING - len(s.waiting))
    assert len(s.waiting) >= WAITING
    return times, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000, help="measured steps per row (default 1000)")
    ap.add_argument("--warmup", type=int, default=200, help="steps before measuring (default 200)")
    ap.add_argument("--running", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--quick", action="store_true", help="50 warmup + 50 measured steps")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.warmup = 50, 50
    print(
        f"step = schedule + update, {WAITING:,} waiting, token budget {TOKEN_BUDGET}, "
        f"block size {BLOCK_SIZE}; {args.warmup} warmup + {args.steps} measured steps"
    )
    columns = ("mean µs", "p50 µs", "p99 µs")
    header = f"{'running':>8} {'scheduler':<22} " + " ".join(f"{c:>9}" for c in columns)
    header += f" {'baseline/gpuplane':>18}"
    print("ratio: baseline p50 / gpuplane p50 (the median is robust to a loaded machine)")
    print(header)
    print("-" * len(header))
    for running in args.running:
        base, base_tokens = run_pure_python(running, args.warmup, args.steps)
        base_p50 = statistics.median(base)
        for policy in ("fcfs", "fair"):
            times, tokens = run_gpuplane(policy, running, args.warmup, args.steps)
            if policy == "fcfs":
                assert tokens == base_tokens, "gpuplane fcfs and the baseline planned different work"
            row(running, f"gpuplane {policy}", times, f"{base_p50 / statistics.median(times):.1f}x")
        row(running, "pure-Python fcfs", base, "1.0x")


def row(running: int, name: str, times: list[float], ratio: str) -> None:
    p99 = float(np.percentile(times, 99))
    print(
        f"{running:>8} {name:<22} {statistics.fmean(times):>9.1f} {statistics.median(times):>9.1f} "
        f"{p99:>9.1f} {ratio:>18}"
    )


if __name__ == "__main__":
    main()
