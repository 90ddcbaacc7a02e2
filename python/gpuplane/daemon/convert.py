"""Requests in: protobuf messages as the JSON-able dicts the journal stores and replays.

The core checks every amount and names the field it refuses (``workload.gpu_count: 9 GPUs
requested but the largest node has 8``); this module bounds only what the core does not: the
length of strings and lists in a request. The conversions themselves (both directions, shared
with the client) are ``gpuplane.wire.messages``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gpuplane import _core
from gpuplane._proto.v1 import types_pb2 as pb
from gpuplane.errors import InvalidRequest
from gpuplane.wire.messages import (
    class_to_pb,
    placement_to_pb,
    plan_to_pb,
    quota_fields,
    resources_to_pb,
    stats_to_pb,
    tenant_fields,
    tenant_to_pb,
    workload_fields,
    workload_from_fields,
)

__all__ = [
    "class_to_pb",
    "placement_to_pb",
    "plan_to_pb",
    "resources_to_pb",
    "stats_to_pb",
    "tenant_to_pb",
    "workload_from_dict",
]

MAX_ID_LEN = _core.MAX_ID_BYTES
MAX_NAME_LEN = _core.MAX_NAME_BYTES
MAX_LIST = 64
MAX_NODE_GPUS = 1024  # a bound on the message; the core's per-node limit is lower
workload_from_dict = workload_from_fields


def invalid(field: str, message: str) -> InvalidRequest:
    """An ``InvalidRequest`` naming ``field``."""
    return InvalidRequest(f"{field}: {message}", field=field)


def required(msg: Any, field: str) -> Any:
    """``msg``'s sub-message ``field``; INVALID_ARGUMENT naming it when it is not set."""
    if not msg.HasField(field):
        raise invalid(field, "is required")
    return getattr(msg, field)


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Re-raises the core's ``InvalidRequest`` on ``memory_mib`` as one on ``prefix.memory_mib``."""
    try:
        yield
    except InvalidRequest as e:
        if not e.field or e.field.startswith(prefix):
            raise
        field = f"{prefix}.{e.field}"
        raise InvalidRequest(f"{field}: {e.reason or e}", field=field, reason=e.reason) from e


def text(value: str, field: str, *, required: bool = True, limit: int = MAX_NAME_LEN) -> str:
    """A name or id by the core's grammar (``gpuplane.check_name``) of at most ``limit``
    bytes; empty only when not ``required``."""
    if required and not value:
        raise invalid(field, "is required")
    if value:
        _core.check_name(field, value, limit)
    return value


def strings(values: Any, field: str) -> list[str]:
    """A bounded list of bounded, non-empty strings."""
    if len(values) > MAX_LIST:
        raise invalid(field, f"has {len(values)} entries, at most {MAX_LIST} allowed")
    return [text(v, f"{field}[{i}]") for i, v in enumerate(values)]


def workload_dict(msg: pb.Workload, field: str = "workload") -> dict[str, Any]:
    """A workload with its strings and lists bounded, as a JSON-able dict."""
    selector = dict(msg.node_selector)
    if len(selector) > MAX_LIST:
        raise invalid(f"{field}.node_selector", f"has {len(selector)} entries, at most {MAX_LIST}")
    for k, v in selector.items():
        text(k, f"{field}.node_selector key")
        text(v, f"{field}.node_selector[{k}]", required=False)
    text(msg.id, f"{field}.id", limit=MAX_ID_LEN)
    text(msg.tenant, f"{field}.tenant", required=False)
    text(msg.priority_class, f"{field}.priority_class", required=False)
    strings(msg.allowed_models, f"{field}.allowed_models")
    return workload_fields(msg)


def plan_dict(msg: pb.PreemptionPlan) -> dict[str, Any]:
    """A plan as a dict: the workload, the node and the victims it promised."""
    if not msg.HasField("workload"):
        raise invalid("plan.workload", "is required")
    return {
        "workload": workload_dict(msg.workload, "plan.workload"),
        "node": text(msg.node, "plan.node"),
        "victims": [text(v, f"plan.victims[{i}]", limit=MAX_ID_LEN) for i, v in enumerate(msg.victims)],
    }


def quota_dict(msg: pb.Quota) -> dict[str, Any]:
    """A quota as a dict (the core checks its amounts)."""
    return quota_fields(msg)


def tenant_dict(msg: pb.Tenant, field: str = "tenant") -> dict[str, Any]:
    """A tenant spec with its names bounded, as a dict (the core checks its amounts)."""
    text(msg.name, f"{field}.name")
    text(msg.parent, f"{field}.parent", required=False)
    return tenant_fields(msg)


def class_dict(msg: pb.PriorityClass, field: str = "priority_class") -> dict[str, Any]:
    """A priority class with its name bounded, as a dict."""
    return {"name": text(msg.name, f"{field}.name"), "value": msg.value, "preemptible": msg.preemptible}


def gpu_spec_dict(msg: pb.GpuSpec, node: str, index: int, field: str) -> dict[str, Any]:
    """A GPU of a node (id defaults to ``node/index``, compute to a whole GPU)."""
    return {
        "id": text(msg.id or f"{node}/{index}", f"{field}.id", limit=MAX_ID_LEN),
        "model": text(msg.model, f"{field}.model"),
        "memory_mib": msg.memory_mib,
        "compute_milli": msg.compute_milli or 1000,
        "topology_group": msg.topology_group or None,
    }


def node_dict(msg: pb.Node, field: str = "node") -> dict[str, Any]:
    """A node with its GPUs."""
    name = text(msg.name, f"{field}.name")
    if len(msg.gpus) > MAX_NODE_GPUS:
        raise invalid(f"{field}.gpus", f"has {len(msg.gpus)} entries, at most {MAX_NODE_GPUS}")
    return {
        "name": name,
        "gpus": [gpu_spec_dict(g, name, i, f"{field}.gpus[{i}]") for i, g in enumerate(msg.gpus)],
        "cpu_milli": msg.cpu_milli or None,
        "memory_mib": msg.memory_mib or None,
        "labels": dict(msg.labels),
    }
