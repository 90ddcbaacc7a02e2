"""Daemon RPC throughput and latency on loopback, beside the in-process library call.

Starts a real ``gpuplane serve`` subprocess (simulated H100 cluster, journal in a temp folder,
``synchronous=FULL``), then drives it from separate load-generator processes
(multiprocessing), each with a few client threads:

* unary ``Place`` + ``Release`` pairs (each RPC one decision, each journaled before it returns);
* unary ``Admit`` + ``Finish`` (only when the build has the core policy engine);
* the batched path: ``PlaceBatch`` + ``ReleaseBatch`` of ``--batch`` workloads per call;
* the columns path: ``PlaceColumns`` + ``ReleaseBatch`` of ``--batch`` workloads per call;
* the transport's ceiling: the same load generator against a grpc.aio server whose handler
  does nothing (the standard health ``Check``), so every row can be read against what gRPC
  itself costs on this machine;
* the baseline: the same place/release pairs on an in-process ``gpuplane.Cluster``.

    python benches/bench_daemon.py [--procs 2] [--threads 8] [--seconds 5] [--batch 2000]
                                   [--journal-sync full|normal] [--repeat 5]

Prints decisions/s and p50/p99 latency per RPC (medians over ``--repeat`` passes, with the range
of decisions/s), and the machine's ``uptime`` load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gpuplane
import grpc
import numpy as np
from gpuplane import Client, Workload
from gpuplane.client_values import Quota
from grpc_health.v1 import health_pb2, health_pb2_grpc

SPEC = "64x8xH100-80GB"
MEMORY_MIB = 1_000


def start_daemon(state_dir: Path, journal_sync: str) -> tuple[subprocess.Popen[bytes], str]:
    """A ``gpuplane serve`` subprocess on 127.0.0.1:0 and its target."""
    cmd = [sys.executable, "-m", "gpuplane", "serve", "--listen", "127.0.0.1:0", "--no-nvml"]
    cmd += ["--journal-sync", journal_sync]
    cmd += ["--state-dir", str(state_dir), "--simulate", SPEC, "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    for raw in proc.stdout:
        if b"listening on" in raw:
            return proc, f"127.0.0.1:{int(raw.decode().rsplit(':', 1)[1])}"
    raise SystemExit("daemon did not start")


async def _noop_server(port_queue: mp.Queue) -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(NoopHealth(), server)
    port_queue.put(server.add_insecure_port("127.0.0.1:0"))
    await server.start()
    await server.wait_for_termination()


def noop_server_main(port_queue: mp.Queue) -> None:
    """The no-op server process."""
    asyncio.run(_noop_server(port_queue))


class NoopHealth(health_pb2_grpc.HealthServicer):
    """A handler that does nothing: what a unary grpc.aio call costs by itself."""

    async def Check(self, request: Any, context: Any) -> Any:
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def start_noop_server() -> tuple[mp.Process, str]:
    """A grpc.aio server process with a do-nothing unary handler, and its target."""
    ports: mp.Queue = mp.Queue()
    proc = mp.Process(target=noop_server_main, args=(ports,), daemon=True)
    proc.start()
    return proc, f"127.0.0.1:{ports.get(timeout=30)}"


def unary_thread(target: str, kind: str, tag: str, seconds: float, out: list[float]) -> None:
    """One client thread: place/release (or admit/finish) pairs until ``seconds`` pass."""
    with Client(target, timeout=30) as c:
        end = time.perf_counter() + seconds
        i = 0
        check, noop = health_pb2.HealthCheckRequest(), health_pb2_grpc.HealthStub(c.channel)
        while time.perf_counter() < end:
            wid = f"{tag}-{i}"
            t0 = time.perf_counter()
            if kind == "noop":
                noop.Check(check)
                t1 = time.perf_counter()
                noop.Check(check)
            elif kind == "place":
                c.place(Workload(wid, MEMORY_MIB, 1, tenant="bench"))
                t1 = time.perf_counter()
                c.release(wid)
            else:
                decision = c.admit(wid, "bench", resources={"gpus": 1})
                t1 = time.perf_counter()
                if decision.verdict != "reject":
                    c.finish(wid)
            t2 = time.perf_counter()
            out.extend((t1 - t0, t2 - t1))
            i += 1


def load_process(target: str, kind: str, proc: int, threads: int, seconds: float, queue: mp.Queue) -> None:
    """A load-generator process: ``threads`` client threads; sends back every latency."""
    samples: list[list[float]] = [[] for _ in range(threads)]
    workers = [
        threading.Thread(target=unary_thread, args=(target, kind, f"p{proc}t{t}", seconds, samples[t]))
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put([x for s in samples for x in s])


def run_unary(target: str, kind: str, procs: int, threads: int, seconds: float) -> tuple[float, float, float]:
    """(decisions/s, p50 ms, p99 ms) of unary calls from ``procs`` separate processes."""
    queue: mp.Queue = mp.Queue()
    ps = [
        mp.Process(target=load_process, args=(target, kind, p, threads, seconds, queue)) for p in range(procs)
    ]
    start = time.perf_counter()
    for p in ps:
        p.start()
    latencies = [x for _ in ps for x in queue.get()]
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - start
    return len(latencies) / min(elapsed, seconds + 0.5), *percentiles(latencies)


def percentiles(xs: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    q = statistics.quantiles(xs, n=100)
    return q[49] * 1e3, q[98] * 1e3


def run_batched(target: str, kind: str, batch: int, seconds: float) -> tuple[float, float, float]:
    """(decisions/s, p50 ms, p99 ms per call) of batched place + release from another process."""
    queue: mp.Queue = mp.Queue()
    p = mp.Process(target=batch_process, args=(target, kind, batch, seconds, queue))
    p.start()
    decisions, elapsed, latencies = queue.get()
    p.join()
    return decisions / elapsed, *percentiles(latencies)


def batch_process(target: str, kind: str, batch: int, seconds: float, queue: mp.Queue) -> None:
    """Placing (PlaceBatch or PlaceColumns) and releasing ``batch`` workloads per call until
    ``seconds`` pass."""
    decisions, latencies, k = 0, [], 0
    memory, count = np.full(batch, MEMORY_MIB, dtype=np.int64), np.ones(batch, dtype=np.int64)
    with Client(target, timeout=60) as c:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            ids = [f"{kind}{k}-{i}" for i in range(batch)]
            t0 = time.perf_counter()
            if kind == "columns":
                placed = c.place_columns(ids, memory, count, tenant="bench")
                released = list(itertools.compress(ids, placed.placed))
            else:
                outcomes = c.place_batch([Workload(w, MEMORY_MIB, 1, tenant="bench") for w in ids])
                released = [o.workload_id for o in outcomes if o.placed]
            t1 = time.perf_counter()
            c.release_batch(released)
            t2 = time.perf_counter()
            latencies += [t1 - t0, t2 - t1]
            decisions += len(ids) + len(released)
            k += 1
        queue.put((decisions, time.perf_counter() - start, latencies))


def run_library(seconds: float) -> tuple[float, float, float]:
    """The baseline: place/release on an in-process Cluster of the same size."""
    nodes, gpus, model = SPEC.split("x", 2)
    c = gpuplane.Cluster("fgd")
    for n in range(int(nodes)):
        c.add_node(f"sim-{n}", [gpuplane.GpuSpec(model, 81_920)] * int(gpus))
    latencies, i = [], 0
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        c.place(Workload(f"w{i}", MEMORY_MIB, 1, tenant="bench"))
        t1 = time.perf_counter()
        c.release(f"w{i}")
        latencies += [t1 - t0, time.perf_counter() - t1]
        i += 1
    return len(latencies) / (time.perf_counter() - start), *percentiles(latencies)


Row = tuple[str, float, float, float]


def measure_once(args: argparse.Namespace) -> list[Row]:
    """One pass over every path: (name, decisions/s, p50 ms, p99 ms) per row."""
    load = (args.procs, args.threads, args.seconds)
    rows = [("library Cluster.place/release (in-process)", *run_library(args.seconds))]
    noop, noop_target = start_noop_server()
    try:
        rows.append(("gRPC no-op handler (transport ceiling)", *run_unary(noop_target, "noop", *load)))
    finally:
        noop.kill()
    with tempfile.TemporaryDirectory() as tmp:
        proc, target = start_daemon(Path(tmp), args.journal_sync)
        try:
            rows.append(("gRPC Place/Release (unary)", *run_unary(target, "place", *load)))
            if hasattr(gpuplane, "Policy"):
                with Client(target) as c:
                    c.put_tenant("bench", quota=Quota(deserved={"gpus": 1e6}))
                rows.append(("gRPC Admit/Finish (unary)", *run_unary(target, "admit", *load)))
            for kind in ("batch", "columns"):
                name = f"gRPC Place{kind.title()}/ReleaseBatch x{args.batch}"
                rows.append((name, *run_batched(target, kind, args.batch, args.seconds)))
        finally:
            proc.terminate()
            proc.wait(30)
    return rows


def print_table(passes: list[list[Row]]) -> None:
    """Median of each column over the passes, and the range of decisions/s."""
    print(f"{'path':<46} {'decisions/s':>12} {'min..max':>17} {'p50 ms':>8} {'p99 ms':>8}")
    for i, (name, *_) in enumerate(passes[0]):
        rate, p50, p99 = (statistics.median(p[i][k] for p in passes) for k in (1, 2, 3))
        low, high = min(p[i][1] for p in passes), max(p[i][1] for p in passes)
        spread = f"{low:,.0f}..{high:,.0f}"
        print(f"{name:<46} {rate:>12,.0f} {spread:>17} {p50:>8.3f} {p99:>8.3f}")


def main() -> None:
    """Runs every measurement ``--repeat`` times and prints the medians."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    ap.add_argument("--threads", type=int, default=8, help="client threads per process")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--journal-sync", choices=("full", "normal"), default="full")
    ap.add_argument("--repeat", type=int, default=1, help="passes; the table shows their medians")
    args = ap.parse_args()
    passes = [measure_once(args) for _ in range(args.repeat)]
    print(
        f"cluster {SPEC}; {args.procs} load processes x {args.threads} threads; {os.cpu_count()} CPUs;"
        f" journal synchronous={args.journal_sync.upper()}; median of {args.repeat} pass(es)"
    )
    print_table(passes)
    if not hasattr(gpuplane, "Policy"):
        print("Admit: not measured (this build has no gpuplane.Policy)")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
