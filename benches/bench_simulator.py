"""Simulator benchmarks (figures for BENCHMARKS.md).

1. Speed: synthetic requests replayed per minute of wall time on one core, through the batching
   path (8 H100 replicas of Llama-3-8B, fcfs), at 10k, 100k and 1M requests.
2. Policies: fcfs vs priority vs fair on the Azure LLM inference 2023 conversation and code
   traces, 4 tenants of unequal load split 50/25/15/10 by the deterministic row-hash rule of
   ``gpuplane.traces.llm`` (tenant ``b`` has priority 1, the others 0; equal weights), on 8 H100
   replicas of Llama-3-8B, at ``--rate-scale`` times the trace's rate.
3. Step-time model vs a published figure: NVIDIA TensorRT-LLM "perf overview" (docs/source/
   performance/perf-overview.md), Llama 3.1 8B FP8 on one H100 SXM, trtllm-bench offline
   throughput, output tokens/s: 28,312 (ISL/OSL 128/128), 15,220 (1000/1000), 3,450 (2048/128).
   The model runs the same offline scenario (every request at t=0) with FP8 weights and KV
   (1 byte) and the H100's dense FP8 peak (1,979 TFLOP/s, H100 datasheet), memory
   utilization 0.95 and up to 2,048 running requests.

Usage: python benches/bench_simulator.py [--sizes 10000 100000 1000000] [--rate-scale 60]
       [--traces DIR] [--figures DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from gpuplane.simulate.llm import simulate_llm
from gpuplane.simulate.synthetic_llm import SyntheticLlm, synthetic_llm
from gpuplane.traces.azure import read_azure
from gpuplane.traces.llm import TenantShare, assign_tenants, from_columns

TENANTS = [TenantShare("a", 50), TenantShare("b", 25, 1.0, 1), TenantShare("c", 15), TenantShare("d", 10)]
FLEET = {"replicas": 8, "gpu": "H100-80GB", "model": "llama-3-8b", "window_s": 5.0}
PUBLISHED = [(128, 128, 28_312), (1000, 1000, 15_220), (2048, 128, 3_450)]


def speed(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        trace = synthetic_llm(SyntheticLlm(requests=n, rate=100.0, seed=1))
        start = time.perf_counter()
        report = simulate_llm(trace, {**FLEET, "policy": "fcfs"})
        wall = time.perf_counter() - start
        rows.append({"requests": n, "wall_s": wall, "req_per_min": 60 * n / wall, "steps": report["steps"]})
        print(
            f"{n:>9,} requests: {wall:7.2f} s wall, {60 * n / wall:>12,.0f} req/min, "
            f"{report['steps']:,} steps"
        )
    return rows


def policies(path: Path, rate_scale: float) -> list[dict]:
    trace = assign_tenants(read_azure(path), TENANTS).scaled(rate_scale)
    out = []
    print(
        f"\n{path.name}: {len(trace):,} requests at {rate_scale:g}x, "
        "tenants a/b/c/d = 50/25/15/10 % (b priority 1)"
    )
    print(f"{'policy':<9} {'tenant':<6} {'TTFT p50 s':>10} {'p99 s':>8} {'out tok/s':>10} {'req/s':>7}")
    for policy in ("fcfs", "priority", "fair"):
        r = simulate_llm(trace, {**FLEET, "policy": policy, "name": policy})
        out.append(r)
        for t in r["tenants"]:
            ttft = t["ttft_s"]
            print(
                f"{policy:<9} {t['name']:<6} {ttft['p50']:>10.3f} {ttft['p99']:>8.3f} "
                f"{t['output_tps']:>10,.0f} {t['throughput_rps']:>7.2f}"
            )
        f, s = r["fairness"], r["summary"]
        print(
            f"{policy:<9} {'all':<6} {s['ttft_s']['p50']:>10.3f} {s['ttft_s']['p99']:>8.3f} "
            f"{s['output_tps']:>10,.0f} {s['throughput_rps']:>7.2f}   "
            f"service diff max {f['max_service_diff']:,.0f} mean {f['mean_service_diff']:,.0f} "
            f"(windows {f['windows_compared']}), Jain {f['jain_index']:.3f}"
        )
    return out


def model_vs_published() -> list[dict]:
    fp8 = {
        "gpu_spec": {
            "name": "H100-80GB (FP8)", "peak_flops": 1979e12, "hbm_bandwidth": 3.35e12, "memory_bytes": 80e9,
        },
        "model_spec": {
            "name": "llama-3-8b (FP8)", "params": 8.03e9, "active_params": 8.03e9, "layers": 32,
            "hidden": 4096, "kv_heads": 8, "head_dim": 128, "dtype_bytes": 1.0, "experts": 1,
            "experts_per_token": 1,
        },
        "model_options": {"memory_utilization": 0.95},
        "engine": {"max_running": 2048, "token_budget": 8192},
    }  # fmt: skip
    rows = []
    print(f"\n{'ISL/OSL':<10} {'published tok/s':>16} {'model tok/s':>12} {'ratio':>6}")
    for isl, osl, published in PUBLISHED:
        n = 3000
        trace = from_columns(np.zeros(n), np.full(n, isl), np.full(n, osl))
        r = simulate_llm(trace, fp8)
        model = r["summary"]["output_tps"]
        rows.append({"isl": isl, "osl": osl, "published_tps": published, "model_tps": model})
        print(f"{isl}/{osl:<6} {published:>16,} {model:>12,.0f} {model / published:>6.2f}")
    return rows


def figures(rows: list[dict], reports: dict[str, list[dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["requests"] for r in rows], [r["req_per_min"] for r in rows], marker="o")
    ax.axhline(1e6, ls="--", color="grey", label="target 1M req/min")
    ax.set(xscale="log", xlabel="trace size (requests)", ylabel="requests replayed / min (1 core)")
    ax.legend()
    fig.savefig(out / "sim_speed.png", dpi=110, bbox_inches="tight")
    for name, rs in reports.items():
        fig, ax = plt.subplots(figsize=(6, 3.2))
        tenants = [t["name"] for t in rs[0]["tenants"]]
        for k, r in enumerate(rs):
            xs = [i + 0.27 * k for i in range(len(tenants))]
            ax.bar(xs, [t["ttft_s"]["p99"] for t in r["tenants"]], 0.27, label=r["name"])
        ax.set_xticks([i + 0.27 for i in range(len(tenants))], tenants)
        ax.set(ylabel="TTFT p99 (s)", title=name, yscale="log")
        ax.legend()
        fig.savefig(out / f"sim_policies_{name}.png", dpi=110, bbox_inches="tight")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--rate-scale", type=float, default=60.0)
    p.add_argument("--traces", default=os.environ.get("GPUPLANE_TRACES", "../shared/traces"))
    p.add_argument("--figures", default="benches/figures")
    p.add_argument("--json")
    args = p.parse_args()
    print(f"load: {os.getloadavg()}")
    rows = speed(args.sizes)
    azure = Path(args.traces) / "azure_llm_2023"
    reports = {
        kind: policies(azure / f"AzureLLMInferenceTrace_{kind}.csv", args.rate_scale)
        for kind in ("conv", "code")
    }
    published = model_vs_published()
    figures(rows, reports, Path(args.figures))
    if args.json:
        summary = {k: [{"policy": r["name"], "tenants": r["tenants"], "fairness": r["fairness"]} for r in v]
                   for k, v in reports.items()}  # fmt: skip
        Path(args.json).write_text(
            json.dumps({"speed": rows, "policies": summary, "published": published}, indent=1)
        )


if __name__ == "__main__":
    main()
