"""Frozen values returned by :class:`gpuplane.Client`.

Inputs and placements are the core's own classes (``gpuplane.Workload``, ``gpuplane.Placement``,
the same type the library returns); other results mirror the core's result classes field for
field (``PreemptionPlan``, ``ClusterStats``) or are what only the service knows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gpuplane._core import Placement, Workload
from gpuplane._proto.v1 import admin_pb2 as am
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane._proto.v1 import types_pb2 as pb
from gpuplane.wire.messages import (
    placement_from_pb,
    quota_fields,
    quota_to_pb,
    scalar_fields,
    workload_from_pb,
)


@dataclass(frozen=True)
class PlaceOutcome:
    """One entry of ``place_batch``: the placement, or the code and reason it was refused."""

    workload_id: str
    placement: Placement | None  # the core's value type, as the library returns it
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
            Totals(**scalar_fields(s.totals)),
            s.allocation_ratio,
            s.memory_allocation_ratio,
            s.compute_allocation_ratio,
            s.fragmentation_gpus,
            s.fragmentation_ratio,
            tuple(GpuStats(**scalar_fields(g)) for g in s.gpus),
            tuple(placement_from_pb(p) for p in m.placements),
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
    dispatch: int = 0  # the dispatch's number (a load report's ``reflects_dispatch``)

    @classmethod
    def from_pb(cls, m: Any) -> Route:
        """From its message."""
        return cls(m.replica_id, m.address, m.score, m.reason, m.prefix_blocks, m.dispatch)


@dataclass(frozen=True)
class RouteOutcome:
    """One route call of a stream message: the route, or the status code name and message it
    was refused with (what a unary ``route`` would have raised)."""

    route: Route | None
    code: str = ""
    reason: str = ""

    @property
    def routed(self) -> bool:
        """Whether it was routed."""
        return self.route is not None

    @classmethod
    def from_pb(cls, m: ap.RouteResult) -> RouteOutcome:
        """From its message."""
        if m.WhichOneof("result") == "route":
            return cls(Route.from_pb(m.route))
        return cls(None, m.error.code, m.error.message)


@dataclass(frozen=True)
class FinishOutcome:
    """One finish call of a stream message: the replica the request had been routed to, or the
    status code name and message it was refused with."""

    replica_id: str | None
    code: str = ""
    reason: str = ""

    @property
    def finished(self) -> bool:
        """Whether the request was tracked and is now finished."""
        return self.replica_id is not None

    @classmethod
    def from_pb(cls, m: ap.FinishRouteResult) -> FinishOutcome:
        """From its message."""
        if m.WhichOneof("result") == "finish":
            return cls(m.finish.replica_id)
        return cls(None, m.error.code, m.error.message)


@dataclass(frozen=True)
class RouteStreamResult:
    """The answer to one RouteStream message: one outcome per route and per finish, in order."""

    routes: tuple[RouteOutcome, ...]
    finishes: tuple[FinishOutcome, ...]

    @classmethod
    def from_pb(cls, m: ap.RouteStreamResponse) -> RouteStreamResult:
        """From its message."""
        routes = tuple(RouteOutcome.from_pb(r) for r in m.routes)
        return cls(routes, tuple(FinishOutcome.from_pb(f) for f in m.finishes))


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
    tenant_service: dict[str, float] = field(default_factory=dict)  # weighted tokens served
    tenant_waiting: dict[str, int] = field(default_factory=dict)  # requests waiting

    @classmethod
    def from_pb(cls, m: ap.ReplicaStatus) -> ReplicaView:
        """From its message."""
        r, load = m.replica, m.load
        return cls(
            r.id,
            r.address,
            r.model,
            r.tenant,
            load.waiting,
            load.running,
            load.kv_usage,
            m.routed,
            dict(load.tenant_service),
            dict(load.tenant_waiting),
        )


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
        return quota_to_pb(dataclasses.asdict(self))

    @classmethod
    def from_pb(cls, m: pb.Quota) -> Quota:
        """From its message (limits that are not set are absent)."""
        d = quota_fields(m)
        return cls(**{**d, "limit": {k: v for k, v in d["limit"].items() if v is not None}})


@dataclass(frozen=True)
class TenantStatus:
    """A tenant, its quota and its figures (``gpuplane.TenantFigures`` as the core computes them)."""

    name: str
    parent: str | None
    quota: Quota
    placed_workloads: int
    placed_gpus: int
    placed_memory_mib: int
    admitted: int
    queued: int
    allocated: dict[str, float]
    usage: dict[str, float]
    fair_share: dict[str, float]
    dominant_share: float

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
            m.placed_memory_mib,
            m.admitted,
            m.queued,
            scalar_fields(m.allocated),
            scalar_fields(m.usage),
            scalar_fields(m.fair_share),
            m.dominant_share,
        )
