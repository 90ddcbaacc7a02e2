"""A CPU-only engine for Serve tests and benchmarks: gpuplane's ``BatchScheduler`` decides each
step (continuous batching, KV blocks with a prefix cache, per-tenant fair share) and the step
takes the time a linear step model gives, slept on the event loop. No model runs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import gpuplane


@dataclass(frozen=True)
class StepModel:
    """Seconds per engine step: ``base_s`` plus ``per_token_s`` per token computed."""

    base_s: float = 0.004
    per_token_s: float = 20e-6

    def seconds(self, tokens: int) -> float:
        return self.base_s + self.per_token_s * tokens


@dataclass(frozen=True)
class Generation:
    """One finished request: time to first token, end to end, and prompt tokens found cached."""

    ttft_s: float
    e2e_s: float
    prompt_tokens: int
    cached_tokens: int
    generated: int


def prompt_tokens(prompt: str | Sequence[int]) -> list[int]:
    """Token ids of a prompt: ids as given, or a text's UTF-8 bytes (as the router hashes it)."""
    return list(prompt.encode()) if isinstance(prompt, str) else list(prompt)


class _Pending:
    def __init__(self, loop: asyncio.AbstractEventLoop, prompt_len: int, blocks: int) -> None:
        self.start = time.monotonic()
        self.blocks = blocks
        self.admitted = False
        self.first = loop.create_future()
        self.done = loop.create_future()
        self.prompt_len = prompt_len
        self.cached_tokens = 0


class SimulatedEngine:
    """An async engine: ``await generate(...)`` returns when the request finishes."""

    def __init__(self, config: gpuplane.BatchConfig, step: StepModel | None = None) -> None:
        self.scheduler = gpuplane.BatchScheduler(config)
        self._step = step or StepModel()
        self._ids = itertools.count()
        self._pending: dict[int, _Pending] = {}
        self._wake = asyncio.Event()
        self._t0 = time.monotonic()
        self._loop_task: asyncio.Task[None] | None = None
        self.waiting_blocks = 0
        """KV blocks of the prompts of the requests not yet admitted."""

    async def generate(self, tokens: Sequence[int], tenant: str, max_tokens: int) -> Generation:
        """Queues the request and waits for it to finish."""
        rid = next(self._ids)
        hashes = gpuplane.prompt_block_hashes(list(tokens), self.scheduler.config.block_size)
        now = time.monotonic() - self._t0
        req = gpuplane.Request(rid, tenant, len(tokens), max_tokens, arrival=now, block_hashes=hashes)
        self.scheduler.add(req)
        p = self._pending[rid] = _Pending(asyncio.get_running_loop(), len(tokens), self._blocks(len(tokens)))
        self.waiting_blocks += p.blocks
        self._ensure_running()
        first = await p.first
        generated = await p.done
        return Generation(
            first - p.start, time.monotonic() - p.start, p.prompt_len, p.cached_tokens, generated
        )

    def _blocks(self, tokens: int) -> int:
        return -(-tokens // self.scheduler.config.block_size)

    def _ensure_running(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if len(self.scheduler) == 0:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.scheduler.set_time(time.monotonic() - self._t0)
            plan = self.scheduler.schedule()
            await asyncio.sleep(self._step.seconds(plan.total_tokens))
            self._apply(plan)

    def _apply(self, plan: gpuplane.StepPlan) -> None:
        block_size = self.scheduler.config.block_size
        for rid in plan.admitted.tolist():
            p = self._pending[rid]
            p.cached_tokens = len(plan.blocks(rid)[1]) * block_size
            if not p.admitted:  # preempted and readmitted: counted once
                p.admitted = True
                self.waiting_blocks -= p.blocks
        sampled = [int(i) for i, s in zip(plan.ids.tolist(), plan.samples.tolist(), strict=True) if s]
        now = time.monotonic()
        for rid in sampled:
            first = self._pending[rid].first
            if not first.done():
                first.set_result(now)
        for f in self.scheduler.update({rid: 1 for rid in sampled}):
            self._pending.pop(f.id).done.set_result(f.generated)
