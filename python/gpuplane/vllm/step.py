"""One engine step of ``gpuplane.vllm.Scheduler`` in vLLM's terms: the core's plan (numpy
columns) mapped onto vLLM's requests and turned into the parts of vLLM's ``SchedulerOutput``.
The per-request work is column building and the counters vLLM's model runner reads; every
decision (who runs, how many tokens, which requests need new KV blocks) is the plan's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from vllm.v1.core.kv_cache_manager import KVCacheBlocks
from vllm.v1.core.sched.output import CachedRequestData
from vllm.v1.request import Request

# The per-request loops are comprehensions over plain attributes: on CPython 3.11 their
# specialized attribute access is faster than map() with attrgetter (measured, 1,024 requests).


class StepRequests:
    """The vLLM requests of the plan's ids, and their request ids: kept from one step to the
    next while the plan runs the same requests in the same order (a pure decode run), since
    a core id names one vLLM request for its whole life."""

    def __init__(self) -> None:
        self._ids = b""  # the last plan's ids, as bytes (compared whole, one C call)
        self.requests: list[Request] = []
        self.req_ids: list[str] = []
        self.same = False  # whether the last ``of`` ran the same requests as the one before
        self._id_set: set[str] = set()
        self._samples = np.empty(0, dtype=bool)
        # When ``same``: whether each request sampled in the last step (vLLM's
        # ``is_prefill_chunk`` is the opposite until this step advances it).
        self.sampled_last: Any = None
        self._ones: dict[str, int] | None = None

    def of(self, plan: Any, by_core_id: Mapping[int, Request]) -> StepRequests:
        unchanged = len(plan.admitted) == 0 and len(plan.preempted) == 0
        ids = plan.ids
        self.same = unchanged and ids.tobytes() == self._ids
        self.sampled_last = self._samples if self.same else None
        self._samples = plan.samples
        if not self.same:
            self._ids = ids.tobytes()
            self.requests = [by_core_id[i] for i in ids.tolist()]
            self.req_ids = [r.request_id for r in self.requests]
            self._id_set = set()
            self._ones = None
        return self

    def decode_tokens(self) -> dict[str, int]:
        """``{request id: 1}``, vLLM's ``num_scheduled_tokens`` of a decode step of these
        requests: kept while they are the same (building it touches every id string). vLLM
        only reads it here (speculative decoding, which trims it, is refused); rebuilt should
        its size or sum ever change."""
        ones = self._ones
        if ones is None or len(ones) != len(self.req_ids) or sum(ones.values()) != len(ones):
            ones = self._ones = dict.fromkeys(self.req_ids, 1)
        return ones

    def id_set(self) -> set[str]:
        """The request ids as a set (vLLM's ``prev_step_scheduled_req_ids``)."""
        if len(self._id_set) != len(self.req_ids):  # new, or cleared by vLLM in place
            self._id_set = set(self.req_ids)
        return self._id_set


class PlannedStep:
    """The core's plan of one step over vLLM's requests: running ones first (in plan order),
    then the admitted ones, with the tokens each computes."""

    def __init__(self, plan: Any, known: StepRequests, block_size: int) -> None:
        self.known = known
        self.requests: list[Request] = known.requests
        self.req_ids: list[str] = known.req_ids
        self._num_tokens = plan.num_tokens
        self.tokens: list[int] = self._num_tokens.tolist()
        self.num_running = len(self.requests) - len(plan.admitted)
        self.block_size = block_size
        self._plan = plan
        self._cached_block_counts = plan.cached_block_counts
        self._allocating: list[int] = []
        # Where each request stood before this step, from the core's counters (the plan was
        # made from them; a check run compares them with vLLM's, ``mirror_differences``):
        # computed tokens (an admitted request's: its prefix hit) and, for the running ones,
        # vLLM's ``num_output_tokens`` (outputs plus placeholders); whether each was
        # prefilling comes from the last plan (``_prefilling``).
        n = self.num_running
        self._computed = plan.computed
        self._prefill = _prefilling(known, self.requests[:n])
        self.computed_before: list[int] = self._computed.tolist()
        self._outputs: list[int] = plan.generated[:n].tolist()
        self._all_ones = plan.total_tokens == len(self.tokens)
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
        self._allocating, caching = self._plan.kv_work(self.num_running, self.block_size, self._prefill)
        return self._allocating, caching

    def mirror_differences(self) -> list[str]:
        """Where the core's counters of the running requests differ from vLLM's (a check run:
        reads every request)."""
        n = self.num_running
        running = self.requests[:n]
        vllm = {
            "num_computed_tokens": [r.num_computed_tokens for r in running],
            "is_prefill_chunk": [r.is_prefill_chunk for r in running],
            "num_output_tokens": _output_counts(running),
        }
        core = {
            "num_computed_tokens": self.computed_before[:n],
            "is_prefill_chunk": self._prefill.tolist(),
            "num_output_tokens": self._outputs,
        }
        return [
            f"{name} of {r.request_id}: vLLM {v}, core {c}"
            for name in vllm
            for r, v, c in zip(running, vllm[name], core[name], strict=True)
            if v != c
        ]

    def admitted(self) -> list[tuple[Request, int, int]]:
        """``(request, tokens, cached prefix blocks)`` of each admitted request, in plan order."""
        at = self.num_running
        cached = self._cached_block_counts[at:].tolist()
        return list(zip(self.requests[at:], self.tokens[at:], cached, strict=True))

    def num_scheduled_tokens(self) -> dict[str, int]:
        if self._all_ones:  # a decode step
            return self.known.decode_tokens()
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
        req_ids = self.req_ids[:n] + [r.request_id for r in resumed]
        all_token_ids = {}
        # Nothing unseen when the step runs the same requests as the last one (whose ids
        # ``prev_scheduled`` still holds: vLLM may clear it, see ``StepRequests.id_set``).
        same = self.known.same and prev_scheduled is self.known.id_set()
        if prev_scheduled is not None and not same:
            unseen = set(req_ids).difference(prev_scheduled)
            if unseen:  # none in a step that runs the same requests as the last one
                reqs = self.requests[:n] + resumed
                all_token_ids = {r.request_id: r.all_token_ids.copy() for r in reqs if r.request_id in unseen}
        return CachedRequestData(
            req_ids=req_ids,
            resumed_req_ids={r.request_id for r in resumed},
            new_token_ids=[],
            all_token_ids=all_token_ids,
            new_block_ids=new_block_ids,
            # Both lists are this step's own (no copy unless there are admissions).
            num_computed_tokens=_joined(self.computed_before, n, [r.num_computed_tokens for r in resumed]),
            num_output_tokens=_joined(self._outputs, n, _output_counts(resumed)),
        )

    def advance(self, sched_step_seq: int | None) -> None:
        """What vLLM's ``_update_after_schedule`` does to each scheduled request: computed and
        in-flight tokens advance, and whether it is still prefilling (which only a prefilling
        or just admitted request can change)."""
        reqs = self.requests
        after = (self._computed + self._num_tokens).tolist()
        if self._all_ones:  # a decode step
            for r, computed in zip(reqs, after, strict=True):
                r.num_computed_tokens = computed
                r.num_in_flight_tokens += 1
        else:
            for r, computed, t in zip(reqs, after, self.tokens, strict=True):
                r.num_computed_tokens = computed
                r.num_in_flight_tokens += t
        for r in [reqs[i] for i in self._allocating] + reqs[self.num_running :]:
            r.is_prefill_chunk = r.num_computed_tokens < r.num_tokens + r.num_output_placeholders
        if sched_step_seq is not None:
            for r in reqs:
                r.last_sched_seq = sched_step_seq

    def add_placeholders(self) -> None:
        """Async scheduling: each sampling request's token of this step is a placeholder until
        its output arrives (vLLM's ``AsyncScheduler``; no speculative tokens on this path)."""
        for r in self.requests:
            if not r.is_prefill_chunk:
                r.num_output_placeholders += 1
                r.spec_token_ids = []


def _joined(values: list[int], n: int, more: list[int]) -> list[int]:
    """``values[:n] + more``, as ``values`` itself when that is all of it."""
    if n == len(values) and not more:
        return values
    return values[:n] + more


def _prefilling(known: StepRequests, running: list[Request]) -> Any:
    """vLLM's ``is_prefill_chunk`` of the running requests before this step, as numpy bools:
    the opposite of whether each sampled in the last step, when the step runs the same
    requests; else read from them."""
    if known.sampled_last is not None:
        return ~known.sampled_last[: len(running)]
    return np.array([r.is_prefill_chunk for r in running], dtype=bool)


def _output_counts(requests: list[Request]) -> list[int]:
    """vLLM's ``Request.num_output_tokens`` plus placeholders, without the property call."""
    return [len(r._output_token_ids) + r.num_output_placeholders for r in requests]
