"""The routing state every router instance of a deployment consults: one core ``Router``.

:class:`RoutingState` is used as is (``state="local"``: one per router instance) or as a named
Ray actor (``state="shared"``: one for all handles and proxies of a deployment, so that each
sees what the others routed). It translates only: Serve's replica set and routing stats in,
the core's choice out.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gpuplane
from gpuplane.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class ReplicaView:
    """A candidate replica as one router instance sees it; ``stats`` only when they changed
    since that instance last sent them (None: unchanged or never reported)."""

    id: str
    max_ongoing: int
    stats: Mapping[str, Any] | None = None
    adapters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaSummary:
    """A replica as the state holds it (plain values: it crosses Ray's object store);
    ``load_blocks``: the load the core charges it, in KV blocks (reported use and queue, plus
    the prompt blocks dispatched to it since its last report)."""

    id: str
    waiting: int
    running: int
    in_flight: int
    kv_usage: float
    load_blocks: float
    cached_blocks: int
    adapters: tuple[str, ...]
    tenant_service: Mapping[str, float]
    tenant_waiting: Mapping[str, int]

    @classmethod
    def of(cls, r: gpuplane.ReplicaStatus) -> ReplicaSummary:
        return cls(
            r.id,
            r.waiting,
            r.running,
            r.in_flight,
            r.kv_usage,
            r.load_blocks,
            r.cached_blocks,
            tuple(r.resident_adapters),
            r.tenant_service,
            r.tenant_waiting,
        )


@dataclass(frozen=True)
class Staleness:
    """Age of the replica reports when the state took them in (seconds, wall clock)."""

    reports: int
    mean_s: float
    max_s: float


@dataclass(frozen=True)
class Choice:
    """The replica the core chose and why (``Route.reason``)."""

    replica_id: str
    reason: str


@dataclass(frozen=True)
class RoutedRequest:
    """One routing decision the state made: whose request it was and the core's choice."""

    tenant: str
    prompt_blocks: int
    choice: Choice


RECENT_DECISIONS = 256
# Dispatches whose wall-clock time is kept, to tell which ones a replica's report includes.
RECENT_DISPATCHES = 4096


class RoutingState:
    """A core ``Router`` kept in step with a deployment's replicas and their reports."""

    def __init__(self, block_size: int) -> None:
        self._router = gpuplane.Router()
        self._block_size = block_size
        self._members: frozenset[str] = frozenset()
        self._ages = (0, 0.0, 0.0)
        self._recent: deque[RoutedRequest] = deque(maxlen=RECENT_DECISIONS)
        self._dispatched: deque[tuple[float, int]] = deque(maxlen=RECENT_DISPATCHES)

    def route(
        self,
        candidates: Sequence[ReplicaView],
        tenant: str,
        adapter: str,
        block_hashes: Sequence[int],
        request_id: str = "",
        prompt_tokens: int = 0,
    ) -> Choice:
        """The core's choice among ``candidates``, dispatched there in the same step (so that
        concurrent callers see it): its prompt blocks count as that replica's load until the
        replica's next report, and a ``request_id`` counts in flight there until :meth:`done`.
        A ``request_id`` routed before (Serve asked again) is first taken off its replica."""
        self.sync(candidates)
        if request_id:
            self.done(request_id)
        r = self._router.route(
            tenant=tenant,
            adapter=adapter,
            block_hashes=block_hashes,
            prompt_tokens=prompt_tokens,
            request_id=request_id,
            record=True,
        )
        self._dispatched.append((time.time(), r.dispatch))
        choice = Choice(r.replica_id, r.reason)
        self._recent.append(RoutedRequest(tenant, len(block_hashes), choice))
        return choice

    def choose(self, tenant: str, adapter: str, block_hashes: Sequence[int]) -> Choice:
        """The core's choice among the replicas as last synced (changes nothing)."""
        r = self._router.route(tenant=tenant, adapter=adapter, block_hashes=block_hashes)
        return Choice(r.replica_id, r.reason)

    def done(self, request_id: str) -> None:
        """The request routed with ``request_id`` finished, failed or is routed again (no-op
        for an id not routed here)."""
        with contextlib.suppress(NotFound):
            self._router.finish(request_id)

    def remove(self, replica_id: str) -> None:
        """Drops a replica that died, before Serve's replica set says so."""
        if replica_id in self._members:
            self._router.unregister(replica_id)
            self._members = self._members - {replica_id}

    def recent_decisions(self) -> list[RoutedRequest]:
        """The last routing decisions, oldest first (at most ``RECENT_DECISIONS``)."""
        return list(self._recent)

    def staleness(self) -> Staleness:
        """How old replica reports were when they arrived here."""
        n, total, worst = self._ages
        return Staleness(n, total / max(n, 1), worst)

    def replicas(self) -> list[ReplicaSummary]:
        """The replicas and their last loads, for inspection."""
        return [ReplicaSummary.of(r) for r in self._router.replicas()]

    def sync(self, candidates: Sequence[ReplicaView]) -> None:
        """Takes in Serve's replica set and the reports that changed."""
        ids = frozenset(c.id for c in candidates)
        for gone in self._members - ids:
            self._router.unregister(gone)
        for c in candidates:
            if c.id not in self._members or c.stats is not None:
                self._absorb(c)
        self._members = ids

    def _reflected(self, at: float | None) -> int | None:
        """The last dispatch made by ``at``, a report's wall-clock time: the dispatches its
        figures include (one still on its way to the replica then is counted as included).
        None for a report without a time: it counts as including every dispatch."""
        if at is None:
            return None
        for when, dispatch in reversed(self._dispatched):
            if when <= at:
                return dispatch
        # Every dispatch kept came later (or none was made).
        first = self._dispatched[0][1] if self._dispatched else self._router.last_dispatch() + 1
        return first - 1

    def _absorb(self, c: ReplicaView) -> None:
        stats = c.stats or {}
        if "at" in stats:
            age = max(0.0, time.time() - stats["at"])
            n, total, worst = self._ages
            self._ages = (n + 1, total + age, max(worst, age))
        block_size = stats.get("block_size", self._block_size)
        if block_size != self._block_size:
            raise InvalidRequest(
                f"block_size: replica {c.id} reports {block_size}-token KV blocks, the router hashes "
                f"prompts at {self._block_size} (set request_router_kwargs block_size to match)",
                "block_size",
            )
        self._router.register(
            c.id,
            max_running=stats.get("max_running") or c.max_ongoing,
            kv_blocks=stats.get("kv_blocks", 0),
            block_size=self._block_size,
        )
        self._router.report_load(
            c.id,
            waiting=stats.get("waiting", 0),
            running=stats.get("running", 0),
            kv_usage=stats.get("kv_usage", 0.0),
            waiting_blocks=stats.get("waiting_blocks", 0),
            cached_block_hashes=stats.get("cached_block_hashes", ()),
            resident_adapters=sorted(set(stats.get("resident_adapters", ())) | set(c.adapters)),
            tenant_service=stats.get("tenant_service", {}),
            tenant_waiting=stats.get("tenant_waiting", {}),
            reflects_dispatch=self._reflected(stats.get("at")),
        )


def state_actor_name(settings_name: str, app: str, deployment: str) -> str:
    """The named actor holding a deployment's shared state."""
    return settings_name or f"gpuplane-routing:{app}:{deployment}"


def shared_state(name: str, block_size: int) -> Any:
    """The named, detached actor holding the shared :class:`RoutingState` (created on first use)."""
    import ray

    actor = ray.remote(num_cpus=0, max_restarts=-1)(RoutingState)
    return actor.options(
        name=name, namespace="gpuplane", lifetime="detached", get_if_exists=True, max_concurrency=1
    ).remote(block_size)
