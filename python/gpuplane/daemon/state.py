"""The daemon's state: the core ``Cluster`` with the core policy engine attached (so every
placement is admitted against its tenant's quotas, limits and classes, and preemption follows
the reclaim laws, exactly as in-process), the tenant registry and workload owners, changed only
through *operations*.

An operation is a JSON-able dict such as ``{"op": "place", "w": {...}}``. :meth:`State.apply`
applies one deterministically, or raises and changes nothing; the same function serves live
calls and journal replay, so recovery rebuilds exactly the acknowledged state. Time-dependent
operations carry their time (``now``) in the dict.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpuplane._core import Cluster, GpuSpec, Placement, PolicyConfig, TenantFigures
from gpuplane.daemon.convert import workload_from_dict
from gpuplane.daemon.policy import PolicyEngine
from gpuplane.daemon.registry import Registry
from gpuplane.errors import (
    CapacityError,
    Conflict,
    GpuplaneError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    SnapshotError,
    StalePlan,
)
from gpuplane.inventory import NodeInventory

SNAPSHOT_MAGIC = b"GPST1"
COLUMNS = ("compute_milli", "cpu_milli", "host_memory_mib", "priority", "allowed_models", "node_selector")


def op_time(op: dict[str, Any]) -> float:
    """The time an operation was stamped with (0, the engine's latest, for unstamped ones)."""
    return float(op.get("now", 0.0))


def workload_missing(workload_id: str) -> NotFound:
    """The NOT_FOUND of a workload that is not placed (or is not the caller's to see)."""
    return NotFound(f"workload {workload_id!r} is not placed")


def request_missing(request_id: str) -> NotFound:
    """The NOT_FOUND of a request that is not admitted or queued (or not the caller's)."""
    return NotFound(f"request {request_id!r} is not admitted or queued")


@dataclass(frozen=True)
class Event:
    """One acknowledged change, for ``WatchEvents``."""

    kind: str  # placed, released, preempted, drained, undrained, node_added, node_removed, displaced
    workload_id: str = ""
    node: str = ""
    gpu_ids: tuple[str, ...] = ()
    tenant: str = ""
    detail: str = ""


@dataclass
class Outcome:
    """What an operation returned and the events it caused."""

    value: Any = None
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class TenantView:
    """A tenant's spec and its figures from the core (for ``GetTenant`` and ``ListTenants``)."""

    spec: dict[str, Any]
    figures: TenantFigures


def node_op(node: NodeInventory) -> dict[str, Any]:
    """The ``add_node`` operation of a discovered node."""
    return {
        "op": "add_node",
        "name": node.name,
        "gpus": [
            {
                "id": g.id,
                "model": g.model,
                "memory_mib": g.memory_mib,
                "compute_milli": g.compute_milli,
                "topology_group": g.topology_group,
            }
            for g in node.gpus
        ],
        "cpu_milli": node.cpu_milli,
        "memory_mib": node.memory_mib,
        "labels": dict(node.labels),
    }


class State:
    """Everything the daemon decides with; mutate only through :meth:`apply`."""

    def __init__(self, policy: str = "fgd", seed: int = 0, *, min_runtime_s: float | None = None):
        self.cluster = Cluster(policy, seed)
        self.registry = Registry()
        self.owners: dict[str, tuple[str, int]] = {}  # workload id -> (tenant, gpu count)
        self.requests: dict[str, str] = {}  # admitted or queued request id -> tenant
        config = PolicyConfig() if min_runtime_s is None else PolicyConfig(min_runtime_s=min_runtime_s)
        self.policy = PolicyEngine.with_registry(self.registry, config)
        self._attach(0.0)
        self.watched: Callable[[], bool] = lambda: True  # whether anyone reads the events
        self._names: tuple[list[str | None], list[str | None]] | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Outcome]] = {
            "add_node": self._add_node,
            "remove_node": self._remove_node,
            "place": self._place,
            "place_batch": self._place_batch,
            "place_columns": self._place_columns,
            "release": self._release,
            "release_batch": self._release_batch,
            "preempt": self._preempt,
            "health": self._health,
            "external": self._external,
            "put_tenant": self._put_tenant,
            "delete_tenant": self._delete_tenant,
            "put_class": self._put_class,
            "delete_class": self._delete_class,
            "admit": self._admit,
            "finish": self._finish,
        }

    def _attach(self, now: float) -> None:
        """Makes the policy engine the cluster's: placements are admitted against quotas."""
        self.cluster.set_policy_engine(self.policy.engine, now=now)

    # ---- snapshots -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes: a JSON header, the cluster's and the policy's snapshots."""
        cluster = self.cluster.snapshot()
        policy = self.policy.snapshot()
        header = json.dumps(
            {
                "registry": self.registry.to_json(),
                "owners": self.owners,
                "requests": self.requests,
                "cluster_len": len(cluster),
                "policy_len": len(policy),
            }
        ).encode()
        return SNAPSHOT_MAGIC + struct.pack("<Q", len(header)) + header + cluster + policy

    def restore(self, data: bytes) -> None:
        """Replaces the state with a snapshot made by :meth:`snapshot`."""
        if not data.startswith(SNAPSHOT_MAGIC):
            raise SnapshotError("not a gpuplane daemon snapshot")
        at = len(SNAPSHOT_MAGIC)
        (size,) = struct.unpack_from("<Q", data, at)
        at += 8
        header = json.loads(data[at : at + size])
        at += size
        cluster = data[at : at + header["cluster_len"]]
        policy = data[at + header["cluster_len"] : at + header["cluster_len"] + header["policy_len"]]
        self.cluster = Cluster.restore(cluster)
        self._names = None
        self.registry = Registry.from_json(header["registry"])
        self.owners = {k: (v[0], v[1]) for k, v in header["owners"].items()}
        self.requests = dict(header.get("requests", {}))
        if policy:
            self.policy.restore(policy)
        else:
            self.policy.rebuild(self.registry)
        self._attach(self.policy.engine.now)

    # ---- the one entry point ---------------------------------------------------------------

    def apply(self, op: dict[str, Any]) -> Outcome:
        """Applies one operation, or raises (``GpuplaneError``) having changed nothing."""
        handler = self._handlers.get(op.get("op", ""))
        if handler is None:
            raise InvalidRequest(f"unknown operation {op.get('op')!r}", field="op")
        return handler(op)

    # ---- inventory -------------------------------------------------------------------------

    def _add_node(self, op: dict[str, Any]) -> Outcome:
        gpus = [
            GpuSpec(g["model"], g["memory_mib"], g["compute_milli"], g["topology_group"], id=g["id"])
            for g in op["gpus"]
        ]
        self.cluster.add_node(op["name"], gpus, op.get("cpu_milli"), op.get("memory_mib"), op.get("labels"))
        self._names = None
        self._sync_capacity()
        ids = tuple(g["id"] for g in op["gpus"])
        return Outcome(None, [Event("node_added", node=op["name"], gpu_ids=ids)])

    def _remove_node(self, op: dict[str, Any]) -> Outcome:
        displaced = self.cluster.remove_node(op["name"])
        self._names = None
        events = [Event("node_removed", node=op["name"]), *self._displace(displaced, op["name"])]
        self._sync_capacity()
        return Outcome(displaced, events)

    def _displace(self, ids: list[str], node: str) -> list[Event]:
        events = []
        for wid in ids:
            tenant, _ = self.owners.pop(wid, ("", 0))
            events.append(Event("displaced", workload_id=wid, node=node, tenant=tenant))
        return events

    def _sync_capacity(self) -> None:
        self.policy.set_capacity(self.cluster.stats().totals)

    def _health(self, op: dict[str, Any]) -> Outcome:
        known = set(self.cluster.gpu_ids())
        missing = [g for g in op["gpus"] if g not in known]
        if missing:
            raise NotFound(f"GPU {missing[0]!r} not found")
        displaced: list[str] = []
        for gpu in op["gpus"]:
            displaced += self.cluster.set_gpu_health(gpu, op["healthy"])
        kind = "undrained" if op["healthy"] else "drained"
        events = [Event(kind, gpu_ids=tuple(op["gpus"]), detail=op.get("reason", ""))]
        events += self._displace(displaced, "")
        return Outcome(displaced, events)

    def _external(self, op: dict[str, Any]) -> Outcome:
        known = set(self.cluster.gpu_ids())
        for gpu, mib in op["items"]:
            if gpu not in known:
                raise NotFound(f"GPU {gpu!r} not found")
            total = self._gpu_total(gpu)
            if mib > total:
                raise InvalidRequest(f"gpus[{gpu}].memory_external_mib: {mib} exceeds {total}", "memory_mib")
        for gpu, mib in op["items"]:
            self.cluster.set_external_usage(gpu, mib)
        return Outcome()

    def _gpu_total(self, gpu: str) -> int:
        for g in self.cluster.stats().gpus:
            if g.id == gpu:
                return g.memory_total_mib
        raise NotFound(f"GPU {gpu!r} not found")

    # ---- placement -------------------------------------------------------------------------

    def _placed(self, p: Placement, tenant: str, gpus: int) -> Event:
        self.owners[p.workload_id] = (tenant, gpus)
        return Event("placed", p.workload_id, p.node, tuple(p.gpu_ids), tenant, p.reason)

    def _place(self, op: dict[str, Any]) -> Outcome:
        w = op["w"]
        p = self.cluster.place(workload_from_dict(w), op.get("policy") or None, now=op_time(op))
        return Outcome(p, [self._placed(p, w["tenant"], w["gpu_count"])])

    def _place_batch(self, op: dict[str, Any]) -> Outcome:
        results: list[Placement | GpuplaneError] = []
        events = []
        for w in op["ws"]:
            try:
                p = self.cluster.place(workload_from_dict(w), op.get("policy") or None, now=op_time(op))
            except (CapacityError, Conflict, InvalidRequest, QuotaExceeded) as e:
                results.append(e)
                continue
            results.append(p)
            events.append(self._placed(p, w["tenant"], w["gpu_count"]))
        return Outcome(results, events)

    def _released(self, p: Placement) -> Event:
        tenant, _ = self.owners.pop(p.workload_id, ("", 0))
        return Event("released", p.workload_id, p.node, tuple(p.gpu_ids), tenant)

    def _release(self, op: dict[str, Any]) -> Outcome:
        p = self.cluster.release(op["id"], now=op_time(op))
        return Outcome(p, [self._released(p)])

    def _release_batch(self, op: dict[str, Any]) -> Outcome:
        if not self.watched():
            return self._release_many(op["ids"])
        released = []
        events = []
        for wid in op["ids"]:
            try:
                p = self.cluster.release(wid, now=op_time(op))
            except NotFound:
                released.append(False)
                continue
            released.append(True)
            events.append(self._released(p))
        return Outcome(released, events)

    def _release_many(self, ids: list[str]) -> Outcome:
        """The same releases in one core call, for when no one watches the events."""
        released = self.cluster.release_many(ids).tolist()
        owners = self.owners
        for wid in itertools.compress(ids, released):
            owners.pop(wid, None)
        return Outcome(released)

    def names(self) -> tuple[list[str | None], list[str | None]]:
        """Node names and GPU ids by index (as the core's bulk calls number them), cached."""
        if self._names is None:
            self._names = (self.cluster.node_names(), self.cluster.gpu_ids())
        return self._names

    def _place_columns(self, op: dict[str, Any]) -> Outcome:
        ids, tenant, counts = op["ids"], op["tenant"], op["gpu_count"]
        cols = {k: op.get(k) for k in COLUMNS}
        placed, node_index, gpu_index = self.cluster.place_many(
            ids,
            op["memory_mib"],
            counts,
            **cols,
            tenant=tenant,
            policy=op.get("policy") or None,
            now=op_time(op),
        )
        node_names, gpu_names = self.names()
        flags = placed.tolist()
        nodes = [node_names[n] if ok else "" for ok, n in zip(flags, node_index.tolist(), strict=True)]
        held = gpu_index[placed]
        gpus = [gpu_names[g] for g in held[held >= 0].tolist()]
        self.owners.update(
            (wid, (tenant, n)) for wid, n in itertools.compress(zip(ids, counts, strict=True), flags)
        )
        events = self._columns_events(ids, flags, nodes, gpus, counts, tenant) if self.watched() else []
        return Outcome((flags, nodes, gpus), events)

    @staticmethod
    def _columns_events(
        ids: list[str], flags: list[bool], nodes: list[str], gpus: list[str], counts: list[int], tenant: str
    ) -> list[Event]:
        events, at = [], 0
        for wid, ok, node, n in zip(ids, flags, nodes, counts, strict=True):
            if ok:
                events.append(Event("placed", wid, node, tuple(gpus[at : at + n]), tenant))
                at += n
        return events

    def _preempt(self, op: dict[str, Any]) -> Outcome:
        w = op["w"]
        plan = self.cluster.preemption_plan(workload_from_dict(w), now=op_time(op))
        if plan is None or plan.node != op["node"] or sorted(plan.victims) != sorted(op["victims"]):
            raise StalePlan("the cluster changed since this plan was made; ask for a new plan")
        try:
            p = self.cluster.preempt(plan, now=op_time(op))
        except Conflict as e:
            raise StalePlan(str(e)) from e
        events = self._displace(list(plan.victims), plan.node)
        events = [Event("preempted", e.workload_id, e.node, (), e.tenant, f"for {w['id']}") for e in events]
        events.append(self._placed(p, w["tenant"], w["gpu_count"]))
        return Outcome((p, list(plan.victims)), events)

    # ---- tenants and classes ---------------------------------------------------------------

    def _put_tenant(self, op: dict[str, Any]) -> Outcome:
        spec = op["tenant"]
        created = self.registry.check_put(spec, op.get("create_only", False))
        self.policy.put_tenant(spec, created)
        self.registry.put(spec)
        return Outcome(created)

    def holds_work(self, tenant: str) -> bool:
        """Whether a tenant has placed workloads or admitted/queued requests (the core's figures)."""
        f = self.cluster.tenant_figure(tenant)
        return bool(f.placed_workloads or f.admitted or f.queued)

    def _delete_tenant(self, op: dict[str, Any]) -> Outcome:
        self.registry.check_delete(op["name"], self.holds_work(op["name"]))
        self.policy.delete_tenant(op["name"])
        self.registry.delete(op["name"])
        return Outcome()

    def _put_class(self, op: dict[str, Any]) -> Outcome:
        self.policy.put_class(op["class"])
        self.registry.classes[op["class"]["name"]] = op["class"]
        return Outcome()

    def _delete_class(self, op: dict[str, Any]) -> Outcome:
        self.registry.check_delete_class(op["name"])
        self.policy.delete_class(op["name"])
        del self.registry.classes[op["name"]]
        return Outcome()

    # ---- admission -------------------------------------------------------------------------

    def _admit(self, op: dict[str, Any]) -> Outcome:
        req = op["req"]
        decision = self.policy.admit(req, op["now"])
        if decision["verdict"] != "reject":
            self.requests[req["request_id"]] = req["tenant"]
        return Outcome(decision)

    def _finish(self, op: dict[str, Any]) -> Outcome:
        finished = self.policy.finish(op["id"], op["now"], op.get("more_calls", False))
        self.requests.pop(op["id"], None)
        return Outcome(finished)

    def request_owner(self, request_id: str) -> str:
        """The tenant of an admitted or queued request; ``NotFound`` otherwise."""
        if request_id not in self.requests:
            raise request_missing(request_id)
        return self.requests[request_id]

    # ---- views -----------------------------------------------------------------------------

    def owner(self, workload_id: str) -> str:
        """The tenant of a placed workload; ``NotFound`` if it is not placed."""
        if workload_id not in self.owners:
            raise workload_missing(workload_id)
        return self.owners[workload_id][0]

    def tenant_figures(self, now: float) -> list[TenantFigures]:
        """Every tenant's figures from the core (the engine's tenants, then unknown holders)."""
        return self.cluster.tenant_figures(now=now)

    def tenant_views(self, now: float) -> list[TenantView]:
        """Every configured tenant's spec with its figures, parents before children."""
        return [
            TenantView(self.registry.tenants.get(f.tenant) or {"name": f.tenant, "parent": None}, f)
            for f in self.tenant_figures(now)
        ]

    def tenant_view(self, name: str, now: float) -> TenantView:
        """One configured tenant's spec with its figures; ``NotFound`` if not configured."""
        return TenantView(self.registry.tenant(name), self.cluster.tenant_figure(name, now=now))
