"""Frozen values returned by :class:`gpuplane.Client`.

Inputs are the core's own classes where they can be built (``gpuplane.Workload``); results
mirror the core's result classes field for field (``Placement``, ``PreemptionPlan``,
``ClusterStats``), plus what only the service knows (the tenant of a placement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpuplane._core import Workload
from gpuplane._proto.v1 import admin_pb2 as am
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane._proto.v1 import types_pb2 as pb


@dataclass(frozen=True)
class Placement:
    """Where a workload was placed and why (the fields of ``gpuplane.Placement``, plus tenant)."""

    workload_id: str
    node: str
    gpu_ids: tuple[str, ...]
    memory_mib: int
    compute_milli: int
    policy: str
    score: float
    reason: str
    tenant: str = ""

    @classmethod
    def from_pb(cls, m: pb.Placement) -> Placement:
        """From its message."""
        return cls(
            m.workload_id,
            m.node,
            tuple(m.gpu_ids),
            m.memory_mib,
            m.compute_milli,
            m.policy,
            m.score,
            m.reason,
            m.tenant,
        )


@dataclass(frozen=True)
class PlaceOutcome:
    """One entry of ``place_batch``: the placement, or the code and reason it was refused."""

    workload_id: str
    placement: Placement | None
    code: str = ""
    reason: str = ""

    @property
    def placed(self) -> bool:
        """Whether it was placed."""
        return self.placement is not None


@dataclass(frozen=True)
class ColumnsOutcome:
    """The answer to ``Client.place_columns``: entry i answers ``ids[i]``."""

    ids: tuple[str, ...]
    placed: tuple[bool, ...]
    node: tuple[str, ...]  # "" where not placed
    gpu_ids: tuple[tuple[str, ...], ...]  # () where not placed

    @property
    def count(self) -> int:
        """How many were placed."""
        return sum(self.placed)

    @classmethod
    def from_pb(cls, ids: Sequence[str], counts: Sequence[int], m: pp.PlaceColumnsResponse) -> ColumnsOutcome:
        """From the response; ``counts`` (the request's gpu_count) splits the flat GPU list."""
        gpus, at = [], 0
        for ok, n in zip(m.placed, counts, strict=True):
            gpus.append(tuple(m.gpu_ids[at : at + n]) if ok else ())
            at += n if ok else 0
        return cls(tuple(ids), tuple(m.placed), tuple(m.node), tuple(gpus))


@dataclass(frozen=True)
class PreemptionPlan:
    """Evict ``victims`` from ``node`` so that ``workload`` fits there."""

    workload: Workload
    node: str
    victims: tuple[str, ...]
    evicted_memory_mib: int
    reason: str

    @classmethod
    def from_pb(cls, m: pb.PreemptionPlan) -> PreemptionPlan:
        """From its message."""
        return cls(workload_from_pb(m.workload), m.node, tuple(m.victims), m.evicted_memory_mib, m.reason)


@dataclass(frozen=True)
class GpuStats:
    """One GPU's capacity and usage (the fields of ``gpuplane.GpuStats``)."""

    id: str
    node: str
    model: str
    healthy: bool
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    memory_free_mib: int
    compute_total_milli: int
    compute_used_milli: int
    compute_free_milli: int
    workloads: int


@dataclass(frozen=True)
class Totals:
    """Capacity and usage summed over GPUs (the fields of ``gpuplane.Totals``)."""

    gpus: int
    healthy_gpus: int
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    memory_free_mib: int
    compute_total_milli: int
    compute_used_milli: int
    compute_free_milli: int


@dataclass(frozen=True)
class ClusterView:
    """What ``GetCluster`` returns: stats, GPUs, placements, policy and inventory source."""

    nodes: int
    workloads: int
    totals: Totals
    allocation_ratio: float
    memory_allocation_ratio: float
    compute_allocation_ratio: float
    fragmentation_gpus: float
    fragmentation_ratio: float
    gpus: tuple[GpuStats, ...]
    placements: tuple[Placement, ...]
    policy: str
    inventory_source: str

    @classmethod
    def from_pb(cls, m: pp.GetClusterResponse) -> ClusterView:
        """From its message."""
        s = m.stats
        return cls(
            s.nodes,
            s.workloads,
            Totals(**_fields(s.totals)),
            s.allocation_ratio,
            s.memory_allocation_ratio,
            s.compute_allocation_ratio,
            s.fragmentation_gpus,
            s.fragmentation_ratio,
            tuple(GpuStats(**_fields(g)) for g in s.gpus),
            tuple(Placement.from_pb(p) for p in m.placements),
            m.policy,
            m.inventory_source,
        )


@dataclass(frozen=True)
class Event:
    """One acknowledged change from ``watch``."""

    seq: int
    kind: str
    workload_id: str
    node: str
    gpu_ids: tuple[str, ...]
    tenant: str
    detail: str

    @classmethod
    def from_pb(cls, m: pp.Event) -> Event:
        """From its message."""
        kind = pp.EventKind.Name(m.kind).removeprefix("EVENT_KIND_").lower()
        return cls(m.seq, kind, m.workload_id, m.node, tuple(m.gpu_ids), m.tenant, m.detail)


@dataclass(frozen=True)
class Decision:
    """An admission decision: ``admit``, ``queue`` or ``reject``, with its reason."""

    verdict: str
    reason_code: str
    reason: str
    at: float

    @classmethod
    def from_pb(cls, m: ap.AdmitResponse) -> Decision:
        """From its message."""
        verdict = ap.Verdict.Name(m.verdict).removeprefix("VERDICT_").lower()
        return cls(verdict, m.reason_code, m.reason, m.at)


@dataclass(frozen=True)
class Route:
    """The replica chosen for a request."""

    replica_id: str
    address: str
    score: float
    reason: str
    prefix_blocks: int


@dataclass(frozen=True)
class ReplicaView:
    """A registered replica and its last reported load."""

    id: str
    address: str
    model: str
    tenant: str
    waiting: int
    running: int
    kv_usage: float
    routed: int = 0

    @classmethod
    def from_pb(cls, m: ap.ReplicaStatus) -> ReplicaView:
        """From its message."""
        r, load = m.replica, m.load
        return cls(r.id, r.address, r.model, r.tenant, load.waiting, load.running, load.kv_usage, m.routed)


@dataclass(frozen=True)
class Quota:
    """A tenant's quota per resource (``gpus``, ``memory_mib``, ``tokens_per_s``, ``concurrent``)."""

    guaranteed: dict[str, float] = field(default_factory=dict)
    deserved: dict[str, float] = field(default_factory=dict)
    limit: dict[str, float] = field(default_factory=dict)
    over_quota_priority: int = 0
    over_quota_weight: float = 1.0

    def to_pb(self) -> pb.Quota:
        """As a message."""
        return pb.Quota(
            guaranteed=pb.Resources(**self.guaranteed),
            deserved=pb.Resources(**self.deserved),
            limit=pb.Limits(**self.limit),
            over_quota_priority=self.over_quota_priority,
            over_quota_weight=self.over_quota_weight,
        )

    @classmethod
    def from_pb(cls, m: pb.Quota) -> Quota:
        """From its message (limits that are not set are absent)."""
        limit = {
            k: getattr(m.limit, k)
            for k in ("gpus", "memory_mib", "tokens_per_s", "concurrent")
            if m.limit.HasField(k)
        }
        return cls(
            _fields(m.guaranteed), _fields(m.deserved), limit, m.over_quota_priority, m.over_quota_weight
        )


@dataclass(frozen=True)
class TenantStatus:
    """A tenant, its quota and what it holds."""

    name: str
    parent: str | None
    quota: Quota
    placed_workloads: int
    placed_gpus: int
    admitted: int
    queued: int
    usage: dict[str, float]
    allocated: dict[str, float] = field(default_factory=dict)
    fair_share: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_pb(cls, m: am.TenantStatus) -> TenantStatus:
        """From its message."""
        t = m.tenant
        return cls(
            t.name,
            t.parent or None,
            Quota.from_pb(t.quota),
            m.placed_workloads,
            m.placed_gpus,
            m.admitted,
            m.queued,
            _fields(m.usage),
            _fields(m.allocated),
            _fields(m.fair_share),
        )


def workload_from_pb(m: pb.Workload) -> Workload:
    """A message as a core workload."""
    return Workload(
        m.id,
        m.memory_mib,
        m.gpu_count,
        tenant=m.tenant or "default",
        compute_milli=m.compute_milli,
        cpu_milli=m.cpu_milli,
        host_memory_mib=m.host_memory_mib,
        allowed_models=list(m.allowed_models),
        node_selector=dict(m.node_selector),
        priority=m.priority,
        preemptible=m.preemptible if m.HasField("preemptible") else True,
    )


def _fields(m: Any) -> dict[str, Any]:
    """Every scalar field of a message by name (defaults included)."""
    return {f.name: getattr(m, f.name) for f in m.DESCRIPTOR.fields}
