"""Engine replicas and their reported load, and the choice of a replica for a request.

Replicas are leases, not journaled state: an engine registers at start and reports its load
every few seconds, and re-registers after the daemon restarts (``Route`` answers NOT_FOUND
until one has). The scoring below is a stand-in until the core grows a router
(``gpuplane.Router``; it is used instead when the binding has it): it orders replicas by a
weighted sum of prefix-cache overlap, adapter residency, queue depth, KV usage and the
requesting tenant's share of the replica's recent service, with the terms in ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpuplane.errors import NotFound

W_PREFIX = 2.0
W_ADAPTER = 1.0
W_QUEUE = 1.0
W_KV = 1.0
W_FAIR = 0.5


@dataclass
class ReplicaState:
    """A registered replica and its last reported load."""

    replica: dict[str, Any]
    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0
    cached: frozenset[int] = frozenset()
    adapters: frozenset[str] = frozenset()
    tenant_service: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteChoice:
    """The chosen replica, its score, the prefix blocks it has cached, and why."""

    replica_id: str
    address: str
    score: float
    prefix_blocks: int
    reason: str


def prefix_overlap(hashes: list[int], cached: frozenset[int]) -> int:
    """How many leading blocks of the prompt the replica has cached."""
    n = 0
    for h in hashes:
        if h not in cached:
            break
        n += 1
    return n


def tenant_excess(service: dict[str, float], tenant: str) -> float:
    """How far the tenant's share of the replica's service exceeds an equal share (>= 0)."""
    total = sum(service.values())
    if total <= 0 or tenant not in service:
        return 0.0
    return max(0.0, service[tenant] / total - 1.0 / len(service))


class Router:
    """The replica registry (soft state) and the routing choice."""

    def __init__(self) -> None:
        self.replicas: dict[str, ReplicaState] = {}

    def register(self, replica: dict[str, Any]) -> None:
        """Adds or replaces a replica (its load is kept when it re-registers)."""
        old = self.replicas.get(replica["id"])
        self.replicas[replica["id"]] = ReplicaState(replica) if old is None else _with(old, replica)

    def tenant_of(self, replica_id: str) -> str | None:
        """The tenant a replica is dedicated to (None: shared); NOT_FOUND if not registered."""
        state = self.replicas.get(replica_id)
        if state is None:
            raise NotFound(f"replica {replica_id!r} is not registered")
        return state.replica["tenant"] or None

    def report(self, load: dict[str, Any]) -> None:
        """Records a replica's load; NOT_FOUND if it never registered."""
        state = self.replicas.get(load["replica_id"])
        if state is None:
            raise NotFound(f"replica {load['replica_id']!r} is not registered")
        state.waiting, state.running, state.kv_usage = load["waiting"], load["running"], load["kv_usage"]
        state.cached = frozenset(load["cached"])
        state.adapters = frozenset(load["adapters"])
        state.tenant_service = dict(load["tenant_service"])

    def candidates(self, tenant: str, model: str) -> list[ReplicaState]:
        """Replicas serving ``model`` (any when empty), shared or dedicated to ``tenant``."""
        return [
            r
            for r in self.replicas.values()
            if (not model or r.replica["model"] == model) and r.replica["tenant"] in ("", tenant)
        ]

    def score(self, r: ReplicaState, req: dict[str, Any]) -> tuple[float, int, str]:
        """The weighted score of one replica for a request, its prefix blocks and the terms."""
        hashes = req["block_hashes"]
        prefix = prefix_overlap(hashes, r.cached)
        terms = {
            "prefix": W_PREFIX * (prefix / len(hashes) if hashes else 0.0),
            "adapter": W_ADAPTER * (1.0 if req["adapter"] and req["adapter"] in r.adapters else 0.0),
            "queue": -W_QUEUE * r.waiting / max(1, r.replica["max_running"] or 1),
            "kv": -W_KV * r.kv_usage,
            "fair": -W_FAIR * tenant_excess(r.tenant_service, req["tenant"]),
        }
        reason = ", ".join(f"{k} {v:+.3f}" for k, v in terms.items())
        return sum(terms.values()), prefix, reason

    def route(self, req: dict[str, Any]) -> RouteChoice:
        """The best replica for a request; NOT_FOUND when none serves it."""
        found = self.candidates(req["tenant"], req["model"])
        if not found:
            raise NotFound(f"no registered replica serves model {req['model'] or '(any)'!r}")
        scored = [(self.score(r, req), r) for r in found]
        (score, prefix, reason), best = max(
            scored, key=lambda x: (x[0][0], -x[1].waiting, x[1].replica["id"])
        )
        return RouteChoice(best.replica["id"], best.replica["address"], score, prefix, reason)


def _with(old: ReplicaState, replica: dict[str, Any]) -> ReplicaState:
    old.replica = replica
    return old
