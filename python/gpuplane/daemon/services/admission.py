"""``AdmissionService``: admission through the core policy engine, and replica routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import admission_pb2_grpc
from gpuplane.daemon import convert
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.routing import Router, missing
from gpuplane.daemon.state import request_missing
from gpuplane.errors import Conflict, GpuplaneError, NotFound
from gpuplane.wire import status
from gpuplane.wire.messages import message_of, scalar_fields

VERDICTS = {"admit": ap.VERDICT_ADMIT, "queue": ap.VERDICT_QUEUE, "reject": ap.VERDICT_REJECT}
MAX_HASHES = 1 << 16


def admit_dict(msg: ap.AdmitRequest) -> dict[str, Any]:
    """An admission request with its names bounded (the core checks its amounts)."""
    return {
        "request_id": convert.text(msg.request_id, "request_id", limit=convert.MAX_ID_LEN),
        "tenant": convert.text(msg.tenant, "tenant"),
        "priority_class": convert.text(msg.priority_class or "default", "priority_class"),
        "resources": scalar_fields(msg.resources),
        "gpu_model": convert.text(msg.gpu_model, "gpu_model", required=False) or None,
        "tokens": msg.tokens,
        "est_duration_s": msg.est_duration_s,
        "deadline_s": msg.deadline_s if msg.HasField("deadline_s") else None,
        "queue_ahead": msg.queue_ahead,
        "service_rate": msg.service_rate,
        "program": program_dict(msg.program) if msg.HasField("program") else None,
    }


def program_dict(msg: ap.ProgramCall) -> dict[str, Any]:
    """A program call with its id bounded (the core checks the order of calls)."""
    return {
        "workflow_id": convert.text(msg.workflow_id, "program.workflow_id", limit=convert.MAX_ID_LEN),
        "call_index": msg.call_index,
    }


def replica_dict(msg: ap.Replica) -> dict[str, Any]:
    """A validated replica registration."""
    return {
        "id": convert.text(msg.id, "replica.id", limit=convert.MAX_ID_LEN),
        "address": convert.text(msg.address, "replica.address", required=False, limit=convert.MAX_ID_LEN),
        "model": convert.text(msg.model, "replica.model", required=False),
        "tenant": convert.text(msg.tenant, "replica.tenant", required=False),
        "kv_blocks": msg.kv_blocks,
        "block_size": msg.block_size,
        "max_running": msg.max_running,
    }


def load_dict(msg: ap.ReplicaLoad) -> dict[str, Any]:
    """A validated load report."""
    if len(msg.cached_block_hashes) > MAX_HASHES:
        raise convert.invalid("load.cached_block_hashes", f"at most {MAX_HASHES} entries")
    return {
        "replica_id": convert.text(msg.replica_id, "load.replica_id", limit=convert.MAX_ID_LEN),
        "waiting": msg.waiting,
        "running": msg.running,
        "kv_usage": msg.kv_usage,
        "waiting_blocks": msg.waiting_blocks,
        "cached_block_hashes": list(msg.cached_block_hashes),
        "resident_adapters": convert.strings(msg.resident_adapters, "load.resident_adapters"),
        "tenant_service": {
            convert.text(k, "load.tenant_service key"): v for k, v in msg.tenant_service.items()
        },
        "reflects_dispatch": msg.reflects_dispatch if msg.HasField("reflects_dispatch") else None,
        "tenant_waiting": {
            convert.text(k, "load.tenant_waiting key"): v for k, v in msg.tenant_waiting.items()
        },
    }


def route_dict(msg: ap.RouteRequest) -> dict[str, Any]:
    """A validated routing request."""
    if len(msg.block_hashes) > MAX_HASHES:
        raise convert.invalid("block_hashes", f"at most {MAX_HASHES} entries")
    return {
        "request_id": convert.text(msg.request_id, "request_id", required=False, limit=convert.MAX_ID_LEN),
        "tenant": convert.text(msg.tenant or "default", "tenant"),
        "model": convert.text(msg.model, "model", required=False),
        "adapter": convert.text(msg.adapter, "adapter", required=False),
        "block_hashes": list(msg.block_hashes),
        "prompt_tokens": msg.prompt_tokens,
        "workflow_id": workflow_id(msg),
    }


def workflow_id(msg: ap.RouteRequest) -> str | None:
    """The program a routed call belongs to (None: none); a present id must be a valid one."""
    if not msg.HasField("workflow_id"):
        return None
    return convert.text(msg.workflow_id, "workflow_id", limit=convert.MAX_ID_LEN)


def finish_route_dict(msg: ap.FinishRouteRequest) -> dict[str, Any]:
    """A validated FinishRoute."""
    return {
        "request_id": convert.text(msg.request_id, "request_id", limit=convert.MAX_ID_LEN),
        "input_tokens": msg.input_tokens,
        "output_tokens": msg.output_tokens,
    }


def routed_missing(request_id: str) -> NotFound:
    """The NOT_FOUND of a request not routed (or routed by another tenant)."""
    return NotFound(f"routed request {request_id!r} is not in flight")


def call_error(e: GpuplaneError) -> ap.CallError:
    """The status a unary call would have ended with, as one result of a stream message."""
    return ap.CallError(code=status.code_of(e).name, message=status.message_of(e))


class AdmissionService(admission_pb2_grpc.AdmissionServiceServicer):
    """Admission RPCs over one :class:`Engine` and a :class:`Router`."""

    def __init__(self, engine: Engine, router: Router):
        self.engine = engine
        self.router = router

    async def Admit(self, request: ap.AdmitRequest, context: grpc.aio.ServicerContext) -> ap.AdmitResponse:
        """Admit, queue or reject, decided by the core policy engine (journaled); a program a
        rejected call aborts ends in the router too (see :meth:`Finish`)."""
        req = admit_dict(request)
        self.engine.access.check("Admit", req["tenant"])
        d = await self.engine.mutate(self.engine.stamp({"op": "admit", "req": req}), "Admit")
        self._end_program(req["tenant"], d["ended_program"])
        return ap.AdmitResponse(
            verdict=VERDICTS[d["verdict"]], reason_code=d["reason_code"], reason=d["reason"], at=d["at"]
        )

    async def Finish(self, request: ap.FinishRequest, context: grpc.aio.ServicerContext) -> ap.FinishResponse:
        """Releases an admitted request or cancels a queued one (journaled). A program the core
        says it ended (its last call, or a cancelled one) ends in the router too: the router's
        memory of programs is soft state, like its replicas, so it is not journaled."""
        rid = convert.text(request.request_id, "request_id", limit=convert.MAX_ID_LEN)
        owner = self.engine.state.request_owner(rid)
        self.engine.access.check_owner("Finish", owner, request_missing(rid))
        op = {"op": "finish", "id": rid, "more_calls": request.more_calls}
        finished = await self.engine.mutate(self.engine.stamp(op), "Finish")
        self._end_program(owner, finished.ended_program)
        return ap.FinishResponse(was_running=finished.was_running)

    def _end_program(self, tenant: str, workflow_id: str | None) -> None:
        """The router forgets a program the core's ledger ended (None: none ended)."""
        if workflow_id is not None:
            self.router.end_program(tenant, workflow_id)

    async def Route(self, request: ap.RouteRequest, context: grpc.aio.ServicerContext) -> ap.RouteResponse:
        """The best registered replica for the request."""
        return self._route(request)

    def _route(self, request: ap.RouteRequest) -> ap.RouteResponse:
        req = route_dict(request)
        self.engine.access.check("Route", req["tenant"])
        return message_of(ap.RouteResponse, self.router.route(req))

    async def FinishRoute(
        self, request: ap.FinishRouteRequest, context: grpc.aio.ServicerContext
    ) -> ap.FinishRouteResponse:
        """A routed request is done: its tenant is charged what its replica served it."""
        return self._finish_route(request)

    def _finish_route(self, request: ap.FinishRouteRequest) -> ap.FinishRouteResponse:
        done = finish_route_dict(request)
        rid = done["request_id"]
        owner = self.router.tenant_of_request(rid)
        self.engine.access.check_owner("FinishRoute", owner, routed_missing(rid))
        return ap.FinishRouteResponse(replica_id=self.router.finish(done))

    async def RouteStream(
        self, request_iterator: AsyncIterator[ap.RouteStreamRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ap.RouteStreamResponse]:
        """Route and FinishRoute calls, many per message and many messages per stream."""
        self.engine.access.check("RouteStream", None)
        async for msg in request_iterator:
            out = ap.RouteStreamResponse()
            for req in msg.routes:
                try:
                    out.routes.add(route=self._route(req))
                except GpuplaneError as e:
                    out.routes.add(error=call_error(e))
            for done in msg.finishes:
                try:
                    out.finishes.add(finish=self._finish_route(done))
                except GpuplaneError as e:
                    out.finishes.add(error=call_error(e))
            yield out

    async def RegisterReplica(
        self, request: ap.RegisterReplicaRequest, context: grpc.aio.ServicerContext
    ) -> ap.RegisterReplicaResponse:
        """Registers an engine replica."""
        replica = replica_dict(convert.required(request, "replica"))
        self.engine.access.check("RegisterReplica", replica["tenant"] or None)
        self._check_reregister(replica["id"])
        self.router.register(replica)
        return ap.RegisterReplicaResponse()

    def _check_reregister(self, replica_id: str) -> None:
        """Only a replica's owner (or admin, for shared ones) may register its id again."""
        try:
            owner = self.router.tenant_of(replica_id)
        except NotFound:
            return
        if not self.engine.access.allows("RegisterReplica", owner):
            raise Conflict(f"replica id {replica_id!r} is taken; register under another id")

    async def ReportLoad(
        self, request: ap.ReportLoadRequest, context: grpc.aio.ServicerContext
    ) -> ap.ReportLoadResponse:
        """Records a replica's load."""
        load = load_dict(convert.required(request, "load"))
        rid = load["replica_id"]
        self.engine.access.check_owner("ReportLoad", self.router.tenant_of(rid), missing(rid))
        with convert.within("load"):
            self.router.report(load)
        return ap.ReportLoadResponse()

    async def ListReplicas(
        self, request: ap.ListReplicasRequest, context: grpc.aio.ServicerContext
    ) -> ap.ListReplicasResponse:
        """Registered replicas and their last load."""
        self.engine.access.check("ListReplicas", None)
        size = self.engine.config.list_page_size
        size = min(request.page_size or size, size)
        viewer = self.engine.access.viewer()
        page, more = self.router.page(request.page_token, size, viewer)
        out = ap.ListReplicasResponse(next_page_token=page[-1].replica["id"] if more else "")
        for r in page:
            rid = r.replica["id"]
            out.replicas.add(
                replica=ap.Replica(**r.replica),
                load=ap.ReplicaLoad(
                    replica_id=rid,
                    waiting=r.waiting,
                    running=r.running,
                    kv_usage=r.kv_usage,
                    resident_adapters=sorted(r.adapters),
                    tenant_service={k: v for k, v in r.tenant_service.items() if viewer in (None, k)},
                    tenant_waiting={k: v for k, v in r.tenant_waiting.items() if viewer in (None, k)},
                ),
                routed=r.routed,
            )
        return out
