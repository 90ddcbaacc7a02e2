"""Engine replicas and their reported load, and the choice of a replica for a request.

Replicas are leases, not journaled state: an engine registers at start and reports its load
every few seconds, and re-registers after the daemon restarts (``Route`` answers NOT_FOUND
until one has). The registry and the choice are the core's (:class:`gpuplane.Router`: a
weighted sum of prefix-cache overlap, adapter residency, queue depth, KV usage and the
requesting tenant's share of the replica's recent service, with the terms in ``reason``); this
module only converts the daemon's validated dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpuplane import _core
from gpuplane.daemon.config import ServeConfig
from gpuplane.errors import NotFound

REPLICA_FIELDS = ("id", "address", "model", "tenant", "kv_blocks", "block_size", "max_running")


@dataclass(frozen=True)
class ReplicaState:
    """A view of a registered replica and its last reported load."""

    replica: dict[str, Any]
    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0
    cached_blocks: int = 0
    adapters: frozenset[str] = frozenset()
    tenant_service: dict[str, float] = field(default_factory=dict)
    tenant_waiting: dict[str, int] = field(default_factory=dict)
    routed: int = 0

    @classmethod
    def of(cls, s: _core.ReplicaStatus) -> ReplicaState:
        return cls(
            replica={k: getattr(s, k) for k in REPLICA_FIELDS},
            waiting=s.waiting,
            running=s.running,
            kv_usage=s.kv_usage,
            cached_blocks=s.cached_blocks,
            adapters=frozenset(s.resident_adapters),
            tenant_service=s.tenant_service,
            tenant_waiting=s.tenant_waiting,
            routed=s.routed,
        )


def missing(replica_id: str) -> NotFound:
    """The NOT_FOUND of an unregistered replica, and of one the caller may not see."""
    return NotFound(f"replica {replica_id!r} is not registered")


# ``Router.route`` answers the core's ``Route`` (replica_id, address, score, prefix_blocks,
# reason, terms).
RouteChoice = _core.Route


class Router:
    """The replica registry (soft state) and the routing choice, held by the core."""

    def __init__(self, config: ServeConfig) -> None:
        self.core = _core.Router(
            max_replicas=config.max_replicas,
            max_replicas_per_tenant=config.max_replicas_per_tenant,
            max_load_entries=config.max_load_entries,
        )

    @property
    def replicas(self) -> Mapping[str, ReplicaState]:
        """Registered replicas by id (a snapshot)."""
        return {s.id: ReplicaState.of(s) for s in self.core.replicas()}

    def register(self, replica: dict[str, Any]) -> None:
        """Adds or replaces a replica (its load is kept when it re-registers)."""
        self.core.register(replica["id"], **{k: replica[k] for k in REPLICA_FIELDS[1:] if k in replica})

    def tenant_of(self, replica_id: str) -> str | None:
        """The tenant a replica is dedicated to (None: shared); NOT_FOUND if not registered."""
        try:
            return self.core.replica(replica_id).tenant or None
        except NotFound:
            raise missing(replica_id) from None

    def page(self, after: str, limit: int, tenant: str | None) -> tuple[list[ReplicaState], bool]:
        """Up to ``limit`` replicas after id ``after`` (``tenant``: its own and shared ones only)
        and whether more follow."""
        page, more = self.core.page(after, limit, tenant)
        return [ReplicaState.of(s) for s in page], more

    def report(self, load: dict[str, Any]) -> None:
        """Records a replica's load; NOT_FOUND if it never registered."""
        self.core.report_load(**load)

    def route(self, req: dict[str, Any]) -> RouteChoice:
        """The best replica for a request, counted as routed to it (and tracked until
        :meth:`finish` when it has a ``request_id``); NOT_FOUND when none serves it. A call of
        program ``workflow_id`` goes by the program's key in the core (``program_key``)."""
        fields = {k: v for k, v in req.items() if k != "workflow_id"}
        wf = req.get("workflow_id")
        key = None if wf is None else _core.program_key(req["tenant"], wf)
        return self.core.route(**fields, workflow=key, record=True)

    def end_program(self, tenant: str, workflow_id: str) -> None:
        """Program ``workflow_id`` of ``tenant`` has ended: the router forgets its replica."""
        self.core.end_program(_core.program_key(tenant, workflow_id))

    def known_programs(self) -> int:
        """Programs whose last call's replica the router remembers (bounded by the core)."""
        return self.core.known_programs()

    def tenant_of_request(self, request_id: str) -> str | None:
        """The tenant of a routed request not finished (None: not tracked)."""
        return self.core.tracked_tenant(request_id)

    def finish(self, done: dict[str, Any]) -> str:
        """A routed request is done; charges its tenant what it was served. Returns its replica."""
        return self.core.finish(
            done["request_id"], input_tokens=done["input_tokens"], output_tokens=done["output_tokens"]
        )
