"""gpuplane.vllm.Scheduler beside vLLM's own Scheduler, measured in the same run.

1. Scheduler cost per step, in vLLM's own data structures (``vllm.v1.request.Request``,
   ``SchedulerOutput``, ``ModelRunnerOutput``, the KV cache manager), without a model: 64, 256
   and 1,024 running requests in decode with 10,000 waiting (``max_num_seqs`` binds). Each
   decode step samples one token per request; p50 of ``schedule()`` and of
   ``update_from_output()`` over the timed steps, in CPU time of the calling thread (both
   schedulers run in it; on a shared machine other processes would inflate wall time, and
   on an idle one the two agree).
2. End to end: the tiny random Llama in a real engine, tokens/s with each scheduler.

Run in the vLLM stack's python (scripts/stacks/vllm.sh), with gpuplane on PYTHONPATH:

    PYTHONPATH=python $STACK/bin/python benches/bench_vllm_scheduler.py [--steps 30] [--quick]
        [--running 64 256 1024] [--no-e2e | --e2e-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "vllm_stack"))

import standalone

WAITING = 10_000
PROMPT = 64
MAX_TOKENS = 900  # none finishes while timed


def timed_steps(scheduler: Any, steps: int) -> tuple[list[float], list[float]]:
    schedule_s, update_s = [], []
    for _ in range(steps):
        t0 = time.thread_time()
        output = scheduler.schedule()
        t1 = time.thread_time()
        mro = standalone.model_output(scheduler, output)
        t2 = time.thread_time()
        scheduler.update_from_output(output, mro)
        t3 = time.thread_time()
        schedule_s.append(t1 - t0)
        update_s.append(t3 - t2)
    return schedule_s, update_s


def in_decode(cls: type, model: str, running: int) -> Any:
    """A scheduler of ``cls`` with ``running`` requests decoding and ``WAITING`` waiting."""
    n = running + WAITING
    blocks = running * ((PROMPT + MAX_TOKENS) // standalone.BLOCK_SIZE + 2)
    scheduler = standalone.make_scheduler(cls, model, running, blocks)
    for request in standalone.requests([PROMPT] * n, [MAX_TOKENS] * n):
        scheduler.add_request(request)
    while len(scheduler.running) < running or any(r.num_output_tokens == 0 for r in scheduler.running):
        timed_steps(scheduler, 1)
    return scheduler


def measure(schedulers: list[Any], steps: int) -> list[tuple[float, float]]:
    """p50 seconds of schedule() and update_from_output() of each scheduler, their steps
    interleaved (one step of each in turn) so that both see the same machine load."""
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in schedulers]
    for _ in range(steps):
        for scheduler, (schedule_s, update_s) in zip(schedulers, times, strict=True):
            s, u = timed_steps(scheduler, 1)
            schedule_s += s
            update_s += u
    for scheduler in schedulers:
        assert len(scheduler.running) == len(schedulers[0].running) and len(scheduler.waiting) == WAITING
    return [(statistics.median(s), statistics.median(u)) for s, u in times]


def scheduler_costs(model: str, sizes: list[int], steps: int) -> None:
    from gpuplane.vllm import Scheduler as GpuplaneScheduler
    from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler

    print(f"scheduler cost per decode step, p50 of {steps} interleaved steps, {WAITING:,} waiting")
    header = ("running", "vllm sched", "gp sched", "ratio", "vllm s+u", "gp s+u", "ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (8, 11, 9, 6, 9, 8, 6), strict=True)))
    for running in sizes:
        pair = [in_decode(cls, model, running) for cls in (VllmScheduler, GpuplaneScheduler)]
        running_ids = [sorted(r.request_id for r in s.running) for s in pair]
        assert running_ids[0] == running_ids[1], "the two schedulers run different requests"
        (vs, vu), (gs, gu) = measure(pair, steps)
        del pair
        print(
            f"{running:>8} {vs * 1e3:>9.2f}ms {gs * 1e3:>7.2f}ms {vs / gs:>5.1f}x "
            f"{(vs + vu) * 1e3:>7.2f}ms {(gs + gu) * 1e3:>6.2f}ms {(vs + vu) / (gs + gu):>5.1f}x"
        )


def end_to_end(model: str, prompts: int, tokens: int) -> None:
    import engine as E

    print(f"end to end, tiny Llama on CPU: {prompts} prompts x {tokens} tokens, alternating runs")
    for name, cls in (("vllm", None), ("gpuplane", E.GPUPLANE)) * 2:
        llm = E.make_llm(model, cls)
        batch = [E.prompt(i, 64) for i in range(prompts)]
        E.generate(llm, batch[:4], E.params(4))  # warm-up
        t0 = time.perf_counter()
        outs = E.generate(llm, batch, E.params(tokens))
        elapsed = time.perf_counter() - t0
        generated = sum(len(o.outputs[0].token_ids) for o in outs)
        print(f"{name:>9}: {generated / elapsed:8.0f} tokens/s ({elapsed:.2f} s)")
        del llm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="64 and 256 running only, 10 steps")
    parser.add_argument("--running", type=int, nargs="+", help="running sizes (default 64 256 1024)")
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--e2e-only", action="store_true")
    args = parser.parse_args()
    import tiny_model

    model = str(tiny_model.build(Path(tempfile.gettempdir()) / "gpuplane-tiny-llama"))
    sizes = args.running or ([64, 256] if args.quick else [64, 256, 1024])
    if not args.e2e_only:
        scheduler_costs(model, sizes, 10 if args.quick else args.steps)
    if not args.no_e2e:
        end_to_end(model, 64, 64)


if __name__ == "__main__":
    main()
