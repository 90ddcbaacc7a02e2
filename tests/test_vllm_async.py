"""gpuplane.vllm.Scheduler with vLLM's async scheduling (the next step planned while the last
runs). vLLM's CPU platform turns async scheduling off in a real engine, so here vLLM's
AsyncScheduler and gpuplane's scheduler run in vLLM's own data structures with a model
stand-in, pipelined as EngineCore.step_with_batch_queue drives them (tests/vllm_stack/overlap.py)."""

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
    return harness.overlap_results(model, tmp_path_factory.mktemp("vllm-async") / "overlap.json")


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
