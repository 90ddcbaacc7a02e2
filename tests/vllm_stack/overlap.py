"""Async scheduling, which vLLM's CPU platform turns off in a real engine: vLLM's AsyncScheduler
and gpuplane's scheduler (``async_scheduling`` on) driven as EngineCore.step_with_batch_queue
drives them, step N+1 planned before step N's output is applied. Writes JSON per scheduler and KV
pool: per-step plans, tokens per request, the scheduler class and what it holds at the end.

    overlap.py MODEL_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import standalone

PROMPTS = [20, 300, 33, 46, 180, 59, 72, 85, 130, 12]
MAX_TOKENS = [16, 8, 40, 24, 30, 12, 36, 20, 28, 44]
# KV blocks of 16 tokens: room for every request at once, or too few (384 tokens: preemptions).
POOLS = {"roomy": 40, "tight": 24}
# Requests aborted once the step of that number is sent to the model (while it is in flight).
ABORTS = {6: "0", 9: "1", 12: "9"}


def run_pipelined(scheduler: Any, abort_at: dict[int, str] | None = None) -> dict[str, Any]:
    """Drives the scheduler as EngineCore.step_with_batch_queue does; ``abort_at`` aborts a
    request (by id) once the step of that number is sent to the model, while it is in flight."""
    from vllm.v1.request import RequestStatus

    for request in standalone.requests(PROMPTS, MAX_TOKENS):
        scheduler.add_request(request)
    in_flight: deque[tuple[Any, Any]] = deque()
    plans, tokens = [], defaultdict(list)
    while scheduler.has_requests() or in_flight:
        output = scheduler.schedule()
        if output.total_num_scheduled_tokens:
            plans.append(dict(output.num_scheduled_tokens))
            in_flight.append((output, standalone.model_output(scheduler, output)))
        if (abort_at or {}).get(len(plans)) in scheduler.requests:
            scheduler.finish_requests(abort_at[len(plans)], RequestStatus.FINISHED_ABORTED)
        if len(in_flight) == 2 or (in_flight and not output.total_num_scheduled_tokens):
            done, model = in_flight.popleft()
            for outputs in scheduler.update_from_output(done, model).values():
                for out in outputs.outputs:
                    tokens[out.request_id].extend(out.new_token_ids)
    pool = scheduler.kv_cache_manager.block_pool
    core = getattr(scheduler, "core", None)
    return {
        "scheduler": f"{type(scheduler).__module__}.{type(scheduler).__qualname__}",
        "plans": plans,
        "tokens": dict(tokens),
        "blocks_held": pool.num_gpu_blocks - 1 - pool.get_num_free_blocks(),
        "requests_left": len(scheduler.requests),
        "core_left": None if core is None else len(core),
        "core_preemptions": None if core is None else core.metrics().total_preemptions,
    }


def main(model: str, out: str) -> None:
    from gpuplane.vllm import Scheduler
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler

    results = {}
    for pool, blocks in POOLS.items():
        for name, cls in (("vllm", AsyncScheduler), ("gpuplane", Scheduler)):
            scheduler = standalone.make_scheduler(
                cls, model, 4, blocks, token_budget=128, async_scheduling=True
            )
            results[f"{name}_{pool}"] = run_pipelined(scheduler)
    for name, cls in (("vllm", AsyncScheduler), ("gpuplane", Scheduler)):
        scheduler = standalone.make_scheduler(
            cls, model, 4, POOLS["roomy"], token_budget=128, async_scheduling=True
        )
        results[f"{name}_aborts"] = run_pipelined(scheduler, ABORTS)
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
