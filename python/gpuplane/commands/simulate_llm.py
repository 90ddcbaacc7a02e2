"""``gpuplane simulate llm`` and ``gpuplane simulate capacity``: LLM serving traces through the
simulator, compared across policies, or searched for capacity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gpuplane._core import ROUTING_POLICIES
from gpuplane.errors import InvalidRequest
from gpuplane.simulate.capacity import Probe, max_rate, min_replicas
from gpuplane.simulate.html import html_report
from gpuplane.simulate.llm import compare
from gpuplane.simulate.summary import summary_text
from gpuplane.simulate.synthetic_llm import SyntheticLlm, synthetic_llm
from gpuplane.traces.azure import read_azure
from gpuplane.traces.burstgpt import read_burstgpt
from gpuplane.traces.jsonl import read_jsonl
from gpuplane.traces.llm import LlmTrace, assign_tenants, parse_tenants

FORMATS = ["azure", "jsonl", "burstgpt", "synthetic"]


def add_common(p: argparse.ArgumentParser) -> None:
    """Arguments shared by ``llm`` and ``capacity``."""
    p.add_argument("--trace", help="trace file (not for --format synthetic)")
    p.add_argument("--format", choices=FORMATS, default="azure")
    p.add_argument("--requests", type=int, default=10_000, help="synthetic: number of requests")
    p.add_argument("--rate", type=float, default=10.0, help="synthetic: requests per second")
    p.add_argument("--limit", type=int, help="replay only the first N requests")
    p.add_argument(
        "--tenants",
        nargs="+",
        metavar="NAME=SHARE[:WEIGHT[:PRIORITY]]",
        help="split the trace's rows among tenants by a deterministic rule (hash of the row index)",
    )
    p.add_argument("--rate-scale", type=float, default=1.0, help="replay at K times the trace's rate")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--gpu", default="H100-80GB")
    p.add_argument("--model", default="llama-3-8b")
    p.add_argument("--tp", type=int, default=1, help="tensor-parallel GPUs per replica")
    p.add_argument(
        "--routing",
        choices=ROUTING_POLICIES,
        help="the core router's policy (default: the core's production default, cost)",
    )
    p.add_argument("--max-queue", type=int, default=0, help="waiting requests per replica (0: no cap)")
    p.add_argument("--slo-ttft", type=float, default=2.0, help="seconds")
    p.add_argument("--slo-tpot", type=float, default=0.1, help="seconds")
    p.add_argument("--window", type=float, default=60.0, help="timeline and fairness window, seconds")
    p.add_argument("--seed", type=int, default=0, help="synthetic trace seed")
    p.add_argument("--no-progress", action="store_true")


def load_trace(args: argparse.Namespace) -> LlmTrace:
    """The trace the arguments describe, tenants assigned, limited and scaled."""
    if args.format == "synthetic":
        trace = synthetic_llm(SyntheticLlm(requests=args.requests, rate=args.rate, seed=args.seed))
    elif not args.trace:
        raise InvalidRequest(f"--trace is required for --format {args.format}", field="trace")
    else:
        reader = {"azure": read_azure, "jsonl": read_jsonl, "burstgpt": read_burstgpt}[args.format]
        trace = reader(args.trace)
    if args.limit:
        trace = trace.head(args.limit)
    if args.tenants:
        trace = assign_tenants(trace, parse_tenants(args.tenants))
    return trace.scaled(args.rate_scale) if args.rate_scale != 1.0 else trace


def base_config(args: argparse.Namespace) -> dict[str, Any]:
    """The simulator configuration shared by every run."""
    return {
        "replicas": args.replicas,
        "gpu": args.gpu,
        "model": args.model,
        "model_options": {"tp": args.tp},
        **({"routing": args.routing} if args.routing else {}),
        "max_queue": args.max_queue,
        "slo": {"ttft_s": args.slo_ttft, "tpot_s": args.slo_tpot},
        "window_s": args.window,
    }


def run_spec(text: str) -> dict[str, Any]:
    """``POLICY`` or ``POLICY/ROUTING`` (``fair/least_loaded``) as configuration keys."""
    policy, _, routing = text.partition("/")
    from gpuplane._core import BATCH_POLICIES

    if policy not in BATCH_POLICIES:
        raise InvalidRequest(
            f"unknown batching policy {policy!r}; expected one of {BATCH_POLICIES}", field="policies"
        )
    if routing and routing not in ROUTING_POLICIES:
        raise InvalidRequest(
            f"unknown routing {routing!r}; expected one of {ROUTING_POLICIES}", field="policies"
        )
    return {"policy": policy, **({"routing": routing} if routing else {})}


def run_llm(args: argparse.Namespace) -> int:
    """Runs each policy on the trace and prints (and writes) the side-by-side report."""
    trace = load_trace(args)
    base = base_config(args)
    configs = [{**base, **run_spec(p), "name": p} for p in args.policies]
    reports = compare(trace, configs, progress=not args.no_progress)
    source = Path(trace.source).name if trace.source else "trace"
    print(summary_text(reports, source))
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(html_report(reports, f"gpuplane simulate llm: {source}", source), "utf-8")
    return 0


def _print_probe(label: str) -> Any:
    def show(p: Probe) -> None:
        verdict = "meets" if p.meets else "misses"
        print(
            f"  {label} {p.value:g}: {100 * p.attainment:.1f} % within SLO ({verdict}); "
            f"TTFT p99 {p.ttft_p99_s:.3f} s, TPOT p99 {1000 * p.tpot_p99_s:.1f} ms"
        )

    return show


def run_capacity(args: argparse.Namespace) -> int:
    """Smallest replica count at the trace's load, and the load the fleet sustains."""
    trace = load_trace(args)
    config = {**base_config(args), "policy": args.policy}
    print(f"{len(trace):,} requests; SLO met when >= {100 * args.attainment:g} % finish within the SLOs")
    out: dict[str, Any] = {}
    if args.search in ("replicas", "both"):
        print("smallest replica count at this load:")
        r = min_replicas(trace, config, args.attainment, args.max_replicas, _print_probe("replicas"))
        print(f"=> {r.answer if r.answer is not None else f'none up to {args.max_replicas}'}")
        out["min_replicas"] = {"answer": r.answer, "probes": [p.__dict__ for p in r.probes]}
    if args.search in ("rate", "both"):
        print(f"largest rate multiplier {args.replicas} replicas sustain:")
        k = max_rate(trace, config, args.attainment, on_probe=_print_probe("rate x"))
        print(f"=> {k.answer:.3g}x the trace's rate" if k.answer else "=> none")
        out["max_rate_scale"] = {"answer": k.answer, "probes": [p.__dict__ for p in k.probes]}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


def register(kinds: Any) -> None:
    """Adds ``simulate llm`` and ``simulate capacity`` to the ``simulate`` subcommands."""
    from gpuplane._core import BATCH_POLICIES

    llm = kinds.add_parser(
        "llm",
        help="replay an LLM request trace on simulated GPU replicas, one run per policy",
        description="Replays an LLM request trace (Azure CSV, Mooncake JSONL, BurstGPT CSV or synthetic) "
        "through N simulated engine replicas with the batching scheduler and a GPU step-time model, "
        "once per batching policy, and reports latency, throughput, goodput, utilization and fairness.",
    )
    add_common(llm)
    llm.add_argument(
        "--policies",
        nargs="+",
        default=["fcfs"],
        metavar="POLICY[/ROUTING]",
        help=f"batching policies ({', '.join(BATCH_POLICIES)}), each optionally with its own routing "
        "(fair/least_loaded); one run each",
    )
    llm.add_argument("--json", metavar="FILE", help="write the reports as JSON")
    llm.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    llm.set_defaults(run=run_llm)
    cap = kinds.add_parser(
        "capacity",
        help="smallest fleet meeting SLOs, and the load a fleet sustains",
        description="Bisection over the replica count (at the trace's load) and over the rate multiplier "
        "(for --replicas replicas) until a share --attainment of requests finish within the SLOs.",
    )
    add_common(cap)
    cap.add_argument("--policy", default="fcfs", choices=BATCH_POLICIES)
    cap.add_argument("--search", choices=["replicas", "rate", "both"], default="both")
    cap.add_argument("--attainment", type=float, default=0.99)
    cap.add_argument("--max-replicas", type=int, default=256)
    cap.add_argument("--json", metavar="FILE", help="write the probes as JSON")
    cap.set_defaults(run=run_capacity)
