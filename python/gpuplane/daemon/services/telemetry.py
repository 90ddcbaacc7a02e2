"""``TelemetryService``: agents stream their nodes' GPU state; changes become journaled
operations (node added, external memory usage, health) decided by the core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from gpuplane._proto.v1 import telemetry_pb2 as tp
from gpuplane._proto.v1 import telemetry_pb2_grpc
from gpuplane.daemon import convert
from gpuplane.daemon.engine import Engine
from gpuplane.errors import GpuplaneError, NotFound


def changes(
    report: tp.NodeStateReport, current: dict[str, Any]
) -> tuple[list[list[Any]], list[str], list[str]]:
    """External-usage updates and GPUs to drain / undrain, relative to the current state."""
    external, drain, undrain = [], [], []
    for i, g in enumerate(report.gpus):
        gid = convert.text(g.gpu_id, f"gpus[{i}].gpu_id", limit=convert.MAX_ID_LEN)
        now = current.get(gid)
        if now is None or now.node != report.node:
            raise NotFound(f"GPU {gid!r} is not on node {report.node!r}")
        mib = min(g.memory_external_mib, now.memory_total_mib)
        if mib != now.memory_external_mib:
            external.append([gid, mib])
        if g.healthy != now.healthy:
            (undrain if g.healthy else drain).append(gid)
    return external, drain, undrain


class TelemetryService(telemetry_pb2_grpc.TelemetryServiceServicer):
    """Applies agents' reports to the engine."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def apply_report(self, report: tp.NodeStateReport) -> tp.NodeStateAck:
        state = self.engine.state
        node = convert.text(report.node, "node")
        if report.HasField("inventory") and node not in state.cluster.node_names():
            spec = convert.node_dict(report.inventory, "inventory")
            if spec["name"] != node:
                raise convert.invalid("inventory.name", f"must equal node {node!r}")
            await self.engine.mutate({"op": "add_node", **spec})
        current = {g.id: g for g in state.cluster.stats().gpus}
        external, drain, undrain = changes(report, current)
        ack = tp.NodeStateAck(seq=self.engine.next_seq - 1)
        if external:
            await self.engine.mutate({"op": "external", "items": external})
        if drain:
            reason = "reported unhealthy by the node agent (NVML health / Xid)"
            ack.displaced.extend(
                await self.engine.mutate({"op": "health", "gpus": drain, "healthy": False, "reason": reason})
            )
            ack.drained_gpus.extend(drain)
        if undrain:
            await self.engine.mutate({"op": "health", "gpus": undrain, "healthy": True})
        ack.seq = self.engine.next_seq - 1
        return ack

    async def StreamNodeState(
        self, request_iterator: AsyncIterator[tp.NodeStateReport], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tp.NodeStateAck]:
        """One ack per report; a bad report is answered with ``error`` and the stream goes on.

        Who may report is the authentication interceptor's decision (admin and agent tokens).
        """
        async for report in request_iterator:
            try:
                yield await self.apply_report(report)
            except GpuplaneError as e:
                yield tp.NodeStateAck(seq=self.engine.next_seq - 1, error=str(e))
