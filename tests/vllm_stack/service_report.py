"""A real engine whose policy comes from a running gpuplane service (``GPUPLANE_SERVICE``, set
by the test) and which reports back the tokens served per tenant. Run in the vLLM stack's
python: ``service_report.py MODEL_DIR OUT_JSON``; writes what the engine's core served each
tenant, what the engine's front-end check answered for an unknown tenant, and the waiting
requests per tenant the service held after a report taken with requests queued."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import engine as E

# (tenant, prompts, prompt length, tokens each)
QUEUED = (("alice", 2, 16, 2), ("bob", 1, 16, 2))  # enqueued together, reported before a step
LOAD = (("alice", 3, 40, 12), ("bob", 1, 24, 6))


def main(model: str, out: str) -> None:
    llm = E.make_llm(model, E.GPUPLANE, max_num_seqs=4, num_gpu_blocks_override=13)
    scheduler = E.scheduler_of(llm)
    results: dict = {"queued_view": queued_view(llm, scheduler)}
    seed = 0
    for tenant, prompts, length, tokens in LOAD:
        batch = [E.prompt(seed + i, length) for i in range(prompts)]
        seed += prompts
        outs = E.generate(llm, batch, E.params(tokens, tenant=tenant))
        results[f"{tenant}_tokens"] = [len(o.outputs[0].token_ids) for o in outs]
    refused = E.generate(llm, [E.prompt(99, 8)], E.params(4, tenant="mallory"))
    results["mallory_finish"] = refused[0].outputs[0].finish_reason
    tenants = scheduler.core.metrics().tenants.values()
    results["core"] = {t.tenant: [t.input_tokens, t.output_tokens, t.service] for t in tenants}
    results["replica_id"] = scheduler._reporter.replica_id
    scheduler.shutdown()  # vLLM's shutdown, then the last report
    Path(out).write_text(json.dumps(results))


def queued_view(llm, scheduler) -> dict[str, int]:
    """Enqueues ``QUEUED`` without stepping, reports once, and returns the waiting requests per
    tenant the service then holds for this replica; then serves them."""
    from gpuplane.client import Client

    for i, (tenant, prompts, length, tokens) in enumerate(QUEUED):
        batch = [E.prompt(100 + 10 * i + j, length) for j in range(prompts)]
        llm.enqueue(batch, E.params(tokens, tenant=tenant), use_tqdm=False)
    assert scheduler._reporter.report(), "the report with requests queued failed"
    with Client(os.environ["GPUPLANE_SERVICE"]) as client:
        view = next(r for r in client.replicas() if r.id == scheduler._reporter.replica_id)
    llm.wait_for_completion(use_tqdm=False)
    return dict(view.tenant_waiting)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
