"""Routing decisions per second through the service: unary Route against the bidirectional
RouteStream (BATCH decisions per stream message), on one ``gpuplane serve`` subprocess with 16
registered replicas with loads and cached prefixes, the client in this process. Unary Route,
measured in the same run, is the baseline.

    python benches/bench_route_stream.py [--decisions 200000] [--batch 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_daemon import start_daemon
from gpuplane import Client
from gpuplane._proto.v1 import admission_pb2 as ap

REPLICAS = 16


def setup(c: Client) -> None:
    for i in range(REPLICAS):
        c.register_replica(f"r{i:02}", model="llama", max_running=256)
        cached = list(range(i * 8, i * 8 + 64))
        c.report_load(f"r{i:02}", waiting=i % 5, waiting_blocks=40 * (i % 7), cached_block_hashes=cached)


def unary(c: Client, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        c.route(model="llama", block_hashes=[i % 128, i % 128 + 1], prompt_tokens=512)
    return n / (time.perf_counter() - start)


def message(batch: int, base: int) -> ap.RouteStreamRequest:
    msg = ap.RouteStreamRequest()
    for i in range(base, base + batch):
        msg.routes.add(
            model="llama", tenant="default", block_hashes=[i % 128, i % 128 + 1], prompt_tokens=512
        )
    return msg


def streamed(c: Client, n: int, batch: int) -> float:
    msgs = [message(batch, k * batch) for k in range(n // batch)]
    start = time.perf_counter()
    answered = sum(len(out.routes) for out in c.route_stream(msgs))
    elapsed = time.perf_counter() - start
    assert answered == len(msgs) * batch
    return answered / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--decisions", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--unary", type=int, default=5_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as state:
        proc, target = start_daemon(Path(state), "normal")
        try:
            with Client(target) as c:
                setup(c)
                u = unary(c, args.unary)
                s1 = streamed(c, args.decisions // 10, 1)
                sb = streamed(c, args.decisions, args.batch)
        finally:
            proc.terminate()
            proc.wait()
    print(f"unary Route:                    {u:>10,.0f} decisions/s")
    print(f"RouteStream, 1 per message:     {s1:>10,.0f} decisions/s  ({s1 / u:.1f}x unary)")
    print(f"RouteStream, {args.batch} per message:   {sb:>10,.0f} decisions/s  ({sb / u:.1f}x unary)")


if __name__ == "__main__":
    main()
