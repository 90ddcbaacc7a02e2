"""What ``gpuplane status`` and the web page show, built from the service's answers.

Both read the same calls (``GetCluster``, ``ListTenants``, ``ListReplicas``) as the client's
values and turn them into one :class:`StatusView` here; the table renders it as text
(``commands/status_table.py``), the daemon's web page as JSON (``daemon/web``). Nothing here
decides: shares, fair shares and reasons are the core's, carried through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any

from gpuplane.client_values import ClusterView, GpuStats, Placement, ReplicaView, TenantStatus, Totals

RESOURCES = ("gpus", "memory_mib", "tokens_per_s", "concurrent")


@dataclass(frozen=True)
class Share:
    """One workload's part of one GPU."""

    workload: str
    tenant: str
    memory_mib: int
    compute_milli: int


@dataclass(frozen=True)
class GpuCell:
    """One GPU of the packing map: its figures (capacity, use, external use, health) and what
    is placed on it."""

    gpu: GpuStats
    shares: tuple[Share, ...]


@dataclass(frozen=True)
class NodeRow:
    """A node and its GPUs, in the service's order."""

    name: str
    gpus: tuple[GpuCell, ...]


@dataclass(frozen=True)
class ResourceRow:
    """A tenant's figures for one resource: what it holds against its quota and fair share."""

    resource: str
    held: float
    guaranteed: float
    deserved: float
    limit: float | None
    fair_share: float


@dataclass(frozen=True)
class TenantRow(TenantStatus):
    """A tenant's status (what it has placed, admitted and queued) with its resource rows."""

    resources: tuple[ResourceRow, ...]


@dataclass(frozen=True)
class ReplicaRow:
    """An engine replica's reported load (not its address) and its share of the requests
    routed so far."""

    id: str
    model: str
    tenant: str
    waiting: int
    running: int
    kv_usage: float
    routed: int
    routing_share: float


@dataclass(frozen=True)
class Summary(Totals):
    """Cluster totals and ratios."""

    nodes: int
    workloads: int
    allocation_ratio: float
    fragmentation_ratio: float


@dataclass(frozen=True)
class ClusterPart:
    """What ``GetCluster`` answered: policy, inventory source, totals and the packing map."""

    policy: str
    inventory_source: str
    summary: Summary
    nodes: tuple[NodeRow, ...]


@dataclass(frozen=True)
class StatusView:
    """The whole view; ``tenants`` / ``replicas`` are None when the caller may not list them."""

    server: str
    cluster: ClusterPart
    tenants: tuple[TenantRow, ...] | None
    replicas: tuple[ReplicaRow, ...] | None

    def to_dict(self) -> dict[str, Any]:
        """As plain data."""
        return asdict(self)


def _fields_of(value: Any) -> dict[str, Any]:
    if is_dataclass(value):
        return value.__dict__
    raise TypeError(f"{type(value).__name__} is not a view value")


def to_json(value: Any) -> str:
    """Compact JSON of view values (dataclasses, tuples, dicts), without copying them first."""
    return json.dumps(value, default=_fields_of, separators=(",", ":"))


def shares_by_gpu(placements: Sequence[Placement]) -> dict[str, list[Share]]:
    """Each GPU's shares (a placement holds ``memory_mib`` and ``compute_milli`` on each of its GPUs)."""
    out: dict[str, list[Share]] = {}
    for p in placements:
        share = Share(p.workload_id, p.tenant, p.memory_mib, p.compute_milli)
        for gpu in p.gpu_ids:
            out.setdefault(gpu, []).append(share)
    return out


def node_rows(cluster: ClusterView) -> tuple[NodeRow, ...]:
    """GPUs grouped by node, keeping the service's order."""
    shares = shares_by_gpu(cluster.placements)
    nodes: dict[str, list[GpuCell]] = {}
    for g in cluster.gpus:
        nodes.setdefault(g.node, []).append(GpuCell(g, tuple(shares.get(g.id, ()))))
    return tuple(NodeRow(name, tuple(gpus)) for name, gpus in nodes.items())


def resource_rows(t: TenantStatus) -> tuple[ResourceRow, ...]:
    """The resources a tenant has any figure for."""
    q = t.quota
    figures: list[Mapping[str, float]] = [t.allocated, q.guaranteed, q.deserved, q.limit, t.fair_share]
    return tuple(
        ResourceRow(
            r,
            t.allocated.get(r, 0.0),
            q.guaranteed.get(r, 0.0),
            q.deserved.get(r, 0.0),
            q.limit.get(r),
            t.fair_share.get(r, 0.0),
        )
        for r in RESOURCES
        if any(f.get(r) for f in figures)
    )


def tenant_rows(tenants: Sequence[TenantStatus]) -> tuple[TenantRow, ...]:
    """Tenants' rows."""
    return tuple(TenantRow(**_fields_of(t), resources=resource_rows(t)) for t in tenants)


def replica_rows(replicas: Sequence[ReplicaView]) -> tuple[ReplicaRow, ...]:
    """Replicas' rows, each with its share of the requests routed so far."""
    total = sum(r.routed for r in replicas) or 1
    return tuple(
        ReplicaRow(r.id, r.model, r.tenant, r.waiting, r.running, r.kv_usage, r.routed, r.routed / total)
        for r in replicas
    )


def summary_of(cluster: ClusterView) -> Summary:
    """The cluster's totals."""
    c = cluster
    ratios = {"allocation_ratio": c.allocation_ratio, "fragmentation_ratio": c.fragmentation_ratio}
    return Summary(**_fields_of(c.totals), nodes=c.nodes, workloads=c.workloads, **ratios)


def empty_cluster() -> ClusterPart:
    """The view of a service not read yet: no policy, no nodes, every total 0."""
    zeros = dict.fromkeys((f.name for f in fields(Summary)), 0)
    return ClusterPart("", "", Summary(**zeros), ())


def cluster_part(cluster: ClusterView) -> ClusterPart:
    """The view of a ``GetCluster`` answer."""
    return ClusterPart(cluster.policy, cluster.inventory_source, summary_of(cluster), node_rows(cluster))


def status_view(
    server: str,
    cluster: ClusterView | ClusterPart,
    tenants: Sequence[TenantStatus] | None,
    replicas: Sequence[ReplicaView] | None,
) -> StatusView:
    """The view of the service's answers (None: that call was refused to this caller)."""
    return StatusView(
        server,
        cluster if isinstance(cluster, ClusterPart) else cluster_part(cluster),
        None if tenants is None else tenant_rows(tenants),
        None if replicas is None else replica_rows(replicas),
    )
