"""What ``gpuplane.vllm.Scheduler`` takes from vLLM's configuration: the core's
``BatchConfig``, and the refusal of features its fast path does not cover."""

from __future__ import annotations

from typing import Any

import gpuplane
from gpuplane.vllm.policy_file import PolicyFile

# vLLM's scheduling policy -> the core's batch policy (a policy file's `batching.policy` wins).
POLICY_OF_VLLM = {"fcfs": "fcfs", "priority": "priority"}


class UnsupportedVllmFeature(gpuplane.GpuplaneError, ValueError):
    """vLLM is configured with a feature gpuplane.vllm.Scheduler does not cover; names the option."""


def _unsupported(vllm_config: Any, kv_cache_config: Any) -> list[tuple[str, bool]]:
    model, parallel = vllm_config.model_config, vllm_config.parallel_config
    return [
        ("speculative_config", vllm_config.speculative_config is not None),
        ("kv_transfer_config", vllm_config.kv_transfer_config is not None),
        ("ec_transfer_config", vllm_config.ec_transfer_config is not None),
        ("lora_config", vllm_config.lora_config is not None),
        ("an encoder-decoder model", bool(model.is_encoder_decoder)),
        ("multimodal inputs (model supports_multimodal_inputs)", bool(model.supports_multimodal_inputs)),
        ("pipeline_parallel_size > 1", parallel.pipeline_parallel_size > 1),
        ("more than one KV cache group", len(kv_cache_config.kv_cache_groups) != 1),
        ("kv_cache_groups with Mamba layers", bool(kv_cache_config.has_mamba_layers)),
        ("pooling runner", model.runner_type == "pooling"),
    ]


def refuse_unsupported(vllm_config: Any, kv_cache_config: Any) -> None:
    """Raises ``UnsupportedVllmFeature`` naming the first enabled option the fast path lacks."""
    for option, enabled in _unsupported(vllm_config, kv_cache_config):
        if enabled:
            raise UnsupportedVllmFeature(
                f"gpuplane.vllm.Scheduler does not support {option}; disable it or use vLLM's own scheduler"
            )


def batch_config(scheduler: Any, policy: PolicyFile, kv_blocks: int) -> gpuplane.BatchConfig:
    """The core's configuration for one vLLM engine: its budgets, KV pool and policy."""
    sched = scheduler.scheduler_config
    batching = dict(policy.batching)
    batching.setdefault("policy", POLICY_OF_VLLM.get(str(sched.policy), "fcfs"))
    return gpuplane.BatchConfig(
        token_budget=scheduler.max_num_scheduled_tokens,
        max_running=scheduler.max_num_running_reqs,
        kv_blocks=kv_blocks,
        block_size=scheduler.block_size,
        watermark=float(sched.watermark),
        long_prefill_token_threshold=int(sched.long_prefill_token_threshold or 0),
        chunked_prefill=bool(sched.enable_chunked_prefill),
        kv_eviction="vllm",
        **batching,
    )
