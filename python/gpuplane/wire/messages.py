"""Core values <-> ``gpuplane.v1`` messages, the same functions for the client and the daemon.

No checks here: the core checks every value it is given (and names the field); the daemon adds
only bounds on strings and lists (``daemon.convert``). Fields that travel as dicts (workloads
and tenants in the journal) have a ``*_fields`` reader and a ``*_to_pb`` writer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message

from gpuplane._core import ClusterStats, GpuStats, Placement, Totals, Workload
from gpuplane._proto.v1 import types_pb2 as pb

RESOURCE_NAMES = ("gpus", "memory_mib", "tokens_per_s", "concurrent")
M = TypeVar("M", bound=Message)


def workload_fields(m: pb.Workload) -> dict[str, Any]:
    """A workload message as a JSON-able dict (unset optional fields take their defaults)."""
    return {
        "id": m.id,
        "tenant": m.tenant or "default",
        "memory_mib": m.memory_mib,
        "gpu_count": m.gpu_count,
        "compute_milli": m.compute_milli,
        "cpu_milli": m.cpu_milli,
        "host_memory_mib": m.host_memory_mib,
        "allowed_models": list(m.allowed_models),
        "node_selector": dict(m.node_selector),
        "priority": m.priority,
        "preemptible": m.preemptible if m.HasField("preemptible") else True,
        "priority_class": m.priority_class or None,
    }


def workload_from_fields(d: Mapping[str, Any]) -> Workload:
    """The core workload of a dict made by :func:`workload_fields`."""
    return Workload(
        d["id"],
        d["memory_mib"],
        d["gpu_count"],
        tenant=d["tenant"],
        compute_milli=d["compute_milli"],
        cpu_milli=d["cpu_milli"],
        host_memory_mib=d["host_memory_mib"],
        allowed_models=d["allowed_models"],
        node_selector=d["node_selector"] or None,
        priority=d["priority"],
        preemptible=d["preemptible"],
        priority_class=d.get("priority_class"),
    )


def workload_from_pb(m: pb.Workload) -> Workload:
    """A workload message as a core workload."""
    return workload_from_fields(workload_fields(m))


def message_of(cls: type[M], value: Any, **overrides: Any) -> M:
    """A ``cls`` message of ``value``'s attributes named like its fields (``overrides`` replace
    some, by name)."""
    names = (f.name for f in cls.DESCRIPTOR.fields if f.name not in overrides)
    return cls(**{name: getattr(value, name) for name in names}, **overrides)


def workload_to_pb(w: Workload) -> pb.Workload:
    """A core workload as a message."""
    return message_of(pb.Workload, w, priority_class=w.priority_class or "")


def placement_to_pb(p: Placement) -> pb.Placement:
    """A core placement as a message (an infinite score travels as 0)."""
    return message_of(pb.Placement, p, score=p.score if math.isfinite(p.score) else 0.0)


def placement_from_pb(m: pb.Placement) -> Placement:
    """A placement message as the core's ``Placement``."""
    return Placement(
        m.workload_id, m.node, m.gpu_ids, m.memory_mib, m.compute_milli, m.policy, m.score, m.reason, m.tenant
    )


def plan_to_pb(plan: Any) -> pb.PreemptionPlan:
    """A preemption plan (the core's or the client's) as a message."""
    return pb.PreemptionPlan(
        workload=workload_to_pb(plan.workload),
        node=plan.node,
        victims=plan.victims,
        evicted_memory_mib=plan.evicted_memory_mib,
        reason=plan.reason,
    )


def totals_to_pb(t: Totals) -> pb.Totals:
    """Core totals as a message."""
    return message_of(pb.Totals, t)


def gpu_to_pb(g: GpuStats) -> pb.GpuStats:
    """One GPU's stats as a message."""
    return message_of(pb.GpuStats, g)


def stats_to_pb(s: ClusterStats, include_gpus: bool) -> pb.ClusterStats:
    """Cluster stats as a message (per-GPU rows only when asked)."""
    return pb.ClusterStats(
        nodes=s.nodes,
        workloads=s.workloads,
        totals=totals_to_pb(s.totals),
        allocation_ratio=s.allocation_ratio,
        memory_allocation_ratio=s.memory_allocation_ratio,
        compute_allocation_ratio=s.compute_allocation_ratio,
        fragmentation_gpus=s.fragmentation_gpus,
        fragmentation_ratio=s.fragmentation_ratio,
        gpus=[gpu_to_pb(g) for g in s.gpus] if include_gpus else [],
    )


def scalar_fields(m: Any) -> dict[str, Any]:
    """Every scalar field of a message by name (defaults included)."""
    return {f.name: getattr(m, f.name) for f in m.DESCRIPTOR.fields}


def resources_to_pb(d: Mapping[str, float] | None) -> pb.Resources:
    """Policy resources as a message."""
    return pb.Resources(**(d or {}))


def quota_fields(m: pb.Quota) -> dict[str, Any]:
    """A quota message as a dict; a limit not set is None (no cap), weight 0 is the default 1."""
    return {
        "guaranteed": scalar_fields(m.guaranteed),
        "deserved": scalar_fields(m.deserved),
        "limit": {k: getattr(m.limit, k) if m.limit.HasField(k) else None for k in RESOURCE_NAMES},
        "over_quota_priority": m.over_quota_priority,
        "over_quota_weight": m.over_quota_weight or 1.0,
    }


def quota_to_pb(d: Mapping[str, Any]) -> pb.Quota:
    """A quota dict (as :func:`quota_fields` makes) as a message."""
    return pb.Quota(
        guaranteed=resources_to_pb(d["guaranteed"]),
        deserved=resources_to_pb(d["deserved"]),
        limit=pb.Limits(**{k: v for k, v in d["limit"].items() if v is not None}),
        over_quota_priority=d["over_quota_priority"],
        over_quota_weight=d["over_quota_weight"],
    )


def tenant_fields(m: pb.Tenant) -> dict[str, Any]:
    """A tenant message as a dict (optional fields not set are None)."""
    return {
        "name": m.name,
        "parent": m.parent or None,
        "quota": quota_fields(m.quota),
        "max_queued": m.max_queued if m.HasField("max_queued") else None,
        "budget": m.budget if m.HasField("budget") else None,
        "burst_tokens": m.burst_tokens if m.HasField("burst_tokens") else None,
    }


def tenant_to_pb(d: Mapping[str, Any]) -> pb.Tenant:
    """A tenant dict as a message."""
    msg = pb.Tenant(name=d["name"], parent=d["parent"] or "", quota=quota_to_pb(d["quota"]))
    for key in ("max_queued", "budget", "burst_tokens"):
        if d.get(key) is not None:
            setattr(msg, key, d[key])
    return msg


def class_to_pb(d: Mapping[str, Any]) -> pb.PriorityClass:
    """A priority class dict as a message."""
    return pb.PriorityClass(name=d["name"], value=d["value"], preemptible=d["preemptible"])
