"""One engine step of ``gpuplane.vllm.Scheduler`` in vLLM's terms: the core's plan (numpy
columns) mapped onto vLLM's requests and turned into the parts of vLLM's ``SchedulerOutput``.
The per-request work is column building and the counters vLLM's model runner reads; every
decision (who runs, how many tokens, which requests need new KV blocks) is the plan's."""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from vllm.v1.core.kv_cache_manager import KVCacheBlocks
from vllm.v1.core.sched.output import CachedRequestData
from vllm.v1.request import Request

# map() with these builds the per-request columns at C speed.
_REQUEST_ID = attrgetter("request_id")
_COMPUTED = attrgetter("num_computed_tokens")


class PlannedStep:
    """The core's plan of one step over vLLM's requests: running ones first (in plan order),
    then the admitted ones, with the tokens each computes."""

    def __init__(self, plan: Any, by_core_id: Mapping[int, Request]) -> None:
        self.requests: list[Request] = list(map(by_core_id.__getitem__, plan.ids.tolist()))
        self.req_ids: list[str] = list(map(_REQUEST_ID, self.requests))
        self.tokens: list[int] = plan.num_tokens.tolist()
        self.num_running = len(self.requests) - len(plan.admitted)
        self._new_block_counts = plan.new_block_counts
        self._cached_block_counts = plan.cached_block_counts
        self._allocating: list[int] = []
        # KV blocks vLLM allocated this step: by position for running requests (those without
        # new blocks are left out: vLLM's KV manager had nothing to do for them), and with
        # each admitted request.
        self.grown: dict[int, KVCacheBlocks] = {}
        self.new: list[tuple[Request, KVCacheBlocks]] = []
        self.resumed: list[tuple[Request, KVCacheBlocks]] = []

    def running_that_allocate(self) -> list[int]:
        """Positions of the running requests for which vLLM's KV manager allocates: those the
        core gave new blocks, and prefill chunks (vLLM allocates a prompt's blocks chunk by
        chunk, the core all at admission)."""
        n = self.num_running
        positions = set(self._new_block_counts[:n].nonzero()[0].tolist())
        positions.update(i for i, r in enumerate(self.requests[:n]) if r.is_prefill_chunk)
        self._allocating = sorted(positions)
        return self._allocating

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
        for i, blocks in self.grown.items():
            new_block_ids[i] = blocks.get_block_ids(allow_none=True)
        new_block_ids += [blocks.get_block_ids(allow_none=True) for _, blocks in self.resumed]
        resumed = [r for r, _ in self.resumed]
        reqs = self.requests[:n] + resumed
        all_token_ids = {}
        if prev_scheduled is not None:
            all_token_ids = {
                r.request_id: r.all_token_ids.copy() for r in reqs if r.request_id not in prev_scheduled
            }
        return CachedRequestData(
            req_ids=self.req_ids[:n] + list(map(_REQUEST_ID, resumed)),
            resumed_req_ids={r.request_id for r in resumed},
            new_token_ids=[],
            all_token_ids=all_token_ids,
            new_block_ids=new_block_ids,
            num_computed_tokens=list(map(_COMPUTED, reqs)),
            num_output_tokens=[r.num_output_tokens + r.num_output_placeholders for r in reqs],
        )

    def advance(self, sched_step_seq: int | None) -> None:
        """What vLLM's ``_update_after_schedule`` does to each scheduled request: computed and
        in-flight tokens advance, and whether it is still prefilling (which only a prefilling
        or just admitted request can change)."""
        for r, n in zip(self.requests, self.tokens, strict=True):
            r.num_computed_tokens += n
            r.num_in_flight_tokens += n
        running = self.requests[: self.num_running]
        for r in [running[i] for i in self._allocating] + self.requests[self.num_running :]:
            r.is_prefill_chunk = r.num_computed_tokens < r.num_tokens + r.num_output_placeholders
        if sched_step_seq is not None:
            for r in self.requests:
                r.last_sched_seq = sched_step_seq

    def add_placeholders(self) -> None:
        """Async scheduling: each sampling request's token of this step is a placeholder until
        its output arrives (vLLM's ``AsyncScheduler``; no speculative tokens on this path)."""
        for r in self.requests:
            if not r.is_prefill_chunk:
                r.num_output_placeholders += 1
                r.spec_token_ids = []
