"""One engine step of ``gpuplane.vllm.Scheduler`` in vLLM's terms: the core's plan (numpy
columns) mapped onto vLLM's requests and turned into the parts of vLLM's ``SchedulerOutput``.
The per-request work is column building and the counters vLLM's model runner reads; every
decision (who runs, how many tokens, which requests need new KV blocks) is the plan's."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from itertools import repeat
from operator import add, attrgetter
from typing import Any

import numpy as np
from vllm.v1.core.kv_cache_manager import KVCacheBlocks
from vllm.v1.core.sched.output import CachedRequestData
from vllm.v1.request import Request

# map() with these builds the per-request columns at C speed.
_REQUEST_ID = attrgetter("request_id")
_COMPUTED = attrgetter("num_computed_tokens")
_IN_FLIGHT = attrgetter("num_in_flight_tokens")
_PLACEHOLDERS = attrgetter("num_output_placeholders")
_PREFILL = attrgetter("is_prefill_chunk")
# vLLM's Request.num_output_tokens is len() of this list (vLLM 0.32; the version is gated).
_OUTPUT_IDS = attrgetter("_output_token_ids")
# Runs a map for its effects, in C.
_consume = deque(maxlen=0).extend


class PlannedStep:
    """The core's plan of one step over vLLM's requests: running ones first (in plan order),
    then the admitted ones, with the tokens each computes."""

    def __init__(self, plan: Any, by_core_id: Mapping[int, Request], block_size: int) -> None:
        self.requests: list[Request] = list(map(by_core_id.__getitem__, plan.ids.tolist()))
        self.req_ids: list[str] = list(map(_REQUEST_ID, self.requests))
        self._num_tokens = plan.num_tokens
        self.tokens: list[int] = self._num_tokens.tolist()
        self.num_running = len(self.requests) - len(plan.admitted)
        self.block_size = block_size
        self._new_block_counts = plan.new_block_counts
        self._cached_block_counts = plan.cached_block_counts
        self._allocating: list[int] = []
        # The running requests' computed tokens before this step (read once, in C).
        self.computed_before: list[int] = list(map(_COMPUTED, self.requests[: self.num_running]))
        # KV blocks vLLM allocated this step: by position for running requests (those without
        # new blocks are left out: vLLM's KV manager had nothing to do for them), and with
        # each admitted request.
        self.grown: dict[int, Any] = {}  # new block ids, as vLLM's model runner takes them
        self.new: list[tuple[Request, KVCacheBlocks]] = []
        self.resumed: list[tuple[Request, KVCacheBlocks]] = []

    def running_that_allocate(self) -> tuple[list[int], list[int]]:
        """Positions of the running requests vLLM's KV manager works on this step:
        ``(allocating, caching)``. Allocating: those the core gave new blocks, and prefill
        chunks (vLLM allocates a prompt's blocks chunk by chunk, the core all at admission).
        Caching only: those whose tokens of this step fill a block without needing a new one
        (vLLM's ``allocate_slots`` caches a block the step it fills)."""
        n = self.num_running
        computed = np.asarray(self.computed_before, dtype=np.int64)
        ends = computed + self._num_tokens[:n]
        fills = ends // self.block_size > computed // self.block_size
        grows = self._new_block_counts[:n] > 0
        prefill = np.fromiter(map(_PREFILL, self.requests[:n]), dtype=bool, count=n)
        allocating = grows | prefill
        self._allocating = np.flatnonzero(allocating).tolist()
        return self._allocating, np.flatnonzero(fills & ~allocating).tolist()

    def admitted(self) -> list[tuple[Request, int, int]]:
        """``(request, tokens, cached prefix blocks)`` of each admitted request, in plan order."""
        at = self.num_running
        cached = self._cached_block_counts[at:].tolist()
        return list(zip(self.requests[at:], self.tokens[at:], cached, strict=True))

    def num_scheduled_tokens(self) -> dict[str, int]:
        return dict(zip(self.req_ids, self.tokens, strict=True))

    def cached_request_data(self, prev_scheduled: set[str] | None) -> CachedRequestData:
        """vLLM's ``CachedRequestData`` of the running and resumed requests (before their
        computed tokens advance). ``prev_scheduled``: the ids of the last step for vLLM's V1
        model runner (it needs the whole token list of a request it did not run last step),
        None for the V2 runner."""
        n = self.num_running
        new_block_ids: list[Any] = [None] * n
        for i, ids in self.grown.items():
            new_block_ids[i] = ids
        new_block_ids += [blocks.get_block_ids(allow_none=True) for _, blocks in self.resumed]
        resumed = [r for r, _ in self.resumed]
        reqs = self.requests[:n] + resumed
        req_ids = self.req_ids[:n] + list(map(_REQUEST_ID, resumed))
        all_token_ids = {}
        if prev_scheduled is not None:
            unseen = set(req_ids).difference(prev_scheduled)
            all_token_ids = {r.request_id: r.all_token_ids.copy() for r in reqs if r.request_id in unseen}
        outputs = map(len, map(_OUTPUT_IDS, reqs))
        return CachedRequestData(
            req_ids=req_ids,
            resumed_req_ids={r.request_id for r in resumed},
            new_token_ids=[],
            all_token_ids=all_token_ids,
            new_block_ids=new_block_ids,
            num_computed_tokens=self.computed_before + list(map(_COMPUTED, resumed)),
            num_output_tokens=list(map(add, outputs, map(_PLACEHOLDERS, reqs))),
        )

    def advance(self, sched_step_seq: int | None) -> None:
        """What vLLM's ``_update_after_schedule`` does to each scheduled request: computed and
        in-flight tokens advance, and whether it is still prefilling (which only a prefilling
        or just admitted request can change). The per-request loops run in C (map)."""
        reqs, tokens = self.requests, self.tokens
        computed = self.computed_before + list(map(_COMPUTED, reqs[self.num_running :]))
        _consume(map(setattr, reqs, repeat("num_computed_tokens"), map(add, computed, tokens)))
        in_flight = map(add, map(_IN_FLIGHT, reqs), tokens)
        _consume(map(setattr, reqs, repeat("num_in_flight_tokens"), in_flight))
        running = reqs[: self.num_running]
        for r in [running[i] for i in self._allocating] + reqs[self.num_running :]:
            r.is_prefill_chunk = r.num_computed_tokens < r.num_tokens + r.num_output_placeholders
        if sched_step_seq is not None:
            _consume(map(setattr, reqs, repeat("last_sched_seq"), repeat(sched_step_seq)))

    def add_placeholders(self) -> None:
        """Async scheduling: each sampling request's token of this step is a placeholder until
        its output arrives (vLLM's ``AsyncScheduler``; no speculative tokens on this path)."""
        for r in self.requests:
            if not r.is_prefill_chunk:
                r.num_output_placeholders += 1
                r.spec_token_ids = []
