"""gpuplane.vllm.Scheduler's KV block handling against vLLM's own Scheduler, step by step, in
vLLM's own data structures (tests/vllm_stack/blocks.py): it calls vLLM's ``allocate_slots``
only where a request is admitted, prefills or needs more than one new block, grows the
decode requests that cross into a new block in one pool call (``gpuplane.vllm.blocks``), and
caches a block the step it fills. On the same stream, with and without preemption: the same
block ids per request, the same cached blocks, the same free count and cached hashes after
every step, the same tokens, and nothing held at the end."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    out = tmp_path_factory.mktemp("vllm-blocks") / "blocks.json"
    harness.run("blocks.py", str(model), str(out))
    return json.loads(out.read_text())


TIGHT_MIRROR_BUG = pytest.mark.xfail(
    strict=True,
    reason="known, not fixed here: with preemptions in a tight pool the core reuses a resumed "
    "request's own prefix blocks that vLLM has evicted (MirrorDiverged 'vLLM lost prefix blocks'), "
    "before and after the bulk decode growth",
)


@pytest.mark.parametrize("pool", ["roomy", pytest.param("tight", marks=TIGHT_MIRROR_BUG)])
def test_every_step_holds_vllms_blocks_and_cache(runs, pool):
    ours, theirs = runs[f"gpuplane_{pool}"], runs[f"vllm_{pool}"]
    assert "error" not in ours, ours["error"]
    assert len(ours["steps"]) == len(theirs["steps"]) > 50
    for step, (a, b) in enumerate(zip(ours["steps"], theirs["steps"], strict=True)):
        assert a == b, f"step {step} differs"
        for rid, (blocks, _, needed) in a["running"].items():
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
