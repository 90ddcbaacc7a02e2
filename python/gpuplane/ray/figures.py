"""The figures a replica reports for routing, and their form in Serve's ``routing_stats``."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SEQ = itertools.count(1)


@dataclass(frozen=True)
class EngineFigures:
    """A replica's load as the core ``Router`` reads it: ``waiting`` and ``running`` requests,
    ``kv_usage`` (0..1), ``waiting_blocks`` (KV blocks the waiting requests' prompts need: the
    queued work the cost model weighs against a cached prefix), the hashes of its cached prompt blocks
    (:func:`gpuplane.prompt_block_hashes` at ``block_size``), resident LoRA ``adapters``, and
    per tenant the weighted tokens served and the requests waiting (``tenant_waiting``: the
    router's queue-share term); ``max_running`` and ``kv_blocks`` size it."""

    waiting: int = 0
    running: int = 0
    kv_usage: float = 0.0
    waiting_blocks: int = 0
    cached_block_hashes: tuple[int, ...] = ()
    adapters: tuple[str, ...] = ()
    tenant_service: Mapping[str, float] = field(default_factory=dict)
    tenant_waiting: Mapping[str, int] = field(default_factory=dict)
    max_running: int = 0
    kv_blocks: int = 0
    block_size: int = 16

    def __repr__(self) -> str:
        return (
            f"EngineFigures(waiting={self.waiting}, running={self.running}, kv_usage={self.kv_usage:.3f}, "
            f"waiting_blocks={self.waiting_blocks}, "
            f"cached_blocks={len(self.cached_block_hashes)}, adapters={list(self.adapters)}, "
            f"tenants={sorted(self.tenant_service)}, tenant_waiting={dict(self.tenant_waiting)}, "
            f"max_running={self.max_running})"
        )

    def to_stats(self) -> dict[str, Any]:
        """The ``record_routing_stats`` dict; ``seq`` grows with each report of this process and
        ``at`` is its wall-clock time (the router measures staleness by it)."""
        return {
            "gpuplane": 1,
            "seq": next(_SEQ),
            "at": time.time(),
            "waiting": self.waiting,
            "running": self.running,
            "kv_usage": self.kv_usage,
            "waiting_blocks": self.waiting_blocks,
            "cached_block_hashes": list(self.cached_block_hashes),
            "resident_adapters": list(self.adapters),
            "tenant_service": dict(self.tenant_service),
            "tenant_waiting": dict(self.tenant_waiting),
            "max_running": self.max_running,
            "kv_blocks": self.kv_blocks,
            "block_size": self.block_size,
        }


def is_report(stats: Mapping[str, Any] | None) -> bool:
    """Whether a replica's routing stats came from :meth:`EngineFigures.to_stats`."""
    return bool(stats) and stats.get("gpuplane") == 1
