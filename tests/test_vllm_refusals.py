"""gpuplane.vllm.Scheduler refuses to start, naming the option, when vLLM is configured with a
feature its fast path does not cover. The configurations are built by vLLM's ``EngineArgs``
(what ``vllm serve`` and ``LLM`` do) and the scheduler as vLLM's engine core builds it, in the
vLLM stack's python (tests/vllm_stack/refusals.py); no model is loaded. Encoder-decoder and
multimodal models are refused by the same check but are not tested: the tiny Llama is neither."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def refusals(tmp_path_factory) -> dict[str, str]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("refusals.py", model, tmp_path_factory.mktemp("vllm-refusals") / "refusals.json")


def test_a_plain_configuration_starts(refusals):
    assert refusals["plain"] == "started"


@pytest.mark.parametrize(
    ("case", "option"),
    [
        ("speculative", "speculative_config"),
        ("kv_transfer", "kv_transfer_config"),
        ("ec_transfer", "ec_transfer_config"),
        ("lora", "lora_config"),
        ("pipeline_parallel", "pipeline_parallel_size > 1"),
        ("pooling", "pooling runner"),
        ("two_kv_cache_groups", "more than one KV cache group"),
        ("mamba_layers", "kv_cache_groups with Mamba layers"),
    ],
)
def test_an_unsupported_option_refuses_to_start_naming_it(refusals, case, option):
    assert refusals[case] == (
        f"UnsupportedVllmFeature: gpuplane.vllm.Scheduler does not support {option}; "
        "disable it or use vLLM's own scheduler"
    )
