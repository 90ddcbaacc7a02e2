"""The text of ``gpuplane status``: the :class:`~gpuplane.status_view.StatusView` of the service's
answers (the same view the web page shows) as aligned tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gpuplane.errors import PermissionDenied
from gpuplane.status_view import StatusView, TenantRow, status_view

GIB = 1024.0
T = TypeVar("T")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces."""
    cells = [list(map(str, headers)), *[[str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def gib(mib: float) -> str:
    """MiB as GiB with one decimal."""
    return f"{mib / GIB:.1f}"


def gpu_rows(view: StatusView) -> list[list[Any]]:
    """One row per GPU."""
    return [
        [
            g.id,
            node.name,
            g.model,
            "ok" if g.healthy else "DRAINED",
            f"{gib(g.memory_used_mib)}/{gib(g.memory_total_mib)}",
            gib(g.memory_external_mib),
            f"{g.compute_used_milli}/{g.compute_total_milli}",
            g.workloads,
        ]
        for node in view.cluster.nodes
        for g in (cell.gpu for cell in node.gpus)
    ]


def summary(view: StatusView) -> str:
    """The header lines: server, policy, source, totals."""
    c, s = view.cluster, view.cluster.summary
    return (
        f"gpuplane {view.server}  policy {c.policy}  {c.inventory_source}\n"
        f"GPUs {s.gpus} ({s.healthy_gpus} healthy)"
        f"  memory {gib(s.memory_used_mib)}/{gib(s.memory_total_mib)} GiB"
        f"  allocation {s.allocation_ratio:.1%}  fragmentation {s.fragmentation_ratio:.1%}"
        f"  workloads {s.workloads}"
    )


def fair_gpus(t: TenantRow) -> str:
    """The tenant's fair share of GPUs from the policy engine, or ``-``."""
    return next((f"{r.fair_share:g}" for r in t.resources if r.resource == "gpus"), "-")


def tenant_section(view: StatusView) -> str:
    """Tenants (admin only; a tenant token sees a note instead)."""
    if view.tenants is None:
        return "(tenants: admin token needed)"
    if not view.tenants:
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
            fair_gpus(t),
            f"{t.dominant_share:.1%}",
        ]
        for t in view.tenants
    ]
    header = ["TENANT", "PARENT", "WORKLOADS", "GPUS", "MEM GiB", "ADMITTED", "QUEUED", "FAIR GPUS"]
    return table([*header, "DOMINANT"], rows)


def queue_section(view: StatusView) -> str:
    """Registered engine replicas and their queues."""
    if view.replicas is None:
        return "(replicas: admin token needed)"
    if not view.replicas:
        return "(no replicas registered)"
    rows = [
        [r.id, r.model or "-", r.waiting, r.running, f"{r.kv_usage:.0%}", f"{r.routing_share:.0%}"]
        for r in view.replicas
    ]
    return table(["REPLICA", "MODEL", "WAITING", "RUNNING", "KV", "ROUTED"], rows)


def permitted(call: Callable[[], T]) -> T | None:
    """``call()``, or None when the caller may not make it."""
    try:
        return call()
    except PermissionDenied:
        return None


def read(client: Any, server: str) -> StatusView:
    """The view of the service's answers to ``client``'s calls."""
    cluster = client.cluster(gpus=True, placements=False)
    return status_view(server, cluster, permitted(client.tenants), permitted(client.replicas))


def render(client: Any, server: str) -> str:
    """The whole status page."""
    view = read(client, server)
    gpus = table(
        ["GPU", "NODE", "MODEL", "HEALTH", "MEM GiB", "EXT GiB", "COMPUTE", "WORKLOADS"], gpu_rows(view)
    )
    return "\n\n".join([summary(view), gpus, tenant_section(view), queue_section(view)])
