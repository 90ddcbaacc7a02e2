"""gpuplane.vllm.Scheduler's KV block handling against vLLM's own Scheduler, step by step, in
vLLM's own data structures (tests/vllm_stack/blocks.py): it calls vLLM's ``allocate_slots``
only where a request is admitted, prefills or needs more than one new block, grows the
decode requests that cross into a new block in one pool call (``gpuplane.vllm.blocks``), and
caches a block the step it fills. On the same stream, and on one with shared prefixes: the
same block ids per request, the same cached blocks, the same free count and cached hashes
after every step, the same tokens, and nothing held at the end. In a tight pool
(preemptions): no prefix hit planned on a block vLLM has evicted, and nothing held."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("blocks.py", model, tmp_path_factory.mktemp("vllm-blocks") / "blocks.json")


@pytest.mark.parametrize("pool", ["roomy", "shared"])
def test_every_step_holds_vllms_blocks_and_cache(runs, pool):
    ours, theirs = runs[f"gpuplane_{pool}"], runs[f"vllm_{pool}"]
    assert "error" not in ours, ours["error"]
    assert len(ours["steps"]) == len(theirs["steps"]) > 50
    for step, (a, b) in enumerate(zip(ours["steps"], theirs["steps"], strict=True)):
        assert a.pop("core_holds_lost") == 0, step
        assert a == b, f"step {step} differs"
        for rid, (blocks, _, needed) in a["running"].items():
            assert len(blocks) == needed, (step, rid)
    assert ours["tokens"] == theirs["tokens"]
    assert (ours["held"], ours["requests"]) == (0, 0)


def test_a_prefix_computed_this_step_is_hit_by_a_request_admitted_after_it(runs):
    """vLLM caches a block the step that computes it; the core's plan (kv_eviction "vllm")
    counts it as cached for the requests it admits after it in that step, as vLLM's own
    scheduler does (the steps are compared above)."""
    steps = runs["gpuplane_shared"]["steps"]
    first = next(i for i, s in enumerate(steps) if "3" in s["plan"])
    assert {"0", "3"} <= set(steps[first]["plan"]), "two requests of the shared prefix in one step"
    blocks = steps[first]["running"]
    assert blocks["0"][0][:3] == blocks["3"][0][:3], "the second one's prefix blocks are the first's"


def test_a_tight_pool_preempts_and_the_core_never_plans_a_hit_vllm_lost(runs):
    """60 blocks: preemptions, and resumed requests that would reuse their own prefix blocks.
    The core's pool (kv_eviction "vllm") evicts what vLLM's evicts, so it never plans a
    prefix hit on a block vLLM has handed out again (before: MirrorDiverged). Its plans are
    not vLLM's step for step here: where the head of the queue does not fit the pool, the
    core admits a smaller request behind it (backfill), vLLM waits."""
    ours, theirs = runs["gpuplane_tight"], runs["vllm_tight"]
    assert "error" not in ours, ours["error"]
    assert ours["preemptions"] > 0 and theirs["preemptions"] > 0
    assert [s["core_holds_lost"] for s in ours["steps"]] == [0] * len(ours["steps"])
    for step, s in enumerate(ours["steps"]):
        for rid, (blocks, _, needed) in s["running"].items():
            assert len(blocks) == needed, (step, rid)
    assert ours["tokens"] == theirs["tokens"]
    assert (ours["held"], ours["requests"]) == (0, 0)


def test_the_stream_crosses_and_fills_blocks_in_decode(runs):
    steps = runs["gpuplane_roomy"]["steps"]
    assert max(s["cached_hashes"] for s in steps) > 60
    decode_growth = 0
    for before, after in itertools.pairwise(steps):
        for rid, (blocks, _, _) in after["running"].items():
            grew = rid in before["running"] and len(blocks) > len(before["running"][rid][0])
            decode_growth += grew and after["plan"].get(rid) == 1
    assert decode_growth > 20
