"""Replica side: what a Serve deployment reports so that :class:`gpuplane.ray.Router` can
route by its load, prefix cache, adapters and tenants.

A deployment mixes in :class:`RoutingStatsMixin` and implements ``routing_figures()`` from
its engine; Serve calls ``record_routing_stats`` every ``request_routing_stats_period_s`` and
hands the dict to every router instance. For an engine scheduled by gpuplane's
``BatchScheduler``, :func:`figures_from_scheduler` reads all the figures from it. Any other
engine fills :class:`EngineFigures` from its own counters (vLLM: ``num_waiting_reqs``,
``num_running_reqs``, ``kv_cache_usage``, its loaded LoRA ids); prefix hits need its cached
blocks hashed with :func:`gpuplane.prompt_block_hashes` at the router's block size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import gpuplane
from gpuplane.ray.figures import EngineFigures


class RoutingStatsMixin(ABC):
    """Gives a deployment Serve's ``record_routing_stats`` from its ``routing_figures()``, which
    the deployment must implement (a class without it cannot be instantiated)."""

    @abstractmethod
    def routing_figures(self) -> EngineFigures:
        """The engine's current figures."""

    def record_routing_stats(self) -> dict[str, Any]:
        """Called by Serve on the replica; the router reads the dict it returns."""
        return self.routing_figures().to_stats()


def figures_from_scheduler(
    sched: gpuplane.BatchScheduler, adapters: Sequence[str] = (), waiting_blocks: int = 0
) -> EngineFigures:
    """The figures of an engine driven by a gpuplane ``BatchScheduler``; ``waiting_blocks``:
    the KV blocks of its waiting requests' prompts, which the engine counts (the scheduler
    does not report them)."""
    m = sched.metrics()
    cfg = sched.config
    return EngineFigures(
        waiting=m.waiting,
        running=m.running,
        kv_usage=m.kv_usage,
        waiting_blocks=waiting_blocks,
        cached_block_hashes=tuple(sched.cached_block_hashes()),
        adapters=tuple(adapters),
        tenant_service={t.tenant: t.service for t in m.tenants.values()},
        tenant_waiting={t.tenant: t.waiting for t in m.tenants.values() if t.waiting},
        max_running=cfg.max_running,
        kv_blocks=cfg.kv_blocks,
        block_size=cfg.block_size,
    )
