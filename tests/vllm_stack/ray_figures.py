"""gpuplane.ray.VllmFigures fed by a real vLLM engine (vLLM's own scheduler, the tiny model, in
process): every step's ``SchedulerStats`` and every ``KVEventBatch`` its scheduler publishes
(kv cache events on, the null publisher). Run in the vLLM stack's python, without Ray:
``ray_figures.py MODEL OUT.json``; tests/test_ray_vllm_figures.py reads the results."""

from __future__ import annotations

import json
import sys
from typing import Any

import engine
import gpuplane
from gpuplane.ray.state import ReplicaView, RoutingState
from gpuplane.ray.vllm_figures import VllmFigures

BLOCK = 32  # vLLM CPU attention takes multiples of 32
SYSTEM = [(i * 37) % 1500 + 3 for i in range(4 * BLOCK)]  # 4 full blocks shared by every prompt


def feed(llm: Any, figures: VllmFigures) -> dict[str, Any]:
    """Hooks the scheduler so that ``figures`` sees what vLLM publishes; returns counters."""
    sched = engine.scheduler_of(llm)
    seen = {"batches": 0, "stats": 0, "max_waiting": 0, "max_running": 0}
    publish, update = sched.kv_event_publisher.publish, sched.update_from_output

    def on_batch(batch: Any) -> None:
        seen["batches"] += 1
        figures.apply(batch)
        publish(batch)

    def on_update(*args: Any, **kwargs: Any) -> Any:
        outputs = update(*args, **kwargs)
        for o in outputs.values():
            if o.scheduler_stats is not None:
                seen["stats"] += 1
                figures.record(o.scheduler_stats)
                f = figures.figures()
                seen["max_waiting"] = max(seen["max_waiting"], f.waiting)
                seen["max_running"] = max(seen["max_running"], f.running)
        return outputs

    sched.kv_event_publisher.publish = on_batch
    sched.update_from_output = on_update
    return seen


def skipped_events(figures: VllmFigures) -> dict[str, bool]:
    """vLLM's own event objects that the figures must not count: a block whose parent they never
    saw (its prefix is unknown) and a block stored under a LoRA adapter."""
    from vllm.distributed.kv_events import BlockStored

    before = figures.cached_block_hashes()
    tokens = list(range(BLOCK))
    common = {"token_ids": tokens, "block_size": BLOCK, "lora_id": None, "medium": None}
    orphan = BlockStored(block_hashes=[10**9], parent_block_hash=10**9 + 1, lora_name=None, **common)
    lora = BlockStored(block_hashes=[10**9 + 2], parent_block_hash=None, lora_name="my-lora", **common)
    figures.apply([orphan])
    after_orphan = figures.cached_block_hashes()
    figures.apply([lora])
    return {"orphan": after_orphan == before, "lora": figures.cached_block_hashes() == before}


def main(model: str, out: str) -> None:
    from vllm.config import KVEventsConfig

    events = KVEventsConfig(enable_kv_cache_events=True, publisher="null")
    llm = engine.make_llm(
        model,
        None,
        enable_prefix_caching=True,
        block_size=BLOCK,
        kv_events_config=events,
        max_num_seqs=2,
        disable_log_stats=False,  # the scheduler makes SchedulerStats only when stats are logged
    )
    sched = engine.scheduler_of(llm)
    pool = sched.kv_cache_manager.block_pool
    figures = VllmFigures(BLOCK, kv_blocks=pool.num_gpu_blocks, max_running=sched.max_num_running_reqs)
    seen = feed(llm, figures)
    prompts = [SYSTEM + [2000 + i] * (2 * BLOCK + 5) for i in range(5)]
    engine.generate(llm, [engine.TokensPrompt(p) for p in prompts], engine.params(4))
    after = figures.figures()
    stats = sched.make_stats()
    expected = sorted({h for p in prompts for h in gpuplane.prompt_block_hashes(p, BLOCK)})
    state = RoutingState(BLOCK)
    views = [ReplicaView("vllm", 8, after.to_stats()), ReplicaView("other", 8, None)]
    question = SYSTEM + [9] * BLOCK
    choice = state.route(views, "a", "", gpuplane.prompt_block_hashes(question, BLOCK), "q", len(question))
    skipped = skipped_events(figures)
    llm.reset_prefix_cache()
    engine.generate(llm, [engine.TokensPrompt([5] * 8)], engine.params(1))  # a step publishes the clear
    result = {
        "seen": seen,
        "figures_after": {
            "waiting": after.waiting,
            "running": after.running,
            "kv_usage": after.kv_usage,
            "kv_blocks": after.kv_blocks,
            "max_running": after.max_running,
            "cached": list(after.cached_block_hashes),
        },
        "vllm_after": {"waiting": stats.num_waiting_reqs, "running": stats.num_running_reqs},
        "expected_cached": expected,
        "choice": [choice.replica_id, choice.reason],
        "cached_after_reset": figures.cached_block_hashes(),
        "repr": repr(figures),
        "skipped": skipped,
    }
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
