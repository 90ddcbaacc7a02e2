"""gpuplane.vllm.Scheduler with vLLM's async scheduling (the next step planned while the last
runs). vLLM's CPU platform turns async scheduling off in a real engine (``vllm/platforms/cpu.py``
sets ``async_scheduling = False`` whatever is asked), so no engine here runs the overlapping
path with a model. What is tested instead, in vLLM's own data structures with a model stand-in
(tests/vllm_stack/overlap.py): that ``async_scheduling`` selects ``OverlappingScheduler``; that
driven as ``EngineCore.step_with_batch_queue`` drives it (step N+1 planned before step N's
output is applied, output placeholders) it plans and generates what vLLM's ``AsyncScheduler``
does; preemption under a tight KV pool; requests aborted while their step is in flight; and
that nothing is held at the end. Not tested: the model runner's side of async scheduling
(its output futures and the overlap of the GPU step itself).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="module")
def overlap(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("overlap.py", model, tmp_path_factory.mktemp("vllm-async") / "overlap.json")


def test_async_scheduling_picks_the_overlapping_scheduler(overlap):
    assert overlap["gpuplane_roomy"]["scheduler"] == "gpuplane.vllm.scheduler.OverlappingScheduler"
    assert overlap["vllm_roomy"]["scheduler"] == "vllm.v1.core.sched.async_scheduler.AsyncScheduler"


def test_async_fcfs_plans_what_vllms_async_scheduler_plans(overlap):
    ours, theirs = overlap["gpuplane_roomy"], overlap["vllm_roomy"]
    assert ours["plans"] == theirs["plans"]
    assert ours["tokens"] == theirs["tokens"]


@pytest.mark.parametrize("pool", ["roomy", "tight"])
def test_async_requests_finish_whole_and_free_everything(overlap, pool):
    ours = overlap[f"gpuplane_{pool}"]
    lengths = {r: len(t) for r, t in ours["tokens"].items()}
    assert lengths == {str(i): n for i, n in enumerate([16, 8, 40, 24, 30, 12, 36, 20, 28, 44])}
    assert (ours["blocks_held"], ours["requests_left"], ours["core_left"]) == (0, 0, 0)
    if pool == "tight":
        assert ours["core_preemptions"] > 0


def test_requests_aborted_while_their_step_is_in_flight_end_as_with_vllms_async_scheduler(overlap):
    ours, theirs = overlap["gpuplane_aborts"], overlap["vllm_aborts"]
    assert ours["plans"] == theirs["plans"]
    assert ours["tokens"] == theirs["tokens"]
    full = dict(enumerate([16, 8, 40, 24, 30, 12, 36, 20, 28, 44]))
    cut = [r for r, t in ours["tokens"].items() if len(t) < full[int(r)]]
    assert cut, "no abort cut a request short"
    assert (ours["blocks_held"], ours["requests_left"], ours["core_left"]) == (0, 0, 0)
