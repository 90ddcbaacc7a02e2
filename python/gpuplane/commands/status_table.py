"""The text of ``gpuplane status``: GPUs, tenants and replica queues as aligned tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gpuplane.errors import PermissionDenied

GIB = 1024.0


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [list(map(str, headers)), *[[str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def gib(mib: int) -> str:
    """MiB as GiB with one decimal."""
    return f"{mib / GIB:.1f}"


def gpu_rows(view: Any) -> list[list[Any]]:
    """One row per GPU."""
    return [
        [
            g.id,
            g.node,
            g.model,
            "ok" if g.healthy else "DRAINED",
            f"{gib(g.memory_used_mib)}/{gib(g.memory_total_mib)}",
            gib(g.memory_external_mib),
            f"{g.compute_used_milli}/{g.compute_total_milli}",
            g.workloads,
        ]
        for g in view.gpus
    ]


def summary(view: Any, server: str) -> str:
    """The header lines: server, policy, source, totals."""
    t = view.totals
    return (
        f"gpuplane {server}  policy {view.policy}  {view.inventory_source}\n"
        f"GPUs {t.gpus} ({t.healthy_gpus} healthy)"
        f"  memory {gib(t.memory_used_mib)}/{gib(t.memory_total_mib)} GiB"
        f"  allocation {view.allocation_ratio:.1%}  fragmentation {view.fragmentation_ratio:.1%}"
        f"  workloads {view.workloads}"
    )


def tenant_section(client: Any) -> str:
    """Tenants (admin only; a tenant token sees a note instead)."""
    try:
        tenants = client.tenants()
    except PermissionDenied:
        return "(tenants: admin token needed)"
    if not tenants:
        return "(no tenants)"
    rows = [
        [
            t.name,
            t.parent or "-",
            t.placed_workloads,
            t.placed_gpus,
            gib(t.placed_memory_mib),
            t.admitted,
            t.queued,
            f"{t.fair_share.get('gpus', 0.0):g}",
            f"{t.dominant_share:.1%}",
        ]
        for t in tenants
    ]
    header = ["TENANT", "PARENT", "WORKLOADS", "GPUS", "MEM GiB", "ADMITTED", "QUEUED", "FAIR GPUS"]
    return table([*header, "DOMINANT"], rows)


def queue_section(client: Any) -> str:
    """Registered engine replicas and their queues."""
    try:
        replicas = client.replicas()
    except PermissionDenied:
        return "(replicas: admin token needed)"
    if not replicas:
        return "(no replicas registered)"
    rows = [[r.id, r.model or "-", r.waiting, r.running, f"{r.kv_usage:.0%}"] for r in replicas]
    return table(["REPLICA", "MODEL", "WAITING", "RUNNING", "KV"], rows)


def render(client: Any, server: str) -> str:
    """The whole status page."""
    view = client.cluster(gpus=True, placements=False)
    gpus = table(
        ["GPU", "NODE", "MODEL", "HEALTH", "MEM GiB", "EXT GiB", "COMPUTE", "WORKLOADS"], gpu_rows(view)
    )
    return "\n\n".join([summary(view, server), gpus, tenant_section(client), queue_section(client)])
