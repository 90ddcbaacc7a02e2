"""KV blocks for the decode requests that cross into a new block this step, all at once.

vLLM's ``allocate_slots`` does, for a decode request of a plain full-attention cache whose
step needs one new block and caches nothing new (the block it filled was cached the step it
filled: ``Scheduler._cache_filled``): take one block from the pool, append it to the request's
blocks, and record it for zeroing where the worker zeroes new blocks. ``DecodeBlocks`` does
exactly that for every such request of the step with one ``BlockPool.get_new_blocks`` call,
so the per-request work is two C-level maps. Anything else (a partial prefix hit's copy on
write, another cache type, a request whose vLLM block count is not one short) goes through
``allocate_slots``. The equivalence (same blocks, same cached blocks, nothing leaked) is
checked against vLLM's own scheduler in tests/test_vllm_blocks.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from vllm.v1.core.single_type_kv_cache_manager import FullAttentionManager
from vllm.v1.request import Request

_consume = deque(maxlen=0).extend


def plain_full_attention(kv_cache_manager: Any) -> Any | None:
    """The one full-attention manager of ``kv_cache_manager``, or None (other layouts)."""
    coordinator = kv_cache_manager.coordinator
    managers = coordinator.single_type_managers
    if getattr(coordinator, "num_reprefillable_tokens", 0) != 0:
        return None
    if len(managers) != 1 or type(managers[0]) is not FullAttentionManager:
        return None
    manager = managers[0]
    # Hash blocks smaller than cache blocks cache partial tails: vLLM's own path then.
    return manager if manager.block_size == manager.block_pool.hash_block_size else None


class DecodeBlocks:
    """Grows, in one pool call, the requests that need exactly one new KV block."""

    def __init__(self, kv_cache_manager: Any) -> None:
        self.manager = plain_full_attention(kv_cache_manager)

    def split(self, requests: Sequence[Request], ends: Sequence[int]) -> tuple[list[int], list[int]]:
        """``(bulk, others)``: positions of the requests (with ``ends`` tokens once this step
        is computed) that one new block serves, and the rest."""
        if self.manager is None:
            return [], list(range(len(requests)))
        m = self.manager
        size, partial, by_id = m.block_size, m._partial_hit_reqs, m.req_to_blocks
        bulk, others = [], []
        for i, (r, end) in enumerate(zip(requests, ends, strict=True)):
            rid = r.request_id
            one_short = -(-end // size) - len(by_id[rid]) == 1
            (bulk if one_short and rid not in partial and not r.is_prefill_chunk else others).append(i)
        return bulk, others

    def cache_filled(self, requests: Sequence[Request], ends: Sequence[int]) -> bool:
        """Caches the blocks ``requests`` filled this step (``ends`` tokens once computed, at
        most their known tokens): ``FullAttentionManager.cache_blocks`` without the
        coordinator's per-call work (replay boundaries and the block mask, which full
        attention does not use). False when this cache layout needs vLLM's own path."""
        m = self.manager
        if m is None:
            return False
        if not (m.enable_caching and m.kv_cache_spec.prefix_cacheable):
            return True
        size, pool, cached, by_id = m.block_size, m.block_pool, m.num_cached_block, m.req_to_blocks
        for r, end in zip(requests, ends, strict=True):
            rid, full = r.request_id, min(end, r.num_tokens) // size
            done = cached.get(rid, 0)
            if done < full:
                pool.cache_full_blocks(r, by_id[rid], done, full, size, m.kv_cache_group_id, None)
                cached[rid] = full
        return True

    def grow(self, requests: Sequence[Request]) -> list[tuple[list[int]]]:
        """One new block for each request; their new block ids as vLLM's model runner takes
        them (``([block_id],)``)."""
        m = self.manager
        blocks = m.block_pool.get_new_blocks(len(requests))
        by_id = m.req_to_blocks
        _consume(map(list.append, [by_id[r.request_id] for r in requests], blocks))
        if m._record_new_block_ids:
            m.new_block_ids.extend(b.block_id for b in blocks)
        return [([b.block_id],) for b in blocks]
