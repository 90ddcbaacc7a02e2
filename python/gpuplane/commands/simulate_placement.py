"""``gpuplane simulate placement``: the per-policy allocation table."""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict

from tqdm import tqdm

from gpuplane.errors import InvalidRequest
from gpuplane.simulate.placement import (
    PUBLISHED_REFERENCE,
    DeparturesResult,
    ReplayResult,
    offered_load_scale,
    replay,
    replay_departures,
)
from gpuplane.simulate.synthetic import synthetic_nodes, synthetic_pods
from gpuplane.simulate.variants import derive_variant
from gpuplane.traces.openb import read_nodes, read_pods


def run(args: argparse.Namespace) -> int:
    """Runs every (policy, seed) replay and prints the table."""
    if (args.nodes is None) != (args.pods is None):
        raise InvalidRequest(
            "--nodes and --pods go together", field="nodes" if args.nodes is None else "pods"
        )
    if args.seeds < 1:
        raise InvalidRequest(f"--seeds must be at least 1, got {args.seeds}", field="seeds")
    if not 0 < args.target <= 10:
        raise InvalidRequest(f"--target must be in (0, 10], got {args.target}", field="target")
    if args.nodes:
        nodes, pods, source = read_nodes(args.nodes), read_pods(args.pods), f"{args.nodes} + {args.pods}"
    else:
        nodes, pods, source = synthetic_nodes(), synthetic_pods(), "built-in synthetic cluster and workload"
    if getattr(args, "variant", None):
        pods = derive_variant(pods, nodes, args.variant)
        source += f", variant {args.variant}"
    gpus = sum(n.gpus for n in nodes)
    print(f"trace: {source}: {len(nodes)} nodes, {gpus} GPUs, {len(pods)} pods")
    seeds = f"seeds 0..{args.seeds - 1}"
    protocol = "the FGD artifact's protocol" if args.protocol == "artifact" else "gpuplane's protocol"
    print(
        f"{protocol}: arrivals until {args.target:.0%} of GPU capacity is requested, no departures, {seeds}"
    )
    runs = [(p, s) for p in args.policies for s in range(args.seeds)]
    bar = tqdm(runs, desc="replaying", unit="run", disable=args.no_progress)
    ties = getattr(args, "ties", "first")
    results = [replay(nodes, pods, p, s, args.target, args.distribution, args.protocol, ties) for p, s in bar]
    print(
        table(
            results,
            args.policies,
            with_reference=args.nodes is not None and not getattr(args, "variant", None),
        )
    )
    departures = run_departures(args, nodes, pods) if args.departures else []
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([asdict(r) for r in [*results, *departures]], f, indent=1)
    return 0


def table(results: list[ReplayResult], policies: list[str], with_reference: bool = True) -> str:
    """A readable table: mean and spread per policy, beside the FGD paper's openb figure when
    ``with_reference`` (the reference only means something for the openb trace)."""
    lines = [
        f"{'policy':<10} {'allocated':>10} {'± std':>7} {'min':>7} {'max':>7} {'FGD paper':>10} {'delta':>7} "
        f"{'placed':>8} {'µs/decision':>12}"
    ]
    for policy in policies:
        rs = [r for r in results if r.policy == policy]
        ratios = [100 * r.allocation_ratio for r in rs]
        mean = statistics.fmean(ratios)
        std = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
        ref = PUBLISHED_REFERENCE.get(policy) if with_reference else None
        ref_text = f"{ref:.2f} %" if ref is not None else "-"
        delta = f"{mean - ref:+.2f}" if ref is not None else "-"
        placed = statistics.fmean(r.placed / r.arrived for r in rs)
        micros = statistics.fmean(r.microseconds_per_decision for r in rs)
        lines.append(
            f"{policy:<10} {mean:>8.2f} % {std:>7.2f} {min(ratios):>7.2f} {max(ratios):>7.2f} {ref_text:>10} "
            f"{delta:>7} {placed:>7.1%} {micros:>12.1f}"
        )
    return "\n".join(lines)


def run_departures(args: argparse.Namespace, nodes: list, pods: list) -> list[DeparturesResult]:
    """The second scenario: the trace in time order with departures; prints its table."""
    timed = sum(p.deletion_time is not None for p in pods)
    scale = offered_load_scale(nodes, pods, args.target)
    print(
        f"\nwith departures: {len(pods)} pods in creation order, {timed} depart after their lifetime "
        f"(deletion - creation); arrivals {scale:.3g}x faster so the mean offered load is "
        f"{args.target:.0%} of GPU capacity"
    )
    runs = [(p, s) for p in args.policies for s in range(args.seeds)]
    bar = tqdm(runs, desc="replaying", unit="run", disable=args.no_progress)
    results = [replay_departures(nodes, pods, p, s, args.distribution, scale) for p, s in bar]
    print(departures_table(results, args.policies))
    return results


def departures_table(results: list[DeparturesResult], policies: list[str]) -> str:
    """Per policy: time-averaged, peak and final allocation, placed share, fragmentation."""
    lines = [f"{'policy':<10} {'mean alloc':>10} {'peak':>8} {'final':>8} {'placed':>8} {'frag':>7}"]
    for policy in policies:
        rs = [r for r in results if r.policy == policy]

        def mean(f, rs=rs):
            return statistics.fmean(f(r) for r in rs)

        lines.append(
            f"{policy:<10} {mean(lambda r: 100 * r.mean_allocation_ratio):>8.2f} % "
            f"{mean(lambda r: 100 * r.peak_allocation_ratio):>6.2f} % "
            f"{mean(lambda r: 100 * r.allocation_ratio):>6.2f} % "
            f"{mean(lambda r: r.placed / r.arrived):>7.1%} "
            f"{mean(lambda r: r.fragmentation_ratio):>7.3f}"
        )
    return "\n".join(lines)
