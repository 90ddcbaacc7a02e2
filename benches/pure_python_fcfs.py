"""A straightforward pure-Python continuous-batching scheduler with gpuplane's FCFS rules.

The baseline of ``bench_batching.py``: the same contract and rules as ``gpuplane.BatchScheduler``
under ``policy="fcfs"`` (no prefix cache, no backfill), written the way vLLM's scheduler is, in
plain Python: a deque of waiting requests, a list of running ones, a count of free KV blocks,
a token budget and a sequence cap.

* ``schedule()`` serves running requests first, in admission order, each catching up on its
  outstanding tokens (prompt plus generated, minus computed) within the budget; a request that
  needs a KV block when none is free preempts the newest running request (recompute), which
  goes back to the front of the waiting queue.
* If nothing was preempted, waiting requests are admitted in order while the budget, the
  sequence cap and the pool allow; admission needs blocks for the whole prompt above the
  watermark.
* ``update(generated)`` adds generated tokens and finishes requests at ``max_new_tokens``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Req:
    """One request's state."""

    id: int
    prompt_len: int
    max_new_tokens: int
    generated: int = 0
    computed: int = 0
    blocks: int = 0

    @property
    def known(self) -> int:
        return self.prompt_len + self.generated


@dataclass(slots=True)
class Scheduled:
    """One request's share of a step."""

    id: int
    num_tokens: int
    samples: bool


class PurePythonFcfs:
    """Continuous batching, FCFS, in plain Python."""

    def __init__(
        self, token_budget: int, max_running: int, kv_blocks: int, block_size: int, watermark: float = 0.01
    ):
        self.token_budget = token_budget
        self.max_running = max_running
        self.block_size = block_size
        self.watermark_blocks = int(watermark * kv_blocks)
        self.free_blocks = kv_blocks
        self.waiting: deque[Req] = deque()
        self.running: list[Req] = []
        self.requests: dict[int, Req] = {}
        self.preemptions = 0

    def __len__(self) -> int:
        return len(self.requests)

    def add(self, id: int, prompt_len: int, max_new_tokens: int) -> None:
        req = Req(id, prompt_len, max_new_tokens)
        self.requests[id] = req
        self.waiting.append(req)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def schedule(self) -> list[Scheduled]:
        budget = self.token_budget
        out: list[Scheduled] = []
        preempted = False
        i = 0
        while i < len(self.running) and budget > 0:
            req = self.running[i]
            tokens = min(req.known - req.computed, budget)
            need = self.blocks_for(req.computed + tokens) - req.blocks
            while need > self.free_blocks:
                victim = self.running.pop()  # newest; never one already served this step
                self.preempt(victim)
                preempted = True
                if victim is req:
                    break
            if req.blocks == 0:  # it was the newest and preempted itself
                break
            req.blocks += need
            self.free_blocks -= need
            req.computed += tokens
            budget -= tokens
            out.append(Scheduled(req.id, tokens, req.computed == req.known))
            i += 1
        if not preempted:
            budget = self.admit(budget, out)
        return out

    def preempt(self, req: Req) -> None:
        self.free_blocks += req.blocks
        req.blocks = 0
        req.computed = 0
        self.waiting.appendleft(req)
        self.preemptions += 1

    def admit(self, budget: int, out: list[Scheduled]) -> int:
        while self.waiting and budget > 0 and len(self.running) < self.max_running:
            req = self.waiting[0]
            need = self.blocks_for(req.known)
            if need > self.free_blocks - self.watermark_blocks:
                break
            self.waiting.popleft()
            req.blocks = need
            self.free_blocks -= need
            tokens = min(req.known, budget)
            req.computed = tokens
            budget -= tokens
            self.running.append(req)
            out.append(Scheduled(req.id, tokens, req.computed == req.known))
        return budget

    def update(self, generated: dict[int, int]) -> list[int]:
        """Applies generated tokens; returns the ids that finished (their blocks are freed)."""
        finished = []
        for id, n in generated.items():
            req = self.requests[id]
            req.generated = min(req.generated + n, req.max_new_tokens)
            if req.generated >= req.max_new_tokens:
                finished.append(id)
        if finished:
            for id in finished:
                req = self.requests.pop(id)
                self.free_blocks += req.blocks
            self.running = [r for r in self.running if r.id in self.requests]
        return finished
