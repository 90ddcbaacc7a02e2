"""A bounded soak of ``gpuplane serve`` on loopback: mixed load (place and release, replica
registration, load reports, routing, listing, malformed bytes) from a few client threads for
``--seconds``, sampling the server's resident memory. Memory must stay flat: the median of the
last quarter of samples may exceed the peak of the first quarter (the warm-up) by at most
``--slack-mib`` plus 10 %. Prints the figures; exits 1 when memory grew.

    python benches/soak.py [--seconds 180] [--threads 4] [--slack-mib 16]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import admission_pb2_grpc, placement_pb2, placement_pb2_grpc, types_pb2

SAMPLE_S = 1.0
CALLS_PER_ROUND = 8  # the calls of one_round


def start_server(state_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``gpuplane serve`` subprocess on 127.0.0.1:0; returns it and its target."""
    cmd = [sys.executable, "-m", "gpuplane", "serve", "--listen", "127.0.0.1:0", "--no-nvml"]
    cmd += ["--state-dir", str(state_dir), "--simulate", "2x8xH100-80GB", "--log-level", "ERROR"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    return proc, f"127.0.0.1:{line.rsplit(':', 1)[1].strip()}"


def rss_mib(pid: int) -> float:
    """Resident memory of a process (MiB) from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def one_round(placement, admission, raw, worker: int, i: int) -> None:
    """One round of mixed calls; refusals are part of the load."""
    wid = f"w{worker}-{i % 32}"
    workload = types_pb2.Workload(id=wid, tenant=f"t{worker}", memory_mib=1000 + i % 7000, gpu_count=1)
    placement.Place(placement_pb2.PlaceRequest(workload=workload))
    placement.Release(placement_pb2.ReleaseRequest(workload_id=wid))
    rid = f"r{worker}-{i % 16}"
    admission.RegisterReplica(ap.RegisterReplicaRequest(replica=ap.Replica(id=rid, model="m")))
    service = {f"t{j}": float(i % 100) for j in range(8)}
    load = ap.ReplicaLoad(replica_id=rid, waiting=i % 9, kv_usage=0.5, tenant_service=service)
    admission.ReportLoad(ap.ReportLoadRequest(load=load))
    admission.Route(ap.RouteRequest(tenant=f"t{worker}", model="m"))
    admission.ListReplicas(ap.ListReplicasRequest())
    try:
        raw(b"\xff\xff\xff\xff")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    try:
        placement.Release(placement_pb2.ReleaseRequest(workload_id="never-placed"))
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e


def client(target: str, worker: int, stop: threading.Event, rounds: list[int]) -> None:
    """Runs rounds until ``stop``."""
    with grpc.insecure_channel(target) as channel:
        placement = placement_pb2_grpc.PlacementServiceStub(channel)
        admission = admission_pb2_grpc.AdmissionServiceStub(channel)
        raw = channel.unary_unary("/gpuplane.v1.PlacementService/Place")
        i = 0
        while not stop.is_set():
            one_round(placement, admission, raw, worker, i)
            i += 1
        rounds[worker] = i


def soak(seconds: float, threads: int) -> tuple[list[float], int]:
    """Runs the load; returns the memory samples (MiB) and the rounds done."""
    with tempfile.TemporaryDirectory() as state:
        proc, target = start_server(Path(state))
        stop, rounds = threading.Event(), [0] * threads
        workers = [threading.Thread(target=client, args=(target, w, stop, rounds)) for w in range(threads)]
        try:
            for w in workers:
                w.start()
            samples, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(SAMPLE_S)
                samples.append(rss_mib(proc.pid))
        finally:
            stop.set()
            for w in workers:
                w.join()
            proc.terminate()
            proc.wait(30)
    return samples, sum(rounds)


def main() -> int:
    ap_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap_.add_argument("--seconds", type=float, default=180.0)
    ap_.add_argument("--threads", type=int, default=4)
    ap_.add_argument("--slack-mib", type=float, default=16.0)
    args = ap_.parse_args()
    samples, rounds = soak(args.seconds, args.threads)
    quarter = max(1, len(samples) // 4)
    warm, late = max(samples[:quarter]), statistics.median(samples[-quarter:])
    allowed = warm * 1.10 + args.slack_mib
    print(
        f"soak {args.seconds:.0f}s, {args.threads} clients, {rounds} rounds "
        f"({rounds * CALLS_PER_ROUND} calls)"
    )
    print(
        f"server RSS MiB: warm-up peak {warm:.1f}, last-quarter median {late:.1f} "
        f"(x{late / warm:.3f} of the warm-up), allowed {allowed:.1f}"
    )
    print(f"samples: first {samples[0]:.1f}, max {max(samples):.1f}, last {samples[-1]:.1f}")
    if late > allowed:
        print("memory grew")
        return 1
    print("memory flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
