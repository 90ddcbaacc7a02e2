"""A real vLLM engine on the tiny model, in process, with a hook on its scheduler (run in the
vLLM stack's python; the tests start it through ``harness.py``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
# The engine core runs in this process so that the tests can read its scheduler.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

GPUPLANE = "gpuplane.vllm.Scheduler"


def make_llm(model: str, scheduler_cls: str | None, **overrides: Any) -> Any:
    """``vllm.LLM`` on the tiny model; ``scheduler_cls`` None is vLLM's own scheduler."""
    from vllm import LLM

    kwargs: dict[str, Any] = dict(
        model=model,
        skip_tokenizer_init=True,
        dtype="float32",
        enforce_eager=True,
        max_model_len=512,
        async_scheduling=False,
        seed=0,
    )
    if scheduler_cls is not None:
        kwargs["scheduler_cls"] = scheduler_cls
    kwargs.update(overrides)
    return LLM(**kwargs)


def scheduler_of(llm: Any) -> Any:
    """The engine core's scheduler (in-process engine core)."""
    return llm.llm_engine.engine_core.engine_core.scheduler


class StepLog:
    """Records every step of a scheduler: wall time and tokens per request."""

    def __init__(self, scheduler: Any) -> None:
        self.steps: list[tuple[float, dict[str, int]]] = []
        self._schedule = scheduler.schedule
        scheduler.schedule = self._record

    def _record(self, *args: Any, **kwargs: Any) -> Any:
        output = self._schedule(*args, **kwargs)
        if output.num_scheduled_tokens:
            self.steps.append((time.monotonic(), dict(output.num_scheduled_tokens)))
        return output

    def take(self) -> list[tuple[float, dict[str, int]]]:
        steps, self.steps = self.steps, []
        return steps


class StatsLog:
    """Records, after every ``update_from_output``, the scheduler's ``make_stats`` (as the engine
    receives it) beside what vLLM's block pool and queues hold at that moment."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.steps: list[dict[str, Any]] = []
        self._update = scheduler.update_from_output
        scheduler.update_from_output = self._record

    def _record(self, *args: Any, **kwargs: Any) -> Any:
        outputs = self._update(*args, **kwargs)
        stats = next((o.scheduler_stats for o in outputs.values() if o.scheduler_stats), None)
        pool = self.scheduler.kv_cache_manager.block_pool
        prefix = stats.prefix_cache_stats
        self.steps.append(
            {
                "kv_cache_usage": stats.kv_cache_usage,
                "get_kv_cache_usage": self.scheduler.get_kv_cache_usage(),
                "pool_usage": 1.0 - pool.get_num_free_blocks() / (pool.num_gpu_blocks - 1),
                "running": stats.num_running_reqs,
                "waiting": stats.num_waiting_reqs,
                "request_counts": list(self.scheduler.get_request_counts()),
                "queues": [len(self.scheduler.running), len(self.scheduler.waiting)],
                "prefix": [prefix.requests, prefix.queries, prefix.hits],
                "core_kv_used": _core_kv_used(self.scheduler),
                "pool_held": pool.num_gpu_blocks - 1 - pool.get_num_free_blocks(),
            }
        )
        return outputs

    def close(self) -> list[dict[str, Any]]:
        del self.scheduler.update_from_output  # back to the class's method
        return self.steps


def _core_kv_used(scheduler: Any) -> int | None:
    core = getattr(scheduler, "core", None)
    return None if core is None else core.metrics().kv_used_blocks


def params(max_tokens: int, logprobs: int | None = None, **extra_args: Any) -> Any:
    from vllm import SamplingParams

    return SamplingParams(
        temperature=0,
        max_tokens=max_tokens,
        detokenize=False,
        ignore_eos=True,
        logprobs=logprobs,
        extra_args=extra_args or None,
    )


def TokensPrompt(prompt_token_ids: list[int]) -> Any:
    from vllm.inputs import TokensPrompt as _TokensPrompt

    return _TokensPrompt(prompt_token_ids=prompt_token_ids)


def prompt(seed: int, length: int) -> Any:
    """A deterministic token prompt."""
    from vllm.inputs import TokensPrompt

    return TokensPrompt(prompt_token_ids=[(seed * 7919 + i * 31) % 2000 + 1 for i in range(length)])


def generate(llm: Any, prompts: Sequence[Any], sampling: Sequence[Any] | Any, **kw: Any) -> list[Any]:
    return llm.generate(list(prompts), sampling, use_tqdm=False, **kw)


def kv_blocks_held(llm: Any) -> int:
    """KV blocks vLLM's pool holds for requests (not free, not evictable cached)."""
    pool = scheduler_of(llm).kv_cache_manager.block_pool
    return pool.num_gpu_blocks - 1 - pool.get_num_free_blocks()
