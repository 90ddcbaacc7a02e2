"""A self-contained HTML report of LLM simulation runs: tables and matplotlib plots embedded
as base64 PNG (no external files or scripts)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

from gpuplane.simulate.summary import header, label, overview, per_tenant, programs, rejections

Report = dict[str, Any]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ttft_by_tenant(reports: Sequence[Report]) -> str:
    """Bars of per-tenant TTFT p50 and p99, one group per tenant, one bar per report."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    tenants = [t["name"] for t in reports[0]["tenants"]]
    width = 0.8 / len(reports)
    for k, r in enumerate(reports):
        for ax, q in zip(axes, ("p50", "p99"), strict=True):
            xs = [i + k * width for i in range(len(tenants))]
            ax.bar(xs, [t["ttft_s"][q] for t in r["tenants"]], width, label=label(r))
    for ax, q in zip(axes, ("p50", "p99"), strict=True):
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tenants))], tenants)
        ax.set_ylabel(f"TTFT {q} (s)")
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    return _png(fig)


def timelines(reports: Sequence[Report]) -> str:
    """Output tokens/s, GPU utilization and KV utilization per window."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    for r in reports:
        tl = r["timeline"]
        ws = tl["window_s"]
        axes[0].plot(tl["start_s"], [n / ws for n in tl["output_tokens"]], label=label(r))
        axes[1].plot(tl["start_s"], tl["gpu_utilization"], label=label(r))
        axes[2].plot(tl["start_s"], tl["kv_utilization"], label=label(r))
    for ax, name in zip(axes, ("output tokens/s", "GPU busy share", "KV cache usage"), strict=True):
        ax.set_xlabel("time (s)")
        ax.set_ylabel(name)
    axes[0].legend(fontsize=8)
    return _png(fig)


def service(reports: Sequence[Report]) -> str:
    """Per-tenant normalized service per window, one panel per report."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(reports), figsize=(4.5 * len(reports), 3.2), squeeze=False)
    for ax, r in zip(axes[0], reports, strict=True):
        tl = r["timeline"]
        for t, series in zip(r["tenants"], tl["tenant_service"], strict=True):
            ax.plot(tl["start_s"], series, label=t["name"])
        ax.set_title(label(r), fontsize=9)
        ax.set_xlabel("time (s)")
    axes[0][0].set_ylabel("service / weight per window")
    axes[0][0].legend(fontsize=8)
    return _png(fig)


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def html_report(reports: Sequence[Report], title: str = "gpuplane simulation", trace: str = "") -> str:
    """The whole report as one HTML document."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(header(reports[0], trace))}</p>",
        "<h2>Overview</h2>",
        _pre(overview(reports)),
        "<h2>Per tenant</h2>",
        _pre(per_tenant(reports)),
        "<h2>Programs and single calls</h2>" + _pre(programs(reports)) if programs(reports) else "",
        _pre(rejections(reports)) if rejections(reports) else "",
        "<h2>Time to first token by tenant</h2>",
        ttft_by_tenant(reports),
        "<h2>Over time</h2>",
        timelines(reports),
        "<h2>Service by tenant</h2>",
        service(reports),
    ]
    style = "body{font-family:sans-serif;margin:2em}pre{font-size:12px;background:#f6f6f6;padding:1em}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
