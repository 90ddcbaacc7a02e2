"""SIGTERM under load: how long ``gpuplane serve`` takes to stop, and how its callers' calls end.

Each round starts a fresh daemon, runs ``--callers`` client threads that place workloads in a
loop (``--deadline`` seconds per call), sends SIGTERM after a varied number of answers, and
records the time from SIGTERM to exit and how each caller's last call ended. The baseline is
the same stop with no caller, measured in the same run; stop times are printed against it.
A DEADLINE_EXCEEDED is a call the stop left hanging (the defect of issue 17).

    python benches/bench_shutdown.py [--rounds 10] [--callers 12] [--deadline 5]
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import gpuplane
from bench_daemon import start_daemon
from gpuplane.errors import GpuplaneError


def stop_time(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM, then the seconds until the process exited."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    return time.monotonic() - started


def idle_stop() -> float:
    """The baseline: a daemon with no caller."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, _ = start_daemon(Path(tmp), "full")
        return stop_time(proc)


def caller(target: str, k: int, deadline: float, answered: list[int], ends: Counter[str]) -> None:
    """Places until a call fails; counts how that call ended."""
    with gpuplane.Client(target, timeout=deadline) as c:
        for i in range(100_000):
            try:
                c.place(gpuplane.Workload(f"c{k}-{i}", memory_mib=100))
            except GpuplaneError as e:
                code = getattr(e, "code", None)
                ends[code.name if code is not None else type(e).__name__] += 1
                return
            answered.append(1)


def loaded_stop(args: argparse.Namespace, rng: random.Random, ends: Counter[str]) -> float:
    """One round: callers, SIGTERM after a varied number of answers; the stop time."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_daemon(Path(tmp), "full")
        answered: list[int] = []
        threads = [
            threading.Thread(target=caller, args=(target, k, args.deadline, answered, ends))
            for k in range(args.callers)
        ]
        for t in threads:
            t.start()
        wanted = rng.randint(20, 400)
        while len(answered) < wanted:
            time.sleep(0.001)
        took = stop_time(proc)
        for t in threads:
            t.join(2 * args.deadline)
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--callers", type=int, default=12)
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    rng = random.Random(0)
    idle = statistics.median(idle_stop() for _ in range(3))
    ends: Counter[str] = Counter()
    stops = [loaded_stop(args, rng, ends) for _ in range(args.rounds)]
    print(f"idle stop (baseline): {idle:.2f} s")
    median = statistics.median(stops)
    print(f"stop under {args.callers} callers, {args.rounds} rounds:", end=" ")
    worst = max(stops)
    print(f"median {median:.2f} s ({median / idle:.1f}x idle), max {worst:.2f} s ({worst / idle:.1f}x idle)")
    print("last call of each caller:", dict(sorted(ends.items())))
    print(f"left hanging (DEADLINE_EXCEEDED): {ends.get('DEADLINE_EXCEEDED', 0)}")


if __name__ == "__main__":
    main()
