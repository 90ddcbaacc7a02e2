"""Protobuf <-> core conversion with request validation.

Requests become plain dicts (the journal stores them as JSON and replays them through the same
``*_from_dict`` functions), then core values. Every check names the field it refuses, as the
core does: ``workload.gpu_count: must be >= 1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gpuplane import _core
from gpuplane._core import ClusterStats, GpuStats, Placement, PreemptionPlan, Totals, Workload
from gpuplane._proto.v1 import types_pb2 as pb
from gpuplane.errors import InvalidRequest

MAX_ID_LEN = _core.MAX_ID_BYTES
MAX_NAME_LEN = _core.MAX_NAME_BYTES
MAX_LIST = 64
MAX_GPU_MEMORY_MIB = 1 << 24  # 16 TiB per GPU: anything above is not a GPU
MAX_GPU_COUNT = 1024
MAX_COMPUTE_MILLI = 1000
MAX_CPU_MILLI = 100_000_000
MAX_HOST_MEMORY_MIB = 1 << 32
MAX_AMOUNT = 1e15
RESOURCE_NAMES = ("gpus", "memory_mib", "tokens_per_s", "concurrent")


def invalid(field: str, message: str) -> InvalidRequest:
    """An ``InvalidRequest`` naming ``field``."""
    return InvalidRequest(f"{field}: {message}", field=field)


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Re-raises the core's ``InvalidRequest`` on ``memory_mib`` as one on ``prefix.memory_mib``."""
    try:
        yield
    except InvalidRequest as e:
        if not e.field or e.field.startswith(prefix):
            raise
        field = f"{prefix}.{e.field}"
        raise InvalidRequest(f"{field}: {e}", field=field, reason=e.reason) from e


def text(value: str, field: str, *, required: bool = True, limit: int = MAX_NAME_LEN) -> str:
    """A name or id by the core's grammar (``gpuplane.check_name``) of at most ``limit``
    bytes; empty only when not ``required``."""
    if required and not value:
        raise invalid(field, "is required")
    if value:
        _core.check_name(field, value, limit)
    return value


def bounded(value: int, field: str, low: int, high: int) -> int:
    """An integer in ``low..=high``."""
    if not low <= value <= high:
        raise invalid(field, f"must be in {low}..{high}, got {value}")
    return value


def amount(value: float, field: str) -> float:
    """A finite, non-negative, not absurd amount."""
    if not math.isfinite(value) or value < 0 or value > MAX_AMOUNT:
        raise invalid(field, f"must be finite and in 0..{MAX_AMOUNT:g}, got {value}")
    return value


def strings(values: Any, field: str) -> list[str]:
    """A bounded list of bounded, non-empty strings."""
    if len(values) > MAX_LIST:
        raise invalid(field, f"has {len(values)} entries, at most {MAX_LIST} allowed")
    return [text(v, f"{field}[{i}]") for i, v in enumerate(values)]


def workload_dict(msg: pb.Workload, field: str = "workload") -> dict[str, Any]:
    """A validated workload as a JSON-able dict."""
    selector = dict(msg.node_selector)
    if len(selector) > MAX_LIST:
        raise invalid(f"{field}.node_selector", f"has {len(selector)} entries, at most {MAX_LIST}")
    for k, v in selector.items():
        text(k, f"{field}.node_selector key")
        text(v, f"{field}.node_selector[{k}]", required=False)
    return {
        "id": text(msg.id, f"{field}.id", limit=MAX_ID_LEN),
        "tenant": text(msg.tenant or "default", f"{field}.tenant"),
        "memory_mib": bounded(msg.memory_mib, f"{field}.memory_mib", 0, MAX_GPU_MEMORY_MIB),
        "gpu_count": bounded(msg.gpu_count, f"{field}.gpu_count", 1, MAX_GPU_COUNT),
        "compute_milli": bounded(msg.compute_milli, f"{field}.compute_milli", 0, MAX_COMPUTE_MILLI),
        "cpu_milli": bounded(msg.cpu_milli, f"{field}.cpu_milli", 0, MAX_CPU_MILLI),
        "host_memory_mib": bounded(msg.host_memory_mib, f"{field}.host_memory_mib", 0, MAX_HOST_MEMORY_MIB),
        "allowed_models": strings(msg.allowed_models, f"{field}.allowed_models"),
        "node_selector": selector,
        "priority": msg.priority,
        "preemptible": msg.preemptible if msg.HasField("preemptible") else True,
    }


def workload_from_dict(d: dict[str, Any]) -> Workload:
    """The core workload of a dict made by ``workload_dict``."""
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
    )


def workload_to_pb(w: Workload) -> pb.Workload:
    """A core workload as a message."""
    return pb.Workload(
        id=w.id,
        tenant=w.tenant,
        memory_mib=w.memory_mib,
        gpu_count=w.gpu_count,
        compute_milli=w.compute_milli,
        cpu_milli=w.cpu_milli,
        host_memory_mib=w.host_memory_mib,
        allowed_models=w.allowed_models,
        node_selector=w.node_selector,
        priority=w.priority,
        preemptible=w.preemptible,
    )


def placement_to_pb(p: Placement, tenant: str = "") -> pb.Placement:
    """A core placement as a message."""
    return pb.Placement(
        workload_id=p.workload_id,
        node=p.node,
        gpu_ids=p.gpu_ids,
        memory_mib=p.memory_mib,
        compute_milli=p.compute_milli,
        policy=p.policy,
        score=p.score if math.isfinite(p.score) else 0.0,
        reason=p.reason,
        tenant=tenant,
    )


def plan_to_pb(plan: PreemptionPlan) -> pb.PreemptionPlan:
    """A core preemption plan as a message."""
    return pb.PreemptionPlan(
        workload=workload_to_pb(plan.workload),
        node=plan.node,
        victims=plan.victims,
        evicted_memory_mib=plan.evicted_memory_mib,
        reason=plan.reason,
    )


def plan_dict(msg: pb.PreemptionPlan) -> dict[str, Any]:
    """A validated plan as a dict: the workload, the node and the victims it promised."""
    if not msg.HasField("workload"):
        raise invalid("plan.workload", "is required")
    return {
        "workload": workload_dict(msg.workload, "plan.workload"),
        "node": text(msg.node, "plan.node"),
        "victims": [text(v, f"plan.victims[{i}]", limit=MAX_ID_LEN) for i, v in enumerate(msg.victims)],
    }


def totals_to_pb(t: Totals) -> pb.Totals:
    """Core totals as a message."""
    return pb.Totals(
        gpus=t.gpus,
        healthy_gpus=t.healthy_gpus,
        memory_total_mib=t.memory_total_mib,
        memory_used_mib=t.memory_used_mib,
        memory_external_mib=t.memory_external_mib,
        memory_free_mib=t.memory_free_mib,
        compute_total_milli=t.compute_total_milli,
        compute_used_milli=t.compute_used_milli,
        compute_free_milli=t.compute_free_milli,
    )


def gpu_to_pb(g: GpuStats) -> pb.GpuStats:
    """One GPU's stats as a message."""
    return pb.GpuStats(
        id=g.id,
        node=g.node,
        model=g.model,
        healthy=g.healthy,
        memory_total_mib=g.memory_total_mib,
        memory_used_mib=g.memory_used_mib,
        memory_external_mib=g.memory_external_mib,
        memory_free_mib=g.memory_free_mib,
        compute_total_milli=g.compute_total_milli,
        compute_used_milli=g.compute_used_milli,
        compute_free_milli=g.compute_free_milli,
        workloads=g.workloads,
    )


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


def resources_dict(msg: pb.Resources, field: str) -> dict[str, float]:
    """The four policy resources, each finite and >= 0."""
    return {name: amount(getattr(msg, name), f"{field}.{name}") for name in RESOURCE_NAMES}


def resources_to_pb(d: dict[str, float] | None) -> pb.Resources:
    """Policy resources as a message."""
    return pb.Resources(**(d or {}))


def limits_dict(msg: pb.Limits, field: str) -> dict[str, float | None]:
    """Optional hard caps: a missing field is no cap."""
    return {
        name: amount(getattr(msg, name), f"{field}.{name}") if msg.HasField(name) else None
        for name in RESOURCE_NAMES
    }


def quota_dict(msg: pb.Quota, field: str = "quota") -> dict[str, Any]:
    """A validated quota (weight 0 means the default 1)."""
    weight = msg.over_quota_weight or 1.0
    return {
        "guaranteed": resources_dict(msg.guaranteed, f"{field}.guaranteed"),
        "deserved": resources_dict(msg.deserved, f"{field}.deserved"),
        "limit": limits_dict(msg.limit, f"{field}.limit"),
        "over_quota_priority": msg.over_quota_priority,
        "over_quota_weight": amount(weight, f"{field}.over_quota_weight"),
    }


def quota_to_pb(d: dict[str, Any]) -> pb.Quota:
    """A quota dict as a message."""
    return pb.Quota(
        guaranteed=resources_to_pb(d["guaranteed"]),
        deserved=resources_to_pb(d["deserved"]),
        limit=pb.Limits(**{k: v for k, v in d["limit"].items() if v is not None}),
        over_quota_priority=d["over_quota_priority"],
        over_quota_weight=d["over_quota_weight"],
    )


def tenant_dict(msg: pb.Tenant, field: str = "tenant") -> dict[str, Any]:
    """A validated tenant spec as a dict."""
    return {
        "name": text(msg.name, f"{field}.name"),
        "parent": text(msg.parent, f"{field}.parent", required=False) or None,
        "quota": quota_dict(msg.quota, f"{field}.quota"),
        "max_queued": msg.max_queued if msg.HasField("max_queued") else None,
        "budget": amount(msg.budget, f"{field}.budget") if msg.HasField("budget") else None,
        "burst_tokens": amount(msg.burst_tokens, f"{field}.burst_tokens")
        if msg.HasField("burst_tokens")
        else None,
    }


def tenant_to_pb(d: dict[str, Any]) -> pb.Tenant:
    """A tenant dict as a message."""
    msg = pb.Tenant(name=d["name"], parent=d["parent"] or "", quota=quota_to_pb(d["quota"]))
    for key in ("max_queued", "budget", "burst_tokens"):
        if d.get(key) is not None:
            setattr(msg, key, d[key])
    return msg


def class_dict(msg: pb.PriorityClass, field: str = "priority_class") -> dict[str, Any]:
    """A validated priority class as a dict."""
    return {"name": text(msg.name, f"{field}.name"), "value": msg.value, "preemptible": msg.preemptible}


def class_to_pb(d: dict[str, Any]) -> pb.PriorityClass:
    """A priority class dict as a message."""
    return pb.PriorityClass(name=d["name"], value=d["value"], preemptible=d["preemptible"])


def gpu_spec_dict(msg: pb.GpuSpec, node: str, index: int, field: str) -> dict[str, Any]:
    """A validated GPU of a node (id defaults to ``node/index``)."""
    return {
        "id": text(msg.id or f"{node}/{index}", f"{field}.id", limit=MAX_ID_LEN),
        "model": text(msg.model, f"{field}.model"),
        "memory_mib": bounded(msg.memory_mib, f"{field}.memory_mib", 1, MAX_GPU_MEMORY_MIB),
        "compute_milli": bounded(msg.compute_milli or 1000, f"{field}.compute_milli", 1, MAX_COMPUTE_MILLI),
        "topology_group": msg.topology_group or None,
    }


def node_dict(msg: pb.Node, field: str = "node") -> dict[str, Any]:
    """A validated node with its GPUs."""
    name = text(msg.name, f"{field}.name")
    if len(msg.gpus) > MAX_GPU_COUNT:
        raise invalid(f"{field}.gpus", f"has {len(msg.gpus)} entries, at most {MAX_GPU_COUNT}")
    return {
        "name": name,
        "gpus": [gpu_spec_dict(g, name, i, f"{field}.gpus[{i}]") for i, g in enumerate(msg.gpus)],
        "cpu_milli": msg.cpu_milli or None,
        "memory_mib": msg.memory_mib or None,
        "labels": dict(msg.labels),
    }
