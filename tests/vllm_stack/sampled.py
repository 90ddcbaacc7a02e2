"""The short path of ``update_from_output`` (``gpuplane.vllm.sampled``) beside vLLM's own, in
vLLM's data structures with a model stand-in: requests that stop on a stop token, on
``max_tokens`` and on ``max_model_len``, tokens that complete hash blocks. Writes JSON per
scheduler: each step's outputs (request, new tokens, finish and stop reasons), every request's
block hashes at its end, and how many tokens took gpuplane's short path.

    sampled.py MODEL_DIR OUT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import standalone

PROMPTS = [20, 40, 33, 46, 18, 59, 72, 85, 30, 12, 64, 47]
MAX_TOKENS = [60, 80, 40, 70, 90, 50, 36, 75, 28, 100, 65, 45]
MAX_MODEL_LEN = 128  # the longest prompts stop on the model length, not on max_tokens
STOP_TOKENS = list(range(37, 2001, 37))  # the stand-in samples in 1..2000: about 1 in 37


def requests() -> list[Any]:
    from vllm import SamplingParams
    from vllm.utils.hashing import sha256
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.request import Request

    init_none_hash(sha256)
    hasher = get_request_block_hasher(standalone.BLOCK_SIZE, sha256)
    return [
        Request(
            str(i),
            [(i * 131 + j) % 2000 + 1 for j in range(prompt)],
            SamplingParams(max_tokens=n, temperature=0, stop_token_ids=STOP_TOKENS if i % 2 else None),
            None,
            arrival_time=float(i),
            block_hasher=hasher,
        )
        for i, (prompt, n) in enumerate(zip(PROMPTS, MAX_TOKENS, strict=True))
    ]


def run(scheduler: Any) -> dict[str, Any]:
    reqs = requests()
    for request in reqs:
        scheduler.add_request(request)
    steps = []
    while scheduler.has_requests():
        output = scheduler.schedule()
        model = standalone.model_output(scheduler, output)
        step = []
        for outputs in scheduler.update_from_output(output, model).values():
            for o in outputs.outputs:
                reason = None if o.finish_reason is None else str(o.finish_reason)
                step.append([o.request_id, list(o.new_token_ids), reason, o.stop_reason])
        steps.append(sorted(step))
    pool = scheduler.kv_cache_manager.block_pool
    return {
        "steps": steps,
        "block_hashes": {r.request_id: [bytes(h).hex() for h in r.block_hashes] for r in reqs},
        "blocks_held": pool.num_gpu_blocks - 1 - pool.get_num_free_blocks(),
    }


def main(model: str, out: str) -> None:
    import gpuplane.vllm.outputs as outputs
    from gpuplane.vllm import Scheduler
    from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler

    short = [0]
    append = outputs.append_token

    def counted(*args: Any) -> None:
        short[0] += 1
        append(*args)

    outputs.append_token = counted
    results = {}
    for name, cls in (("vllm", VllmScheduler), ("gpuplane", Scheduler)):
        scheduler = standalone.make_scheduler(
            cls, model, 8, 200, token_budget=256, max_model_len=MAX_MODEL_LEN
        )
        results[name] = run(scheduler)
    results["gpuplane"]["short_path_tokens"] = short[0]
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
