"""The start-up refusals of ``gpuplane.vllm.Scheduler``: for each vLLM option its fast path does
not cover, the engine's configuration as ``vllm serve``/``LLM`` build it (``EngineArgs``) and
the scheduler built as vLLM's engine core builds it. Writes ``{case: error text or "started"}``.

    refusals.py MODEL_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NUM_BLOCKS = 65
BLOCK_SIZE = 128  # vLLM's CPU platform's block size

# EngineArgs options, one case each (the configuration is built, no model is loaded).
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    "plain": {},
    "speculative": {
        "speculative_config": {
            "method": "ngram",
            "num_speculative_tokens": 2,
            "prompt_lookup_max": 3,
            "prompt_lookup_min": 2,
        }
    },
    "kv_transfer": {"kv_transfer_config": {"kv_connector": "ExampleConnector", "kv_role": "kv_both"}},
    "ec_transfer": {"ec_transfer_config": {"ec_connector": "ECExampleConnector", "ec_role": "ec_both"}},
    "lora": {"enable_lora": True},
    "pipeline_parallel": {"pipeline_parallel_size": 2},
    "pooling": {"runner": "pooling"},
}


def engine_config(model: str, options: dict[str, Any]) -> Any:
    from vllm.engine.arg_utils import EngineArgs

    args = EngineArgs(
        model=model,
        skip_tokenizer_init=True,
        dtype="float32",
        enforce_eager=True,
        max_model_len=512,
        **options,
    )
    config = args.create_engine_config()
    config.cache_config.num_gpu_blocks = NUM_BLOCKS  # what the engine sets after profiling
    return config


def kv_config(groups: list[tuple[str, Any]]) -> Any:
    from vllm.v1.kv_cache_interface import KVCacheConfig, KVCacheGroupSpec

    specs = [KVCacheGroupSpec([layer], spec) for layer, spec in groups]
    return KVCacheConfig(num_blocks=NUM_BLOCKS, kv_cache_tensors=[], kv_cache_groups=specs)


def attention_spec() -> Any:
    import torch
    from vllm.v1.kv_cache_interface import FullAttentionSpec

    return FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=1, head_size=1, dtype=torch.float32)


def mamba_spec() -> Any:
    import torch
    from vllm.v1.kv_cache_interface import MambaSpec

    return MambaSpec(block_size=BLOCK_SIZE, shapes=((1, 1),), dtypes=(torch.float32,))


def start(vllm_config: Any, kv_cache_config: Any) -> str:
    """Builds the scheduler as vLLM's engine core does; "started" or the error it raised."""
    from gpuplane.vllm import Scheduler
    from vllm.v1.structured_output import StructuredOutputManager

    try:
        Scheduler(
            vllm_config=vllm_config,
            kv_cache_config=kv_cache_config,
            structured_output_manager=StructuredOutputManager(vllm_config),
            block_size=vllm_config.cache_config.block_size,
            log_stats=False,
        )
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "started"


def main(model: str, out: str) -> None:
    one_group = kv_config([("layer", attention_spec())])
    results = {name: start(engine_config(model, kw), one_group) for name, kw in ENGINE_OPTIONS.items()}
    plain = engine_config(model, {})
    results["two_kv_cache_groups"] = start(
        plain, kv_config([("a", attention_spec()), ("b", attention_spec())])
    )
    results["mamba_layers"] = start(plain, kv_config([("m", mamba_spec())]))
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
