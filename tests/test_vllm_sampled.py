"""``update_from_output``'s short path for plain decode tokens (``gpuplane.vllm.sampled``)
against vLLM's own ``update_from_output``, step by step, in vLLM's data structures with a model
stand-in (tests/vllm_stack/sampled.py): the same outputs (tokens, finish and stop reasons) in
every step, the same block hashes per request, nothing held at the end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def sampled(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("sampled.py", model, tmp_path_factory.mktemp("vllm-sampled") / "sampled.json")


def test_every_step_outputs_what_vllms_update_outputs(sampled):
    ours, theirs = sampled["gpuplane"], sampled["vllm"]
    assert ours["steps"] == theirs["steps"]
    assert ours["block_hashes"] == theirs["block_hashes"]
    assert ours["blocks_held"] == theirs["blocks_held"] == 0


def test_the_stream_stops_every_way_and_mostly_takes_the_short_path(sampled):
    reasons = [o[2] for step in sampled["vllm"]["steps"] for o in step if o[2] is not None]
    stops = [o[3] for step in sampled["vllm"]["steps"] for o in step if o[3] is not None]
    assert "stop" in reasons and "length" in reasons and stops
    tokens = sum(len(o[1]) for step in sampled["gpuplane"]["steps"] for o in step)
    assert tokens // 2 < sampled["gpuplane"]["short_path_tokens"] < tokens
