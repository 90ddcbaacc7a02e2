"""vLLM's scheduler contract without a model: a scheduler class (vLLM's or gpuplane's) built on
vLLM's own config, KV cache manager and ``Request`` objects, and a model stand-in that samples
deterministic tokens (run in the vLLM stack's python). Used by the async-scheduling test
(``overlap.py``) and by ``benches/bench_vllm_scheduler.py``."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

BLOCK_SIZE = 16


def make_scheduler(
    cls: type,
    model: str,
    max_num_seqs: int,
    num_blocks: int,
    *,
    token_budget: int = 8192,
    max_model_len: int = 1024,
    async_scheduling: bool = False,
) -> Any:
    """``cls`` on a pool of ``num_blocks`` KV blocks of 16 tokens (plus vLLM's null block)."""
    import torch
    from vllm.config import CacheConfig, DeviceConfig, ModelConfig, SchedulerConfig, VllmConfig
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.structured_output import StructuredOutputManager

    model_config = ModelConfig(
        model=model, dtype="float32", max_model_len=max_model_len, skip_tokenizer_init=True
    )
    scheduler_config = SchedulerConfig(
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=token_budget,
        max_model_len=max_model_len,
        is_encoder_decoder=False,
        async_scheduling=async_scheduling,
    )
    cache_config = CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=True)
    vllm_config = VllmConfig(
        model_config=model_config,
        scheduler_config=scheduler_config,
        cache_config=cache_config,
        device_config=DeviceConfig("cpu"),
    )
    scheduler_config.async_scheduling = async_scheduling  # the CPU platform turns it off
    cache_config.num_gpu_blocks = num_blocks + 1
    spec = FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=1, head_size=1, dtype=torch.float32)
    kv_config = KVCacheConfig(
        num_blocks=num_blocks + 1, kv_cache_tensors=[], kv_cache_groups=[KVCacheGroupSpec(["layer"], spec)]
    )
    return cls(
        vllm_config=vllm_config,
        kv_cache_config=kv_config,
        structured_output_manager=StructuredOutputManager(vllm_config),
        block_size=BLOCK_SIZE,
        log_stats=False,
    )


def requests(prompts: Sequence[int], max_tokens: Sequence[int]) -> list[Any]:
    """vLLM requests with these prompt lengths and output lengths, hashed for prefix caching."""
    from vllm import SamplingParams
    from vllm.utils.hashing import sha256
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.request import Request

    init_none_hash(sha256)
    hasher = get_request_block_hasher(BLOCK_SIZE, sha256)
    return [
        Request(
            str(i),
            [(i * 131 + j) % 2000 + 1 for j in range(prompt)],
            SamplingParams(max_tokens=n, ignore_eos=True, temperature=0),
            None,
            arrival_time=float(i),
            block_hasher=hasher,
        )
        for i, (prompt, n) in enumerate(zip(prompts, max_tokens, strict=True))
    ]


def model_output(scheduler: Any, output: Any) -> Any:
    """What the model returns for a step, called right after ``schedule()``: one token for each
    request whose prompt is complete, a function of its id and position."""
    from vllm.v1.outputs import ModelRunnerOutput

    ids = list(output.num_scheduled_tokens)
    sampled = []
    for r in ids:
        request = scheduler.requests[r]
        token = zlib.crc32(f"{r}:{request.num_computed_tokens}".encode()) % 2000 + 1
        sampled.append([] if request.is_prefill_chunk else [token])
    return ModelRunnerOutput(
        req_ids=ids, req_id_to_index={r: i for i, r in enumerate(ids)}, sampled_token_ids=sampled
    )
