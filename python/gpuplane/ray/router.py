"""``gpuplane.ray.Router``: a Ray Serve request router whose choice is the core ``Router``'s.

Deploy with ``request_router_config=gpuplane.ray.router_config(block_size=16)`` (or
``RequestRouterConfig(request_router_class="gpuplane.ray:Router", ...)``). Per request it
reads the tenant, prompt and adapter (:mod:`gpuplane.ray.request`), hashes the prompt's KV
blocks, and asks the routing state (:mod:`gpuplane.ray.state`) for the core's choice among
Serve's live replicas, forwarding the replicas' ``record_routing_stats`` reports when they
change. Serve then sends the request there, or, if that replica's queue is full, backs off and
asks again. The state dispatches each choice in the core under Serve's internal request id:
its prompt blocks count as that replica's load until the replica's next report, and it is in
flight there until Serve reports it completed (``on_request_completed``) or asks again.
"""

from __future__ import annotations

import time
from typing import Any

from ray.serve.request_router import FIFOMixin, PendingRequest, ReplicaID, RequestRouter, RunningReplica

import gpuplane
from gpuplane.ray.config import RouterSettings
from gpuplane.ray.figures import is_report
from gpuplane.ray.request import prompt_length, request_fields
from gpuplane.ray.state import ReplicaView, RoutingState, shared_state, state_actor_name


class Router(FIFOMixin, RequestRouter):
    """Routes each request to the replica the core ``Router`` scores best (prefix overlap,
    adapter residency, queue depth, KV usage, tenant fair share); see the module docstring."""

    def initialize_state(self, **kwargs: Any) -> None:
        self._settings = RouterSettings.parse(kwargs)
        self._sent: dict[str, tuple[Any, ...]] = {}
        self._route_seconds = 0.0
        self._route_count = 0
        if self._settings.state == "local":
            self._state: Any = RoutingState(self._settings.block_size)
        else:
            d = self._deployment_id
            name = state_actor_name(self._settings.state_name, d.app_name, d.name)
            self._state = shared_state(name, self._settings.block_size)

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        if not candidate_replicas:
            return []
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        adapter = pending_request.metadata.multiplexed_model_id if pending_request else ""
        args, kwargs = (pending_request.args, pending_request.kwargs) if pending_request else ((), {})
        fields = request_fields(args, kwargs, adapter)
        hashes = gpuplane.prompt_block_hashes(fields.prompt, self._settings.block_size)
        views = [self._view(r) for r in candidate_replicas]
        request_id = pending_request.metadata.internal_request_id if pending_request else ""
        start = time.perf_counter()
        choice = await self._call(
            "route", views, fields.tenant, fields.adapter, hashes, request_id, prompt_length(fields.prompt)
        )
        self._route_seconds += time.perf_counter() - start
        self._route_count += 1
        return [[by_id[choice.replica_id]]]

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        self._fire("done", internal_request_id)

    def update_replicas(self, replicas: list[RunningReplica]) -> None:
        # Serve calls this when the replica set or a replica's routing stats change: forward
        # them now, so that the state is as fresh as Serve's broadcast, traffic or not.
        super().update_replicas(replicas)
        self._fire("sync", [self._view(r) for r in replicas])

    def on_replica_actor_died(self, replica_id: ReplicaID) -> None:
        super().on_replica_actor_died(replica_id)
        self._sent.pop(replica_id.unique_id, None)
        self._fire("remove", replica_id.unique_id)

    @property
    def mean_route_seconds(self) -> float:
        """Mean wall time of the state's route call as seen by this instance."""
        return self._route_seconds / max(1, self._route_count)

    def _view(self, r: RunningReplica) -> ReplicaView:
        rid = r.replica_id.unique_id
        stats = r.routing_stats if is_report(r.routing_stats) else None
        adapters = tuple(sorted(r.multiplexed_model_ids))
        key = (stats.get("seq") if stats else None, adapters)
        changed = self._sent.get(rid) != key
        self._sent[rid] = key
        return ReplicaView(rid, r.max_ongoing_requests, stats if changed else None, adapters)

    async def _call(self, method: str, *args: Any) -> Any:
        if isinstance(self._state, RoutingState):
            return getattr(self._state, method)(*args)
        return await getattr(self._state, method).remote(*args)

    def _fire(self, method: str, *args: Any) -> None:
        if isinstance(self._state, RoutingState):
            getattr(self._state, method)(*args)
        else:
            getattr(self._state, method).remote(*args)
