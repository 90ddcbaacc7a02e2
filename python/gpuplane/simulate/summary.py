"""The terminal summary of one or more LLM simulation reports (side by side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Report = dict[str, Any]


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f}" if seconds >= 0.01 else f"{1000 * seconds:.1f}"


def label(report: Report) -> str:
    """A report's name, or its policy and routing."""
    cfg = report["config"]
    return report["name"] or f"{cfg['policy']}/{cfg['routing']}"


def header(report: Report, trace: str = "") -> str:
    """One line on the fleet and the model."""
    m, cfg = report["model"], report["config"]
    slo = cfg["slo"]
    return (
        f"{trace + ': ' if trace else ''}{report['summary']['requests']:,} requests on {cfg['replicas']} x "
        f"{m['gpu']} (TP {m['tp']}) serving {m['model']}; KV {m['kv_capacity_tokens']:,} tokens/replica; "
        f"prefill 1k {_ms(m['prefill_1k_s'])} ms, decode step b1 {_ms(m['decode_b1_s'])} ms / "
        f"b64 {_ms(m['decode_b64_s'])} ms; SLO TTFT {slo['ttft_s']} s, TPOT {1000 * slo['tpot_s']:.0f} ms"
    )


def overview(reports: Sequence[Report]) -> str:
    """One row per report: volumes, rates, latencies, utilization, fairness."""
    head = (
        f"{'config':<22} {'done':>8} {'rej':>6} {'req/s':>7} {'out tok/s':>10} {'goodput':>8} {'SLO %':>6} "
        f"{'TTFT p50':>9} {'p99 ms':>9} {'TPOT p50':>9} {'E2E p99 s':>9} {'GPU %':>6} {'KV %':>5} "
        f"{'preempt':>8} {'maxdiff':>9} {'Jain':>5}"
    )
    lines = [head]
    for r in reports:
        s, f = r["summary"], r["fairness"]
        lines.append(
            f"{label(r):<22} {s['finished']:>8,} {s['rejected']:>6,} {s['throughput_rps']:>7.2f} "
            f"{s['output_tps']:>10,.0f} {s['goodput_rps']:>8.2f} {100 * s['slo_attainment']:>6.1f} "
            f"{_ms(s['ttft_s']['p50']):>9} {_ms(s['ttft_s']['p99']):>9} {_ms(s['tpot_s']['p50']):>9} "
            f"{s['e2e_s']['p99']:>9.2f} {100 * r['gpu_utilization']:>6.1f} {100 * r['kv_utilization']:>5.1f} "
            f"{s['preemptions']:>8,} {f['max_service_diff']:>9,.0f} {f['jain_index']:>5.2f}"
        )
    return "\n".join(lines)


def per_tenant(reports: Sequence[Report]) -> str:
    """One row per (report, tenant): TTFT p50/p99, TPOT, throughput, service."""
    lines = [
        f"{'config':<22} {'tenant':<12} {'weight':>6} {'requests':>9} {'TTFT p50':>9} {'p99 ms':>9} "
        f"{'TPOT p50':>9} {'req/s':>7} {'out tok/s':>10} {'SLO %':>6} {'norm. service':>14}"
    ]
    for r in reports:
        for t in r["tenants"]:
            lines.append(
                f"{label(r):<22} {t['name']:<12} {t['weight']:>6g} {t['requests']:>9,} "
                f"{_ms(t['ttft_s']['p50']):>9} {_ms(t['ttft_s']['p99']):>9} {_ms(t['tpot_s']['p50']):>9} "
                f"{t['throughput_rps']:>7.2f} {t['output_tps']:>10,.0f} {100 * t['slo_attainment']:>6.1f} "
                f"{t['normalized_service']:>14,.0f}"
            )
    return "\n".join(lines)


def _program_row(config: str, tenant: str, g: dict[str, Any]) -> str:
    c = g["completion_s"]
    done = f"{g['finished']:,}/{g['programs']:,}"
    return (
        f"{config:<22} {tenant:<12} {g['name']:<13} {done:>13} "
        f"{c['p50']:>8.2f} {c['p90']:>8.2f} {c['p99']:>8.2f} "
        f"{g['calls']['mean']:>6.1f} {g['tokens']['mean']:>9,.0f} {g['waiting_s']['mean']:>8.2f} "
        f"{g['running_s']['mean']:>8.2f} {g['tool_s']['mean']:>8.2f}"
    )


def programs(reports: Sequence[Report]) -> str:
    """One row per (report, tenant, group) with programs: agent programs and single calls,
    completion time (first call's arrival to last call's finish) p50/p90/p99 in seconds, mean
    calls and tokens, and mean seconds waiting, running and in tool calls."""
    head = (
        f"{'config':<22} {'tenant':<12} {'group':<13} {'done':>13} {'compl p50':>8} {'p90':>8} {'p99 s':>8} "
        f"{'calls':>6} {'tokens':>9} {'wait s':>8} {'run s':>8} {'tool s':>8}"
    )
    lines = [head]
    for r in reports:
        p = r["programs"]
        groups = [("all", p["programs"]), ("all", p["single_calls"])]
        if len(p["tenants"]) > 1:
            groups += [(t["name"], g) for t in p["tenants"] for g in (t["programs"], t["single_calls"])]
        lines += [_program_row(label(r), tenant, g) for tenant, g in groups if g["programs"]]
    return "\n".join(lines) if len(lines) > 1 else ""


def rejections(reports: Sequence[Report]) -> str:
    """Rejections by reason, if any."""
    rows = [f"{label(r)}: {r['rejected_by_reason']}" for r in reports if r["rejected_by_reason"]]
    return ("rejected: " + "; ".join(rows)) if rows else ""


def summary_text(reports: Sequence[Report], trace: str = "") -> str:
    """The full terminal summary."""
    parts = [header(reports[0], trace), overview(reports), per_tenant(reports)]
    parts += [programs(reports), rejections(reports)]
    return "\n\n".join(p for p in parts if p)
