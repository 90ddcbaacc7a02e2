"""Runs the engine scenarios of the vLLM tests and writes their results as JSON.

Run in the vLLM stack's python (``harness.py`` does): ``scenarios.py MODEL_DIR OUT_JSON``.
Each engine starts once (in this process) and serves every scenario that needs its settings;
a scenario that raises records its traceback instead of its result.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import engine as E

# vLLM CPU uses 128-token KV blocks: 12 blocks hold 1,536 tokens.
SMALL_KV = dict(
    max_num_seqs=8, max_num_batched_tokens=256, num_gpu_blocks_override=13, disable_log_stats=False
)
TENANTS_KV = dict(
    max_num_seqs=4, max_num_batched_tokens=256, num_gpu_blocks_override=13, scheduling_policy="priority"
)
PREEMPT_TOKENS = 120
POLICY = """
[batching]
policy = "fair"
preempt_priority_gap = 1
[tenants.default]
[tenants.heavy]
weight = 1.0
[tenants.light]
weight = 1.0
"""


def core_id_of(scheduler: Any, prefix: str) -> str:
    return next(r for r in scheduler.requests if r.startswith(prefix))


def held(llm: Any) -> dict[str, Any]:
    """KV blocks held by requests in vLLM's pool, and what the core still tracks."""
    sched = E.scheduler_of(llm)
    out: dict[str, Any] = {"vllm_blocks_held": E.kv_blocks_held(llm), "vllm_requests": len(sched.requests)}
    core = getattr(sched, "core", None)
    if core is not None:
        m = core.metrics()
        out.update(
            core_requests=len(core), core_blocks_used=m.kv_used_blocks, core_preemptions=m.total_preemptions
        )
    return out


def drive(
    llm: Any, arrivals: dict[int, list[tuple[str, Any, Any, int]]], max_steps: int = 5000
) -> dict[str, Any]:
    """Steps the engine; at step ``k`` adds ``arrivals[k]`` (id, prompt, params, priority).
    Returns each request's output tokens and finish reason."""
    eng = llm.llm_engine
    done: dict[str, Any] = {}
    step = 0
    while step < max_steps:
        for rid, prompt, params, priority in arrivals.get(step, []):
            eng.add_request(rid, prompt, params, priority=priority)
        if not eng.has_unfinished_requests() and step >= max(arrivals, default=0):
            break
        for out in eng.step():
            if out.finished:
                c = out.outputs[0]
                done[out.request_id] = {"tokens": list(c.token_ids), "finish": c.finish_reason}
        step += 1
    return done


# --- scenarios --------------------------------------------------------------------------------


def equivalence_stream(seed: int = 0) -> tuple[list[Any], list[int]]:
    lengths = [20, 33, 46, 250, 59, 72, 85]
    return [E.prompt(seed + i, n) for i, n in enumerate(lengths)], [16, 12, 16, 8, 16, 20, 16]


def scenario_equivalence(llm: Any, log: E.StepLog) -> dict[str, Any]:
    prompts, max_tokens = equivalence_stream()
    log.take()
    outs = E.generate(llm, prompts, [E.params(n) for n in max_tokens])
    steps = log.take()
    plan = [{r.split("-")[0]: n for r, n in tokens.items()} for _, tokens in steps]
    return {"tokens": [list(o.outputs[0].token_ids) for o in outs], "plan": plan, **held(llm)}


def scenario_stats(llm: Any, log: E.StepLog) -> dict[str, Any]:
    """The stream of ``equivalence`` (other prompts), two of them sharing a 256-token prefix:
    the engine's stats after every step."""
    prompts, max_tokens = equivalence_stream(seed=30)
    shared = list(E.prompt(98, 256)["prompt_token_ids"])
    prompts += [E.TokensPrompt(prompt_token_ids=[*shared, i]) for i in (1, 2)]
    stats = E.StatsLog(E.scheduler_of(llm))
    E.generate(llm, prompts[:-1], [E.params(n) for n in [*max_tokens, 4]])
    E.generate(llm, prompts[-1:], E.params(4))
    log.take()
    return {"steps": stats.close(), **held(llm)}


def scenario_logprobs(llm: Any, log: E.StepLog) -> dict[str, Any]:
    """Steps whose output carries logprobs take vLLM's own update_from_output."""
    prompts = [E.prompt(70 + i, 40) for i in range(3)]
    plain = E.generate(llm, prompts, E.params(8))
    with_logprobs = E.generate(llm, prompts, E.params(8, logprobs=2))
    log.take()
    return {
        "plain": [list(o.outputs[0].token_ids) for o in plain],
        "tokens": [list(o.outputs[0].token_ids) for o in with_logprobs],
        "logprobs": [len(o.outputs[0].logprobs or []) for o in with_logprobs],
        **held(llm),
    }


def scenario_prefix_hit(llm: Any, log: E.StepLog) -> dict[str, Any]:
    shared = list(E.prompt(99, 256)["prompt_token_ids"])
    first = E.generate(llm, [E.TokensPrompt(prompt_token_ids=[*shared, 5, 6, 7])], E.params(4))
    log.take()
    second = E.generate(llm, [E.TokensPrompt(prompt_token_ids=[*shared, 8, 9])], E.params(4))
    steps = log.take()
    return {
        "second_prompt": len(shared) + 2,
        "second_first_step_tokens": next(iter(steps[0][1].values())),
        "first_cached": first[0].num_cached_tokens,
        "second_cached": second[0].num_cached_tokens,
        **held(llm),
    }


def scenario_chunked(llm: Any, log: E.StepLog) -> dict[str, Any]:
    log.take()
    out = E.generate(llm, [E.prompt(7, 500)], E.params(4))
    steps = log.take()
    return {
        "prefill_chunks": [t for _, s in steps for t in s.values() if t > 1],
        "n": len(out[0].outputs[0].token_ids),
        **held(llm),
    }


def scenario_abort(llm: Any, log: E.StepLog) -> dict[str, Any]:
    eng = llm.llm_engine
    for i in range(10):
        eng.add_request(f"ab{i}", E.prompt(40 + i, 40), E.params(60))
    for _ in range(3):
        eng.step()
    sched = E.scheduler_of(llm)
    running = [r.request_id for r in sched.running]
    waiting = [r for r in sched.requests if sched.requests[r] not in sched.running]
    eng.abort_request(
        [running[0].split("-")[0], waiting[-1].split("-")[0]] if waiting else [running[0].split("-")[0]]
    )
    done = drive(llm, {})
    log.take()
    return {
        "finished": sorted(done),
        "lengths": sorted({len(v["tokens"]) for v in done.values()}),
        **held(llm),
    }


def scenario_preempt(llm: Any, log: E.StepLog) -> dict[str, Any]:
    prompts = [E.prompt(60 + i, 200) for i in range(6)]
    log.take()
    outs = E.generate(llm, prompts, E.params(PREEMPT_TOKENS))
    log.take()
    return {"tokens": [list(o.outputs[0].token_ids) for o in outs], "max_tokens": PREEMPT_TOKENS, **held(llm)}


def scenario_bad_metadata(llm: Any, log: E.StepLog) -> dict[str, Any]:
    good = E.params(8, tenant="default")
    bad = [E.params(8, tenant=5), E.params(8, workflow=[1]), E.params(8, deadline_s="soon")]
    outs = E.generate(llm, [E.prompt(80 + i, 30) for i in range(4)], [good, *bad])
    log.take()
    return {"results": [[len(o.outputs[0].token_ids), o.outputs[0].finish_reason] for o in outs], **held(llm)}


def scenario_fairness(llm: Any, log: E.StepLog) -> dict[str, Any]:
    """Heavy sends ten times light's load, all at once: light's share and steps to first token."""
    arrivals = []
    for i in range(44):
        tenant = "light" if i % 11 == 10 else "heavy"
        arrivals.append((f"{tenant}{i}", E.prompt(200 + i, 32), E.params(16, tenant=tenant), 0))
    log.take()
    drive(llm, {0: arrivals})
    return {**fairness_summary(log.take()), **held(llm)}


def fairness_summary(steps: list[tuple[float, dict[str, int]]]) -> dict[str, Any]:
    """Light's share of the tokens scheduled while it had work, and each tenant's mean time
    (seconds from the first step, and steps) to its requests' first scheduled step."""
    tenant = {r: "light" if r.startswith("light") else "heavy" for _, s in steps for r in s}
    last_light = max(i for i, (_, s) in enumerate(steps) if any(tenant[r] == "light" for r in s))
    window = [s for _, s in steps[: last_light + 1]]
    light = sum(n for s in window for r, n in s.items() if tenant[r] == "light")
    first: dict[str, int] = {}
    for i, (_, s) in enumerate(steps):
        for r in s:
            first.setdefault(r, i)
    t0 = steps[0][0]
    summary: dict[str, Any] = {"light_share": light / sum(n for s in window for n in s.values())}
    for name in ("light", "heavy"):
        firsts = [i for r, i in first.items() if tenant[r] == name]
        summary[f"{name}_ttft_steps"] = sum(firsts) / len(firsts)
        summary[f"{name}_ttft_s"] = sum(steps[i][0] - t0 for i in firsts) / len(firsts)
    return summary


def scenario_priority_seq_cap(llm: Any, log: E.StepLog) -> dict[str, Any]:
    """vLLM #40004: max_num_seqs is full of low-priority work when a high-priority request comes."""
    low = [(f"low{i}", E.prompt(300 + i, 16), E.params(120), 5) for i in range(4)]
    high = [("high0", E.prompt(400, 16), E.params(8), 0)]
    log.take()
    drive(llm, {0: low, 6: high})
    steps = [s for _, s in log.take()]
    first_high = next(i for i, s in enumerate(steps) if any(r.startswith("high0") for r in s))
    return {"high_first_step": first_high, "high_arrival_step": 6, **held(llm)}


def scenario_priority_resume(llm: Any, log: E.StepLog) -> dict[str, Any]:
    """vLLM #41951: a preempted request resumes before newer work of its priority. Four long
    requests outgrow the KV pool (12 blocks of 128 tokens) after two newer ones have queued."""
    long = [(f"old{i}", E.prompt(500 + i, 100), E.params(380), 1) for i in range(4)]
    newer = [(f"new{i}", E.prompt(600 + i, 100), E.params(8), 1) for i in range(2)]
    log.take()
    drive(llm, {0: long, 40: newer})
    steps = [{r.split("-")[0] for r in s} for _, s in log.take()]
    return {**resumptions(steps), **held(llm)}


def resumptions(steps: list[set[str]]) -> dict[str, Any]:
    """The step each request first ran, and the step each preempted one ran again."""
    first: dict[str, int] = {}
    resumed: dict[str, int] = {}
    for i, ids in enumerate(steps):
        for r in ids:
            first.setdefault(r, i)
            if i > 0 and r not in steps[i - 1] and first[r] < i:
                resumed.setdefault(r, i)
    return {"first_step": first, "resumed_step": resumed}


ENGINES: list[tuple[str, str | None, dict[str, Any], str | None, list[Callable[..., dict[str, Any]]]]] = [
    ("vllm_fcfs", None, SMALL_KV, None, [scenario_stats, scenario_equivalence, scenario_preempt]),
    (
        "gpuplane_fcfs",
        E.GPUPLANE,
        SMALL_KV,
        None,
        [
            scenario_stats,
            scenario_equivalence,
            scenario_prefix_hit,
            scenario_chunked,
            scenario_abort,
            scenario_preempt,
            scenario_bad_metadata,
            scenario_logprobs,
        ],
    ),
    (
        "vllm_priority",
        None,
        TENANTS_KV,
        None,
        [scenario_fairness, scenario_priority_seq_cap, scenario_priority_resume],
    ),
    (
        "gpuplane_fair",
        E.GPUPLANE,
        TENANTS_KV,
        POLICY,
        [scenario_fairness, scenario_priority_seq_cap, scenario_priority_resume],
    ),
]


def run_engine(
    model: str, name: str, cls: str | None, kw: dict[str, Any], policy: str | None, scenarios: list
) -> dict:
    results: dict[str, Any] = {}
    if policy is not None:
        path = Path(tempfile.mkdtemp()) / "policy.toml"
        path.write_text(policy)
        os.environ["GPUPLANE_POLICY"] = str(path)
    try:
        llm = E.make_llm(model, cls, **kw)
    finally:
        os.environ.pop("GPUPLANE_POLICY", None)
    scheduler = type(E.scheduler_of(llm))
    results["scheduler"] = f"{scheduler.__module__}.{scheduler.__qualname__}"
    log = E.StepLog(E.scheduler_of(llm))
    for scenario in scenarios:
        print(f"== {name}: {scenario.__name__}", file=sys.stderr, flush=True)
        try:
            results[scenario.__name__.removeprefix("scenario_")] = scenario(llm, log)
        except Exception:
            results[scenario.__name__.removeprefix("scenario_")] = {"error": traceback.format_exc()}
    del llm, log
    gc.collect()
    return results


def main(model: str, out: str, only: list[str]) -> None:
    results = {}
    for name, cls, kw, policy, scenarios in ENGINES:
        if only and name not in only:
            continue
        try:
            results[name] = run_engine(model, name, cls, kw, policy, scenarios)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
        Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
