"""``PlacementService``: placement, release, preemption, drain, cluster view and events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from gpuplane._core import check_policy
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane._proto.v1 import placement_pb2_grpc
from gpuplane.daemon import columns, convert
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.state import Event, workload_missing
from gpuplane.errors import CapacityError, Conflict, GpuplaneError, NotFound, QuotaExceeded

MAX_BATCH = 100_000
FAILURE_CODES = ((CapacityError, "capacity"), (QuotaExceeded, "quota"), (Conflict, "conflict"))


def policy_name(name: str) -> str | None:
    """The requested placement policy, checked by the core before the request is journaled
    (empty: the server's)."""
    if name:
        check_policy(name)
    return name or None


def failure_code(error: GpuplaneError) -> str:
    """The short code of a batch entry that was not placed."""
    for cls, code in FAILURE_CODES:
        if isinstance(error, cls):
            return code
    return "invalid"


def event_kinds(values: Iterable[int]) -> frozenset[str]:
    """The event kinds a watch asks for (empty: all); an unknown or unspecified kind is refused."""
    kinds = []
    for i, k in enumerate(values):
        if k not in pp.EventKind.values():
            raise convert.invalid(f"kinds[{i}]", f"{k} is not an EventKind")
        if k == pp.EVENT_KIND_UNSPECIFIED:
            raise convert.invalid(f"kinds[{i}]", "EVENT_KIND_UNSPECIFIED is no kind; leave kinds empty")
        kinds.append(pp.EventKind.Name(k).removeprefix("EVENT_KIND_").lower())
    return frozenset(kinds)


def event_to_pb(seq: int, e: Event) -> pp.Event:
    """An acknowledged event as a message."""
    return pp.Event(
        seq=seq,
        kind=pp.EventKind.Value(f"EVENT_KIND_{e.kind.upper()}"),
        workload_id=e.workload_id,
        node=e.node,
        gpu_ids=e.gpu_ids,
        tenant=e.tenant,
        detail=e.detail,
    )


class PlacementService(placement_pb2_grpc.PlacementServiceServicer):
    """Placement RPCs over one :class:`Engine`."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def Place(self, request: pp.PlaceRequest, context: grpc.aio.ServicerContext) -> pp.PlaceResponse:
        """Places one workload."""
        w = convert.workload_dict(convert.required(request, "workload"))
        self.engine.access.check("Place", w["tenant"])
        op = {"op": "place", "w": w, "policy": policy_name(request.policy)}
        with convert.within("workload"):
            placement = await self.engine.mutate(op, "Place")
        return pp.PlaceResponse(placement=convert.placement_to_pb(placement))

    def _batch_entries(
        self, request: pp.PlaceBatchRequest
    ) -> tuple[list[dict[str, Any]], dict[int, pp.PlaceResult]]:
        """Valid, permitted workloads, and a refusal result for each other entry by index."""
        if len(request.workloads) > MAX_BATCH:
            raise convert.invalid("workloads", f"has {len(request.workloads)} entries, at most {MAX_BATCH}")
        valid, refused = [], {}
        for i, msg in enumerate(request.workloads):
            try:
                w = convert.workload_dict(msg, f"workloads[{i}]")
            except GpuplaneError as e:
                refused[i] = pp.PlaceResult(workload_id=msg.id, code="invalid", reason=str(e))
                continue
            if not self.engine.access.allows("PlaceBatch", w["tenant"]):
                refused[i] = pp.PlaceResult(workload_id=msg.id, code="permission", reason="not your tenant")
                continue
            valid.append(w)
        return valid, refused

    async def PlaceBatch(
        self, request: pp.PlaceBatchRequest, context: grpc.aio.ServicerContext
    ) -> pp.PlaceBatchResponse:
        """Places each workload independently; one journal commit for the whole batch."""
        valid, refused = self._batch_entries(request)
        op = {"op": "place_batch", "ws": valid, "policy": policy_name(request.policy)}
        outcomes = iter(await self.engine.mutate(op, "PlaceBatch") if valid else [])
        results, placed = [], 0
        for i, msg in enumerate(request.workloads):
            if i in refused:
                results.append(refused[i])
                continue
            out = next(outcomes)
            if isinstance(out, GpuplaneError):
                results.append(pp.PlaceResult(workload_id=msg.id, code=failure_code(out), reason=str(out)))
            else:
                placed += 1
                results.append(
                    pp.PlaceResult(workload_id=msg.id, placed=True, placement=convert.placement_to_pb(out))
                )
        return pp.PlaceBatchResponse(results=results, placed=placed)

    async def PlaceColumns(
        self, request: pp.PlaceColumnsRequest, context: grpc.aio.ServicerContext
    ) -> pp.PlaceColumnsResponse:
        """Places workloads given as columns, in order, in one core call and one commit."""
        op = columns.columns_op(request, policy_name(request.policy))
        self.engine.access.check("PlaceColumns", op["tenant"])
        if not op["ids"]:
            return pp.PlaceColumnsResponse()
        try:
            placed, nodes, gpus = await self.engine.mutate(op, "PlaceColumns")
        except GpuplaneError as e:
            raise columns.renamed(e) from e
        return columns.columns_response(placed, nodes, gpus)

    async def Release(
        self, request: pp.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> pp.ReleaseResponse:
        """Frees what a workload holds."""
        wid = convert.text(request.workload_id, "workload_id", limit=convert.MAX_ID_LEN)
        tenant = self.engine.state.owner(wid)
        self.engine.access.check_owner("Release", tenant, workload_missing(wid))
        placement = await self.engine.mutate({"op": "release", "id": wid}, "Release")
        return pp.ReleaseResponse(placement=convert.placement_to_pb(placement))

    async def ReleaseBatch(
        self, request: pp.ReleaseBatchRequest, context: grpc.aio.ServicerContext
    ) -> pp.ReleaseBatchResponse:
        """Releases many workloads; ids not placed (or not the caller's) come back False."""
        if len(request.workload_ids) > MAX_BATCH:
            raise convert.invalid(
                "workload_ids", f"has {len(request.workload_ids)} entries, at most {MAX_BATCH}"
            )
        owners = self.engine.state.owners
        ids = list(request.workload_ids)
        mine = [w for w in ids if w in owners and self.engine.access.allows("ReleaseBatch", owners[w][0])]
        done = set()
        if mine:
            flags = await self.engine.mutate({"op": "release_batch", "ids": mine}, "ReleaseBatch")
            done = {w for w, ok in zip(mine, flags, strict=True) if ok}
        released = [w in done for w in ids]
        return pp.ReleaseBatchResponse(released=released, count=len(done))

    async def PreemptionPlan(
        self, request: pp.PreemptionPlanRequest, context: grpc.aio.ServicerContext
    ) -> pp.PreemptionPlanResponse:
        """The cheapest victims that let a workload fit (read-only)."""
        w = convert.workload_dict(convert.required(request, "workload"))
        self.engine.access.check("PreemptionPlan", w["tenant"])
        with convert.within("workload"):
            plan = self.engine.state.cluster.preemption_plan(convert.workload_from_dict(w), now=time.time())
        if plan is None:
            return pp.PreemptionPlanResponse(found=False)
        return pp.PreemptionPlanResponse(found=True, plan=convert.plan_to_pb(plan))

    async def Preempt(
        self, request: pp.PreemptRequest, context: grpc.aio.ServicerContext
    ) -> pp.PreemptResponse:
        """Executes a plan if it still holds (else FAILED_PRECONDITION)."""
        plan = convert.plan_dict(convert.required(request, "plan"))
        self.engine.access.check("Preempt", plan["workload"]["tenant"])
        op = {"op": "preempt", "w": plan["workload"], "node": plan["node"], "victims": plan["victims"]}
        with convert.within("plan.workload"):
            placement, victims = await self.engine.mutate(op, "Preempt")
        self.engine.metrics.on_preemption(len(victims))
        return pp.PreemptResponse(placement=convert.placement_to_pb(placement), evicted=victims)

    def _drain_targets(self, request: pp.DrainRequest) -> list[str]:
        target = request.WhichOneof("target")
        if target is None:
            raise convert.invalid("target", "gpu_id or node is required")
        if target == "gpu_id":
            return [convert.text(request.gpu_id, "gpu_id", limit=convert.MAX_ID_LEN)]
        node = convert.text(request.node, "node")
        gpus = [g.id for g in self.engine.state.cluster.stats().gpus if g.node == node]
        if not gpus:
            raise NotFound(f"node {node!r} not found")
        return gpus

    async def Drain(self, request: pp.DrainRequest, context: grpc.aio.ServicerContext) -> pp.DrainResponse:
        """Marks GPUs unhealthy (releasing their workloads) or healthy again; admin only."""
        self.engine.access.check("Drain", None)
        gpus = self._drain_targets(request)
        limit = self.engine.config.max_reason_bytes
        reason = convert.text(request.reason, "reason", required=False, limit=limit)
        op = {"op": "health", "gpus": gpus, "healthy": request.undrain, "reason": reason}
        displaced = await self.engine.mutate(op, "Drain")
        return pp.DrainResponse(displaced=displaced, gpu_ids=gpus)

    async def GetCluster(
        self, request: pp.GetClusterRequest, context: grpc.aio.ServicerContext
    ) -> pp.GetClusterResponse:
        """Capacity, usage and (optionally) GPUs and the caller's placements."""
        self.engine.access.check("GetCluster", None)
        state = self.engine.state
        response = pp.GetClusterResponse(
            stats=convert.stats_to_pb(state.cluster.stats(), request.include_gpus),
            policy=state.cluster.policy,
            inventory_source=self.engine.inventory_source,
        )
        if request.include_placements:
            for wid, (tenant, _) in sorted(state.owners.items()):
                if self.engine.access.allows("GetCluster", tenant):
                    p = state.cluster.allocation(wid)
                    if p is not None:
                        response.placements.append(convert.placement_to_pb(p))
        return response

    async def WatchEvents(
        self, request: pp.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pp.Event]:
        """Streams acknowledged events (a tenant sees its own and cluster-wide ones)."""
        self.engine.access.check("WatchEvents", None)
        kinds = event_kinds(request.kinds)
        sub = self.engine.bus.subscribe(kinds)
        try:
            while True:
                item = await sub.queue.get()
                if item is None:
                    return
                seq, event = item
                if not event.tenant or self.engine.access.allows("WatchEvents", event.tenant):
                    yield event_to_pb(seq, event)
        finally:
            self.engine.bus.unsubscribe(sub)
