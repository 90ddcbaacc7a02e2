"""vLLM's Scheduler and gpuplane's on one request stream in vLLM's own data structures (no
model; vLLM's KV cache manager with prefix caching), synchronous steps: after every step, each
running request's KV block ids and cached block count, the pool's free blocks and the set of
cached block hashes. Writes JSON per scheduler and pool.

    blocks.py MODEL_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import standalone

# 60 requests; prompts of 10..150 tokens, 8..71 tokens each: decode steps cross and fill
# 16-token blocks at every offset. "shared": the same requests, every third one's prompt
# behind a 48-token prefix shared with others (several admitted in one step: vLLM caches a
# block the step that computes it, so a request admitted after it in that step hits it).
COUNT = 60
MAX_TOKENS = [8 + (i * 37) % 64 for i in range(COUNT)]
RUNS = {"roomy": (400, False), "tight": (60, False), "shared": (400, True)}  # tight: preemptions
SHARED_PREFIX = [7 + j for j in range(48)]


def prompt(i: int, shared: bool = False) -> list[int]:
    own = [(i * 131 + j) % 2000 + 1 for j in range(10 + (i * 53) % 140)]
    return SHARED_PREFIX + own if shared and i % 3 == 0 else own


def core_holds_lost(scheduler: Any) -> int:
    """How many prefix blocks the core may plan a hit on that vLLM's pool no longer holds."""
    from gpuplane.vllm.scheduler import core_block_hash

    pool = scheduler.kv_cache_manager.block_pool
    held = {core_block_hash(key[:-4]) for key in pool.cached_block_hash_to_block._cache}
    return len(set(scheduler.core.cached_block_hashes()) - held)


def snapshot(scheduler: Any) -> dict[str, Any]:
    manager = scheduler.kv_cache_manager.coordinator.single_type_managers[0]
    pool = scheduler.kv_cache_manager.block_pool
    running = {
        r.request_id: [
            [b.block_id for b in manager.req_to_blocks[r.request_id]],
            manager.num_cached_block.get(r.request_id, 0),
            -(-r.num_computed_tokens // standalone.BLOCK_SIZE),
        ]
        for r in scheduler.running
    }
    snap = {
        "running": running,
        "free": pool.get_num_free_blocks(),
        "cached_hashes": len(pool.cached_block_hash_to_block),
    }
    if hasattr(scheduler, "core"):
        snap["core_holds_lost"] = core_holds_lost(scheduler)
    return snap


def run(cls: type, model: str, blocks: int, shared: bool) -> dict[str, Any]:
    from vllm import SamplingParams
    from vllm.utils.hashing import sha256
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.request import Request

    scheduler = standalone.make_scheduler(cls, model, 16, blocks, token_budget=256)
    init_none_hash(sha256)
    hasher = get_request_block_hasher(standalone.BLOCK_SIZE, sha256)
    for i in range(COUNT):
        params = SamplingParams(max_tokens=MAX_TOKENS[i], ignore_eos=True, temperature=0)
        tokens = prompt(i, shared)
        request = Request(str(i), tokens, params, None, arrival_time=float(i), block_hasher=hasher)
        scheduler.add_request(request)
    steps, tokens, preemptions = [], defaultdict(list), 0
    while scheduler.has_requests() and len(steps) < 3000:
        output = scheduler.schedule()
        preemptions += len(output.preempted_req_ids or ())
        model_output = standalone.model_output(scheduler, output)
        for rid, i in model_output.req_id_to_index.items():
            tokens[rid] += model_output.sampled_token_ids[i]
        scheduler.update_from_output(output, model_output)
        steps.append({"plan": dict(output.num_scheduled_tokens), **snapshot(scheduler)})
    pool = scheduler.kv_cache_manager.block_pool
    return {
        "steps": steps,
        "tokens": dict(tokens),
        "held": pool.num_gpu_blocks - 1 - pool.get_num_free_blocks(),
        "requests": len(scheduler.requests),
        "preemptions": preemptions,
    }


def main(model: str, out: str) -> None:
    from gpuplane.vllm import Scheduler
    from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler

    results = {}
    for pool, (blocks, shared) in RUNS.items():
        for name, cls in (("vllm", VllmScheduler), ("gpuplane", Scheduler)):
            print(f"== {name} {pool}", file=sys.stderr, flush=True)
            try:
                results[f"{name}_{pool}"] = run(cls, model, blocks, shared)
            except Exception:
                results[f"{name}_{pool}"] = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
