"""Cost of the live web page at 1,000 nodes / 8,000 GPUs, beside ``gpuplane status``'s reads.

Starts a real ``gpuplane serve --simulate 1000x8xH100-80GB --http-port`` subprocess, fills it
with ``--workloads`` placements (``PlaceColumns``, 8 tenants with quotas) and 64 replicas with
load, then measures:

* one refresh of ``/api/view``: the server's time (its ``Server-Timing`` header: the three
  service calls, the view model, JSON), the client's wall time, and the bytes sent, gzipped
  (what a browser gets) and not;
* an unchanged refresh (``If-None-Match``: 304, no body);
* the baseline: the same three calls over gRPC as ``gpuplane status`` makes them, turned
  into the same view (``status_table.read``, with placements, as the page asks);
* with Chromium installed, a page load: navigation until the map shows every GPU.

    python benches/bench_web.py [--workloads 6000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from gpuplane import Client, Workload
from gpuplane.client_values import Quota
from gpuplane.status_view import status_view

SPEC = "1000x8xH100-80GB"
TENANTS = 8
REPLICAS = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_daemon(state_dir: Path, http_port: int) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [sys.executable, "-m", "gpuplane", "serve", "--listen", "127.0.0.1:0", "--no-nvml"]
    cmd += ["--state-dir", str(state_dir), "--simulate", SPEC, "--http-port", str(http_port)]
    cmd += ["--journal-sync", "normal", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    for raw in proc.stdout:
        if b"listening on" in raw:
            return proc, "127.0.0.1:" + raw.decode().rsplit(":", 1)[1].strip()
    raise RuntimeError("daemon exited before listening")


def populate(c: Client, workloads: int) -> None:
    rng = np.random.default_rng(0)
    per = workloads // TENANTS
    for t in range(TENANTS):
        c.put_tenant(f"t{t}", quota=Quota(guaranteed={"gpus": 200}, deserved={"gpus": 1000}))
        ids = [f"t{t}-w{i}" for i in range(per)]
        memory = rng.choice([10_000, 20_000, 40_000, 70_000], size=per)
        counts = rng.choice([1, 1, 1, 2, 4], size=per)
        c.place_columns(ids, memory_mib=memory, gpu_count=counts, tenant=f"t{t}")
    for r in range(REPLICAS):
        c.register_replica(f"vllm-{r}", model=f"model-{r % 4}")
        c.report_load(f"vllm-{r}", waiting=r % 7, running=r % 13, kv_usage=(r % 10) / 10)


def get(url: str, headers: dict[str, str]) -> tuple[int, float, float, int, bytes]:
    """(status, client ms, server ms, bytes on the wire, body)."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            body, status, timing = r.read(), r.status, r.headers["Server-Timing"]
    except urllib.error.HTTPError as e:
        body, status, timing = b"", e.code, e.headers["Server-Timing"]
    wall = (time.perf_counter() - started) * 1000
    return status, wall, float(timing.split("dur=")[1]), len(body), body


def median_of(repeat: int, fn):
    samples = [fn() for _ in range(repeat)]
    return samples, [statistics.median(col) for col in zip(*[s[1:4] for s in samples], strict=True)]


def after_a_placement(c: Client, url: str):
    """A refresh right after a placement changed the cluster (its view is built anew)."""

    def once() -> tuple[int, float, float, int, bytes]:
        c.place(Workload("probe", memory_mib=1_000))
        try:
            return get(url, {"Accept-Encoding": "gzip"})
        finally:
            c.release("probe")

    return once


def bench_page(url: str, repeat: int, c: Client) -> dict[str, float]:
    """Median server ms, client ms and bytes of a gzip, an identity and an unchanged refresh,
    and of one right after a placement."""
    _, changed = median_of(repeat, after_a_placement(c, url))
    samples, gz = median_of(repeat, lambda: get(url, {"Accept-Encoding": "gzip"}))
    _, raw = median_of(repeat, lambda: get(url, {}))
    with urllib.request.urlopen(url, timeout=60) as r:
        etag = r.headers["ETag"]
    unchanged, nm = median_of(repeat, lambda: get(url, {"If-None-Match": etag}))
    assert all(s[0] == 304 for s in unchanged), "the view changed between refreshes"
    view = json.loads(gzip.decompress(samples[-1][4]))
    out: dict[str, float] = {"gpus": sum(len(n["gpus"]) for n in view["cluster"]["nodes"])}
    for key, (wall, server, size) in (("changed", changed), ("gz", gz), ("raw", raw), ("nm", nm)):
        out.update({f"{key}_wall": wall, f"{key}_server": server, f"{key}_bytes": size})
    return out


def bench_status(target: str, repeat: int) -> float:
    """Median ms of the table's three reads (with placements, as the page) into the view."""
    times = []
    with Client(target, max_message_bytes=256 * 1024 * 1024) as c:
        for _ in range(repeat):
            started = time.perf_counter()
            status_view(target, c.cluster(gpus=True, placements=True), c.tenants(), c.replicas())
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_browser(url: str, gpus: int, profile: Path) -> float | None:
    """Ms from navigation until the map shows every GPU, in headless Chromium (None: absent)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    try:
        from chromium import Chromium
    except ImportError:
        return None
    try:
        browser = Chromium(profile)
    except AssertionError:
        return None
    with browser:
        started = time.perf_counter()
        browser.open(url)
        browser.wait_for(f"document.querySelectorAll('g.gpu').length === {gpus}", timeout=120)
        return (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, target = start_daemon(Path(tmp), port)
        try:
            with Client(target, timeout=120) as c:
                populate(c, args.workloads)
                placed = c.cluster(gpus=False, placements=False).workloads
            url = f"http://127.0.0.1:{port}/api/view"
            with Client(target, timeout=120) as c:
                page = bench_page(url, args.repeat, c)
            status_ms = bench_status(target, args.repeat)
            load_ms = bench_browser(f"http://127.0.0.1:{port}/", int(page["gpus"]), Path(tmp) / "profile")
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{SPEC}: {page['gpus']} GPUs, {placed} workloads, {TENANTS} tenants, {REPLICAS} replicas")
    print(f"{'refresh':34s} {'server ms':>10s} {'client ms':>10s} {'bytes':>11s}")
    for name, key in (
        ("/api/view gzip, after a placement", "changed"),
        ("/api/view gzip", "gz"),
        ("/api/view identity", "raw"),
        ("/api/view unchanged (304)", "nm"),
    ):
        server, wall, size = page[f"{key}_server"], page[f"{key}_wall"], page[f"{key}_bytes"]
        print(f"{name:34s} {server:10.1f} {wall:10.1f} {size:11,.0f}")
    print(f"{'baseline: status reads over gRPC':34s} {'':10s} {status_ms:10.1f}")
    print(f"page refresh / status reads (client ms): {page['gz_wall'] / status_ms:.2f}x")
    if load_ms is not None:
        print(f"page load in headless Chromium until all {page['gpus']} GPUs are drawn: {load_ms:.0f} ms")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
