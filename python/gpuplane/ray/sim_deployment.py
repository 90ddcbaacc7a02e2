"""``SimulatedLLM``: a Serve deployment on :class:`~gpuplane.ray.sim_engine.SimulatedEngine`
(CPU only), reporting its figures through :class:`~gpuplane.ray.RoutingStatsMixin`. For
tests and benchmarks: ``serve.deployment(SimulatedLLM).options(...).bind(max_running=8)``.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from ray import serve

import gpuplane
from gpuplane.ray.figures import EngineFigures
from gpuplane.ray.replica import RoutingStatsMixin, figures_from_scheduler
from gpuplane.ray.request import Request
from gpuplane.ray.sim_engine import SimulatedEngine, StepModel, prompt_tokens


class SimulatedLLM(RoutingStatsMixin):
    """One fake-engine replica; ``__call__(Request)`` returns its timings and which replica served it."""

    def __init__(
        self,
        *,
        max_running: int = 8,
        kv_blocks: int = 1024,
        block_size: int = 16,
        policy: str = "fair",
        step_base_s: float = 0.004,
        step_per_token_s: float = 20e-6,
    ) -> None:
        config = gpuplane.BatchConfig(
            max_running=max_running, kv_blocks=kv_blocks, block_size=block_size, policy=policy
        )
        self.engine = SimulatedEngine(config, StepModel(step_base_s, step_per_token_s))
        self.replica_id = serve.get_replica_context().replica_id.unique_id

    async def __call__(self, request: Request) -> dict[str, Any]:
        adapter = serve.get_multiplexed_model_id()
        if adapter:
            await self.load_adapter(adapter)
        g = await self.engine.generate(prompt_tokens(request.prompt), request.tenant, request.max_tokens)
        return {"replica": self.replica_id, "tenant": request.tenant, "adapter": adapter, **asdict(g)}

    @serve.multiplexed(max_num_models_per_replica=2)
    async def load_adapter(self, adapter_id: str) -> str:
        return adapter_id

    def routing_figures(self) -> EngineFigures:
        return figures_from_scheduler(self.engine.scheduler, waiting_blocks=self.engine.waiting_blocks)

    def whoami(self) -> str:
        return self.replica_id

    def crash(self, note: str = "") -> None:
        """Ends the replica's process at once (tests: a replica that dies), first writing its
        id to the file ``note`` when given."""
        if note:
            with open(note, "w") as f:
                f.write(self.replica_id)
        os._exit(1)
