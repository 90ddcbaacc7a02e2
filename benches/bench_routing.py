"""Routing and fleet fairness on the Azure traces: fcfs + round robin, per-replica fair + least
loaded and the new default (fair + the core router's cost model with fleet-wide counters) in
one run (the default also with ``overlap_weight`` 16), at 4 and 16 replicas, four tenants
sharing 50/25/15/10, overloaded; each trace as is and with shared application prefixes
(:func:`gpuplane.traces.prefixes.with_app_prefixes`: 256 applications per tenant with 1,024-token
system prompts, more than the replicas' caches hold).

    python benches/bench_routing.py [--json FILE] [--limit N] [--traces DIR] [--scenario LABEL]...
        [--queue-weights 0,4] [--tenant-seed N] [--window-s S]

``--scenario`` runs only the scenarios of that label (e.g. ``"conv +app prefixes x4"``);
``--queue-weights`` adds a fair + cost run per queue-share weight; ``--tenant-seed`` assigns the
tenants (same shares) by a seeded random draw instead of the module's fixed rule, to see how a
result depends on which requests each tenant has.

Prints per run: fleet-wide mean and max service difference between backlogged tenants (10 s
windows) and Jain's index, output tokens/s, the prefix hit rate and TTFT p50/p99 per tenant,
each run's ratios to fcfs + round robin of the same scenario, and the mean service difference
relative to per-replica fair + least loaded's ("x fair").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from gpuplane.simulate.llm import simulate_llm
from gpuplane.traces.azure import read_azure
from gpuplane.traces.llm import assign_tenants, parse_tenants
from gpuplane.traces.prefixes import with_app_prefixes

DEFAULT_TRACES = Path("/work/shared/traces/azure_llm_2023")
# (batching policy, routing, the cost model's overlap_weight; None: the router's default).
RUNS = [
    ("fcfs", "round_robin", None),
    ("fair", "least_loaded", None),
    ("fair", "cost", None),
    ("fair", "cost", 16.0),
]
# Rate multiplier per replica that overloads llama-3-8b on H100 (the trace alone: ~5.5 req/s).
OVERLOAD_PER_REPLICA = 7.5


def scenario(trace, replicas: int, queue_weights: list[float], window_s: float = 10.0) -> list[dict]:
    base = {"replicas": replicas, "window_s": window_s}
    out = []
    runs = [(p, r, w, None) for p, r, w in RUNS] + [("fair", "cost", None, q) for q in queue_weights]
    for policy, routing, weight, queue in runs:
        name = f"{policy}+{routing}" + ("" if weight is None else f"(w={weight:g})")
        cfg = {**base, "policy": policy, "routing": routing, "name": name}
        if weight is not None:
            cfg["overlap_weight"] = weight
        if queue is not None:
            cfg["queue_weight"] = queue
            cfg["name"] = f"{name}(q={queue:g})"
        out.append(simulate_llm(trace.scaled(OVERLOAD_PER_REPLICA * replicas), cfg))
    return out


def reassign(trace, shares: list[float], seed: int):
    """``trace`` with each request's tenant drawn by a seeded RNG in the same shares."""
    bounds = np.cumsum(np.array(shares) / sum(shares))
    bounds[-1] = 1.0
    draws = np.random.default_rng(seed).random(len(trace))
    return dataclasses.replace(trace, tenant=np.searchsorted(bounds, draws, side="right").astype(np.int64))


def row(label: str, r: dict, base: dict, per_replica: dict) -> str:
    f, s = r["fairness"], r["summary"]
    ttft = " ".join(f"{t['name']}:{t['ttft_s']['p50']:.1f}/{t['ttft_s']['p99']:.1f}" for t in r["tenants"])
    diff_ratio = f["mean_service_diff"] / max(base["fairness"]["mean_service_diff"], 1e-9)
    fair_ratio = f["mean_service_diff"] / max(per_replica["fairness"]["mean_service_diff"], 1e-9)
    tput = s["output_tps"] / base["summary"]["output_tps"]
    return (
        f"{label:<34} {r['name']:<28} {f['mean_service_diff']:>10,.0f} {f['max_service_diff']:>11,.0f} "
        f"{f['jain_index']:>6.3f} {s['output_tps']:>9,.0f} {tput:>6.3f} {diff_ratio:>7.3f} "
        f"{fair_ratio:>7.3f} {100 * r['prefix_hit_rate']:>6.1f} {ttft}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write every report here")
    p.add_argument("--limit", type=int, help="first N requests of each trace")
    p.add_argument("--traces", type=Path, default=DEFAULT_TRACES, help="the Azure LLM 2023 folder")
    p.add_argument("--apps", type=int, default=256, help="applications (system prompts) per tenant")
    p.add_argument("--scenario", action="append", help="only this scenario label (repeatable)")
    p.add_argument("--queue-weights", default="", help="queue weights, a fair + cost run each")
    p.add_argument("--tenant-seed", type=int, help="draw the tenants by this seed (same shares)")
    p.add_argument("--window-s", type=float, default=10.0, help="fairness window, seconds")
    args = p.parse_args()
    queue_weights = [float(q) for q in args.queue_weights.split(",") if q]
    tenants = parse_tenants(["a=50", "b=25", "c=15", "d=10"])
    print(
        f"{'scenario':<34} {'run':<28} {'mean diff':>10} {'max diff':>11} {'Jain':>6} {'out tok/s':>9} "
        f"{'x tput':>6} {'x diff':>7} {'x fair':>7} {'hit %':>6} TTFT p50/p99 s per tenant"
    )
    reports = {}
    for name in ("conv", "code"):
        trace = assign_tenants(read_azure(args.traces / f"AzureLLMInferenceTrace_{name}.csv"), tenants)
        if args.tenant_seed is not None:
            trace = reassign(trace, [t.share for t in tenants], args.tenant_seed)
        if args.limit:
            trace = trace.head(args.limit)
        for prefixes in (False, True):
            t = with_app_prefixes(trace, apps=args.apps) if prefixes else trace
            for replicas in (4, 16):
                label = f"{name}{' +app prefixes' if prefixes else ''} x{replicas}"
                if args.scenario and label not in args.scenario:
                    continue
                runs = scenario(t, replicas, queue_weights, args.window_s)
                for r in runs:
                    print(row(label, r, runs[0], runs[1]), flush=True)
                reports[label] = runs
    if args.json:
        Path(args.json).write_text(json.dumps(reports), encoding="utf-8")


if __name__ == "__main__":
    main()
