"""Replica side for a vLLM engine: :class:`EngineFigures` from vLLM's own stat objects.

vLLM hands a deployment two things about its engine: the scheduler's ``SchedulerStats``
(``num_waiting_reqs`` and ``num_skipped_waiting_reqs``, ``num_running_reqs``,
``kv_cache_usage``; a ``StatLoggerBase`` gets
one per step through ``record``) and, with ``kv_events_config`` enabled, its KV cache events
(``BlockStored``, ``BlockRemoved``, ``AllBlocksCleared`` in ``KVEventBatch``es). vLLM names
blocks by its own hashes; the router names them by :func:`gpuplane.prompt_block_hashes`, so
:class:`VllmFigures` rehashes every stored block from its tokens, after its parent's hash
(``parent=``), and keeps the two names side by side until vLLM removes the block.

Blocks stored under a LoRA adapter are not counted: vLLM keys them by the adapter too, so
they serve only requests for that adapter, which the router finds by adapter residency.
Nothing here imports vLLM: the objects are read by their attribute names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gpuplane
from gpuplane.errors import InvalidRequest
from gpuplane.ray.figures import EngineFigures


class VllmFigures:
    """A vLLM engine's figures as the router reads them. ``block_size``: the engine's KV block
    size (also the router's); ``kv_blocks`` and ``max_running`` (vLLM's ``num_gpu_blocks`` and
    ``max_num_seqs``) size the replica."""

    def __init__(self, block_size: int, kv_blocks: int = 0, max_running: int = 0) -> None:
        if not isinstance(block_size, int) or block_size < 1:
            raise InvalidRequest(f"block_size: must be an int >= 1, got {block_size!r}", "block_size")
        self.block_size = block_size
        self.kv_blocks = kv_blocks
        self.max_running = max_running
        self._ours: dict[Any, int] = {}  # vLLM's block hash -> gpuplane's
        self._stats: Any = None

    def __repr__(self) -> str:
        return f"VllmFigures(block_size={self.block_size}, cached_blocks={len(self._ours)})"

    def record(self, scheduler_stats: Any) -> None:
        """Keeps the latest ``SchedulerStats`` (None, as vLLM passes between steps, is ignored)."""
        if scheduler_stats is not None:
            self._stats = scheduler_stats

    def apply(self, events: Any) -> None:
        """Applies KV cache events: a ``KVEventBatch`` or an iterable of its events."""
        for event in getattr(events, "events", events):
            kind = type(event).__name__
            if kind == "BlockStored":
                self._stored(event)
            elif kind == "BlockRemoved":
                for h in event.block_hashes:
                    self._ours.pop(h, None)
            elif kind == "AllBlocksCleared":
                self._ours.clear()

    def cached_block_hashes(self) -> list[int]:
        """The gpuplane hashes of the blocks vLLM holds cached, sorted."""
        return sorted(set(self._ours.values()))

    def figures(
        self,
        adapters: Sequence[str] = (),
        tenant_service: Mapping[str, float] | None = None,
        waiting_blocks: int = 0,
        tenant_waiting: Mapping[str, int] | None = None,
    ) -> EngineFigures:
        """The figures from the latest stats and events; ``adapters``: the LoRA ids loaded
        (vLLM's ``list_loras``, or Serve's multiplexed ids), ``waiting_blocks``: the KV blocks
        the waiting requests' prompts need, ``tenant_service`` and ``tenant_waiting``: served
        tokens and waiting requests per tenant, when the deployment counts them (vLLM's stats
        have no tenants)."""
        s = self._stats
        return EngineFigures(
            waiting=int(getattr(s, "num_waiting_reqs", 0)) + int(getattr(s, "num_skipped_waiting_reqs", 0)),
            running=int(getattr(s, "num_running_reqs", 0)),
            kv_usage=min(1.0, max(0.0, float(getattr(s, "kv_cache_usage", 0.0)))),
            waiting_blocks=waiting_blocks,
            cached_block_hashes=tuple(self.cached_block_hashes()),
            adapters=tuple(adapters),
            tenant_service=dict(tenant_service or {}),
            tenant_waiting=dict(tenant_waiting or {}),
            max_running=self.max_running,
            kv_blocks=self.kv_blocks,
            block_size=self.block_size,
        )

    def _stored(self, event: Any) -> None:
        if getattr(event, "lora_name", None) is not None or getattr(event, "lora_id", None) is not None:
            return
        if event.block_size != self.block_size:
            raise InvalidRequest(
                f"block_size: vLLM stores {event.block_size}-token blocks, the figures hash "
                f"{self.block_size}-token ones",
                "block_size",
            )
        parent = event.parent_block_hash
        if parent is not None and parent not in self._ours:
            return  # its parent was stored before these figures started (or removed): unknown prefix
        ours = gpuplane.prompt_block_hashes(
            list(event.token_ids), self.block_size, parent=None if parent is None else self._ours[parent]
        )
        self._ours.update(zip(event.block_hashes, ours, strict=False))
