"""One test per rule of the continuous-batching scheduler, through the Python API."""

from __future__ import annotations

import math

import gpuplane
import numpy as np
import pytest
from gpuplane import (
    BatchConfig,
    BatchScheduler,
    Conflict,
    FinishedRequest,
    InvalidRequest,
    NotFound,
    Request,
    StepPlan,
)


def cfg(budget: int, max_running: int, blocks: int, block_size: int, **kw) -> BatchConfig:
    return BatchConfig(
        token_budget=budget,
        max_running=max_running,
        kv_blocks=blocks,
        block_size=block_size,
        watermark=0.0,
        **kw,
    )


def req(i: int, tenant: str, prompt: int, max_new: int, **kw) -> Request:
    kw.setdefault("arrival", float(i))
    return Request(i, tenant, prompt, max_new, **kw)


def step(s: BatchScheduler) -> tuple[StepPlan, list[FinishedRequest]]:
    """One engine step: every request that samples generates one token."""
    plan = s.schedule()
    ids = plan.ids[plan.samples]
    return plan, s.update(ids, np.ones(len(ids), dtype=np.int64))


def tokens(plan: StepPlan) -> list[tuple[int, int]]:
    return list(zip(plan.ids.tolist(), plan.num_tokens.tolist(), strict=True))


def drain(s: BatchScheduler, max_steps: int = 1000) -> list[int]:
    """Steps until nothing is left; returns the admission order."""
    admitted: list[int] = []
    for _ in range(max_steps):
        plan, _ = step(s)
        admitted += plan.admitted.tolist()
        if len(s) == 0:
            break
    return admitted


METRIC_FIELDS = [
    "running",
    "waiting",
    "kv_total_blocks",
    "kv_used_blocks",
    "kv_free_blocks",
    "kv_cached_blocks",
    "kv_usage",
    "total_preemptions",
    "steps",
    "admitted_total",
    "finished_total",
    "mean_queue_time",
    "max_queue_time",
    "max_service_diff",
    "mean_service_diff",
]
TENANT_FIELDS = [
    "tenant",
    "weight",
    "service",
    "normalized_service",
    "input_tokens",
    "output_tokens",
    "counter",
    "waiting",
    "backlogged",
]


def state(s: BatchScheduler, ids=()) -> tuple:
    """Everything observable about a scheduler, for "changes nothing" checks."""
    m = s.metrics()
    tenants = {name: tuple(getattr(t, f) for f in TENANT_FIELDS) for name, t in m.tenants.items()}
    progress = {i: repr(s.progress(i)) if i in s else None for i in ids}
    return tuple(getattr(m, f) for f in METRIC_FIELDS), tenants, progress, len(s), s.running_ids(), s.now


# --------------------------------------------------------------------------------------------------
# The step contract


def test_catch_up_contract_chunks_then_decodes_then_finishes_by_length():
    s = BatchScheduler(cfg(64, 8, 100, 16))
    s.add(req(1, "a", 100, 3))
    p1, _ = step(s)
    assert tokens(p1) == [(1, 64)]
    assert p1.admitted.tolist() == [1]
    assert p1.samples.tolist() == [False]
    new, cached = p1.blocks(1)
    assert (len(new), cached) == (7, []), "the whole prompt is allocated at admission"
    p2, _ = step(s)
    assert tokens(p2) == [(1, 36)]
    assert p2.samples.tolist() == [True]
    assert s.progress(1).generated == 1
    p3, _ = step(s)
    assert tokens(p3) == [(1, 1)]
    p4, fin = step(s)
    assert tokens(p4) == [(1, 1)]
    assert [(f.id, f.generated, f.reason) for f in fin] == [(1, 3, "length")]
    assert s.metrics().kv_used_blocks == 0
    assert 1 not in s and len(s) == 0


def test_a_plan_carries_each_entry_s_counters_before_its_step():
    s = BatchScheduler(cfg(64, 8, 100, 16))
    s.add(req(1, "a", 100, 3))
    s.add(req(2, "a", 10, 5))
    columns = []
    for _ in range(3):
        plan, _ = step(s)
        columns.append([plan.computed.tolist(), plan.known.tolist(), plan.generated.tolist()])
    assert columns == [
        [[0], [100], [0]],  # 1 takes the whole budget
        [[64, 0], [100, 10], [0, 0]],  # 1 finishes its prompt, 2 is admitted
        [[100, 10], [101, 11], [1, 1]],  # both decode
    ]


def test_one_schedule_call_moves_the_clock_forward_and_counts_sampled_tokens():
    s = BatchScheduler(cfg(64, 8, 100, 16))
    s.add(req(1, "a", 8, 5))
    s.schedule(now=10.0, expect_sampled=True)
    assert (s.now, s.progress(1).generated) == (10.0, 1)
    plan = s.schedule(now=4.0, expect_sampled=True)  # a clock that stepped back
    assert (s.now, s.progress(1).generated, plan.generated.tolist()) == (10.0, 2, [1])
    with pytest.raises(InvalidRequest, match="now"):
        s.schedule(now=math.nan)


def test_running_requests_come_first_then_admissions_share_the_budget():
    s = BatchScheduler(cfg(10, 8, 100, 4))
    s.add(req(1, "a", 8, 5))
    step(s)
    s.add(req(2, "a", 8, 5))
    s.add(req(3, "a", 8, 5))
    plan = s.schedule()
    assert tokens(plan) == [(1, 1), (2, 8), (3, 1)]
    assert plan.admitted.tolist() == [2, 3]
    assert plan.total_tokens == 10 == int(plan.num_tokens.sum())
    assert s.running_ids() == [1, 2, 3]


def test_long_prefill_threshold_caps_chunks():
    s = BatchScheduler(cfg(100, 8, 100, 4, long_prefill_token_threshold=3))
    s.add(req(1, "a", 8, 2))
    assert [tokens(step(s)[0]) for _ in range(3)] == [[(1, 3)], [(1, 3)], [(1, 2)]]


def test_chunked_prefill_off_computes_prompts_whole():
    s = BatchScheduler(cfg(10, 8, 100, 4, chunked_prefill=False))
    s.add(req(1, "a", 8, 2))
    s.add(req(2, "a", 8, 2))
    assert tokens(step(s)[0]) == [(1, 8)], "request 2 does not fit the 2 tokens left"
    assert tokens(step(s)[0]) == [(1, 1), (2, 8)]
    with pytest.raises(InvalidRequest) as e:
        s.add(req(3, "a", 11, 1))
    assert e.value.field == "prompt_len"


# --------------------------------------------------------------------------------------------------
# Admission


def test_admission_needs_the_whole_prompt_in_free_blocks_above_the_watermark():
    s = BatchScheduler(
        BatchConfig(token_budget=1000, max_running=8, kv_blocks=10, block_size=4, watermark=0.2)
    )
    s.add(req(1, "a", 16, 2))  # 4 blocks
    s.add(req(2, "a", 20, 2))  # 5 blocks: 6 free - 2 watermark = 4
    p, _ = step(s)
    assert p.admitted.tolist() == [1]
    p, fin = step(s)
    assert p.admitted.tolist() == [] and len(fin) == 1
    p, _ = step(s)
    assert p.admitted.tolist() == [2]


def test_backfill_admits_a_smaller_request_when_the_head_does_not_fit():
    s = BatchScheduler(cfg(1000, 8, 10, 4))
    s.add(req(1, "a", 24, 2))  # 6 blocks
    s.add(req(2, "a", 20, 2))  # 5 blocks: does not fit
    s.add(req(3, "a", 8, 2))  # 2 blocks: fits
    assert step(s)[0].admitted.tolist() == [1, 3]


def exhausting_pair() -> BatchScheduler:
    """Two requests fill a 4-block pool; request 1's third block forces a preemption."""
    s = BatchScheduler(cfg(100, 8, 4, 4))
    s.add(req(1, "a", 4, 6))
    s.add(req(2, "a", 4, 10))
    for _ in range(5):
        assert step(s)[0].preempted.size == 0
    s.add(req(3, "a", 4, 1))
    return s


def test_nothing_is_admitted_on_a_preempting_step_and_the_victim_keeps_its_place():
    s = exhausting_pair()
    p, fin = step(s)
    assert p.preempted.tolist() == [2], "the newest running request is the victim"
    assert p.admitted.tolist() == [], "request 3 would fit but nothing is admitted"
    assert tokens(p) == [(1, 1)]
    assert [f.id for f in fin] == [1]
    p2 = s.progress(2)
    assert (p2.computed, p2.generated, p2.running) == (0, 5, False)
    p, _ = step(s)
    assert p.admitted.tolist() == [2, 3], "preempted 2 stays ahead of newer 3"
    assert tokens(p) == [(2, 9), (3, 4)], "the recompute covers prompt and output"
    assert s.metrics().total_preemptions == 1


# --------------------------------------------------------------------------------------------------
# Preemption


def victim_scenario(policy: str) -> StepPlan:
    """Four requests in two tenants and two bands; one free block left when all four need one."""
    s = BatchScheduler(cfg(100, 8, 6, 4, policy=policy))
    s.add(Request(1, "a", 4, 12, priority=1, arrival=10.0))
    s.add(req(2, "b", 4, 12))
    s.add(req(3, "a", 8, 12))
    s.add(req(4, "b", 4, 12))
    p, _ = step(s)
    assert p.admitted.size == 4
    return s.schedule()


def test_victim_is_lowest_band_then_highest_counter_then_newest():
    assert victim_scenario("fair").preempted.tolist() == [3], "tenant a has more service"
    assert victim_scenario("priority").preempted[0] == 4, "band 0, newest"
    assert victim_scenario("fcfs").preempted[0] == 1, "no bands: newest overall"


def test_a_victim_already_scheduled_this_step_is_unscheduled():
    s = BatchScheduler(cfg(100, 8, 3, 4, policy="priority"))
    s.add(Request(1, "a", 4, 7, arrival=5.0))
    step(s)
    s.add(Request(2, "a", 4, 7, priority=5, arrival=1.0))
    step(s)
    assert s.running_ids() == [1, 2]
    p = s.schedule()
    assert p.preempted.tolist() == [1]
    assert tokens(p) == [(2, 1)] and p.total_tokens == 1
    assert 1 not in p


def test_priority_gap_preempts_at_the_sequence_cap():
    s = BatchScheduler(cfg(1000, 2, 100, 4, policy="priority", preempt_priority_gap=5))
    s.add_many([1, 2], [4, 4], [50, 50], tenants="a", priority=[0, 3], arrival=[1.0, 2.0])
    step(s)
    s.add(req(3, "a", 4, 50, priority=4))
    assert step(s)[0].preempted.size == 0, "gap 4 < 5"
    s.add(req(4, "a", 4, 50, priority=10))
    p, _ = step(s)
    assert (p.preempted.tolist(), p.admitted.tolist()) == ([1], [])
    assert step(s)[0].admitted.tolist() == [4]


@pytest.mark.parametrize("gap", [None, 0])
def test_priority_gap_disabled_by_none_or_zero(gap):
    s = BatchScheduler(cfg(1000, 1, 100, 4, policy="priority", preempt_priority_gap=gap))
    s.add(req(1, "a", 4, 50))
    step(s)
    s.add(req(2, "a", 4, 50, priority=100))
    assert step(s)[0].preempted.size == 0


# --------------------------------------------------------------------------------------------------
# Ordering


def admission_order(policy: str, reqs: list[Request], **kw) -> list[int]:
    s = BatchScheduler(cfg(1000, 1, 100, 4, policy=policy, **kw))
    for r in reqs:
        s.add(r)
    return drain(s)


def test_fcfs_ignores_priority_and_priority_uses_bands():
    reqs = [req(1, "a", 4, 1), req(2, "a", 4, 1, priority=9), req(3, "a", 4, 1)]
    assert admission_order("fcfs", reqs) == [1, 2, 3]
    assert admission_order("priority", reqs) == [2, 1, 3]


def test_deadline_orders_by_earliest_deadline_with_none_last():
    reqs = [
        req(1, "a", 4, 1),
        req(2, "a", 4, 1, ttft_deadline=50.0),
        req(3, "a", 4, 1, ttft_deadline=10.0),
        req(4, "a", 4, 1, ttft_deadline=10.0, priority=1),
    ]
    assert admission_order("deadline", reqs) == [4, 3, 2, 1]


def test_fair_alternates_tenants_by_virtual_counter():
    reqs = [req(1, "a", 4, 1), req(2, "a", 4, 1), req(3, "a", 4, 1), req(4, "b", 4, 1)]
    assert admission_order("fcfs", reqs) == [1, 2, 3, 4]
    assert admission_order("fair", reqs) == [1, 4, 2, 3]


def test_fair_respects_bands_before_counters():
    reqs = [req(1, "a", 4, 1), req(2, "a", 4, 1, priority=1), req(3, "b", 4, 1)]
    assert admission_order("fair", reqs) == [2, 3, 1]


def test_workflow_fair_keeps_a_short_program_ahead_of_a_long_one():
    reqs = [
        req(1, "a", 40, 1, workflow=7),
        req(2, "a", 40, 1, workflow=7),
        req(3, "a", 4, 1, workflow=8),
        req(4, "a", 4, 1),
    ]
    assert admission_order("fair", reqs) == [1, 2, 3, 4]
    assert admission_order("workflow_fair", reqs) == [1, 3, 4, 2]


def test_weights_divide_the_charge():
    s = BatchScheduler(cfg(1000, 1, 100, 4, policy="fair", tenant_weights={"a": 3.0, "b": 1.0}))
    for i in range(4):
        s.add(req(i, "a", 4, 1))
        s.add(req(10 + i, "b", 4, 1))
    assert drain(s)[:5] == [0, 10, 1, 2, 3], "a (weight 3) gets three admissions per b's one"
    a = s.metrics().tenants["a"]
    assert (a.weight, a.service, a.normalized_service) == (3.0, 24.0, 8.0)


def test_vtc_lifts_a_re_backlogged_tenant_to_the_minimum_backlogged_counter():
    s = BatchScheduler(cfg(1000, 1, 100, 4, policy="fair"))
    for i in (1, 2, 3):
        s.add(req(i, "a", 4, 1))
    step(s)
    step(s)  # a: two requests of 4 + 2 charged = 12, one still waiting
    s.add(req(4, "b", 4, 1))
    m = s.metrics()
    a, b = m.tenants["a"], m.tenants["b"]
    assert a.counter == 12.0
    assert b.counter == 12.0, "b is lifted instead of banking its idle time"
    assert b.normalized_service == 0.0
    assert m.max_service_diff == 12.0
    assert a.backlogged and b.backlogged and a.waiting == b.waiting == 1


# --------------------------------------------------------------------------------------------------
# Prefix reuse


def test_prefix_blocks_are_shared_and_cached_tokens_are_not_charged():
    s = BatchScheduler(cfg(1000, 8, 20, 4))
    s.add(req(1, "a", 10, 1, block_hashes=[11, 22]))
    p, _ = step(s)
    first, _ = p.blocks(1)
    assert s.metrics().kv_cached_blocks == 2, "full prompt blocks stay cached after finish"
    s.add(req(2, "b", 12, 5, block_hashes=[11, 22, 33]))
    p, _ = step(s)
    new, cached = p.blocks(2)
    assert cached == first[:2]
    assert (tokens(p), len(new)) == ([(2, 4)], 1)
    assert s.metrics().tenants["b"].input_tokens == 4, "cached tokens are not charged"
    s.add(req(3, "c", 8, 5, block_hashes=[11, 22]))
    p, _ = step(s)
    _, cached = p.blocks(3)
    assert cached == first[:1], "the last prompt block is recomputed"
    assert dict(tokens(p))[3] == 4
    assert s.block_refcount(first[0]) == 2
    assert s.block_refcount(first[1]) == 1
    assert s.block_refcount(10**6) is None


def test_negative_block_hashes_are_bit_patterns():
    r = Request(1, "a", 8, 1, block_hashes=[-1, 2**64 - 2])
    assert r.block_hashes == [2**64 - 1, 2**64 - 2]
    with pytest.raises(InvalidRequest) as e:
        Request(1, "a", 8, 1, block_hashes=[2**64])
    assert e.value.field == "block_hashes[0]"


# --------------------------------------------------------------------------------------------------
# Abort, finish, metrics


def test_abort_frees_waiting_and_running_requests():
    s = BatchScheduler(cfg(1000, 1, 100, 4))
    s.add(req(1, "a", 8, 50, block_hashes=[5]))
    s.add(req(2, "a", 8, 50))
    step(s)
    s.abort(2)
    assert s.metrics().waiting == 0 and 2 not in s
    s.abort(1)
    m = s.metrics()
    assert (m.running, m.kv_used_blocks, m.kv_cached_blocks) == (0, 0, 1)
    for bad in (1, -1):
        with pytest.raises(NotFound):
            s.abort(bad)
    assert len(s.schedule()) == 0


def test_stop_finishes_and_queue_time_is_measured_from_arrival():
    s = BatchScheduler(cfg(1000, 8, 100, 4))
    s.add(Request(1, "a", 4, 50, arrival=1.0))
    s.set_time(3.5)
    assert s.now == 3.5
    plan = s.schedule()
    fin = s.update({1: 1}, finished=[1])
    assert plan.admitted.tolist() == [1]
    assert [(f.id, f.reason, f.generated, f.queue_time) for f in fin] == [(1, "stop", 1, 2.5)]
    assert repr(fin[0]) == "FinishedRequest(id=1, generated=1, queue_time=2.5, reason='stop')"
    m = s.metrics()
    assert (m.finished_total, m.mean_queue_time, m.max_queue_time) == (1, 2.5, 2.5)


def test_speculative_tokens_are_clamped_to_max_new_tokens():
    s = BatchScheduler(cfg(1000, 8, 100, 4))
    s.add(req(1, "a", 4, 3))
    s.schedule()
    fin = s.update({1: 9})
    assert [(f.generated, f.reason) for f in fin] == [(3, "length")]
    assert s.metrics().tenants["a"].output_tokens == 3


def test_metrics_fields():
    s = BatchScheduler(cfg(1000, 8, 50, 4, tenant_weights={"a": 2.0, "b": 1.0}, w_in=1.0, w_out=3.0))
    s.add(req(1, "a", 10, 4, block_hashes=[1, 2]))
    s.add(req(2, "b", 8, 4))
    step(s)
    step(s)
    m = s.metrics()
    assert (m.running, m.waiting, m.steps, m.admitted_total, m.finished_total) == (2, 0, 2, 2, 0)
    assert m.kv_total_blocks == 50
    assert m.kv_used_blocks + m.kv_free_blocks + m.kv_cached_blocks == m.kv_total_blocks
    assert m.kv_usage == pytest.approx(m.kv_used_blocks / 50)
    assert list(m.tenants) == ["a", "b"]
    a = m.tenants["a"]
    assert (a.tenant, a.input_tokens, a.output_tokens) == ("a", 10, 2)
    assert a.service == 10 * 1.0 + 2 * 3.0
    assert a.normalized_service == a.service / 2.0
    assert not a.backlogged and a.waiting == 0
    assert m.max_service_diff == m.mean_service_diff == 0.0, "no backlogged tenants"
    assert repr(m).startswith("BatchMetrics(running=2, waiting=0,")
    assert repr(a).startswith("TenantMetrics(tenant='a', weight=2.0,")


# --------------------------------------------------------------------------------------------------
# The Python surface: config, repr, plans, updates


def test_config_defaults_and_repr():
    c = BatchConfig()
    assert (c.token_budget, c.max_running, c.kv_blocks, c.block_size) == (8192, 256, 4096, 16)
    assert (c.watermark, c.long_prefill_token_threshold, c.chunked_prefill) == (0.01, 0, True)
    assert (c.preempt_priority_gap, c.policy, c.w_in, c.w_out, c.tenant_weights) == (
        None,
        "fcfs",
        1.0,
        2.0,
        {},
    )
    assert repr(c) == (
        "BatchConfig(policy='fcfs', token_budget=8192, max_running=256, kv_blocks=4096, "
        "block_size=16, watermark=0.01)"
    )
    c2 = BatchConfig(policy="fair", tenant_weights={"x": 2.0}, preempt_priority_gap=3)
    assert "tenant_weights={'x': 2.0}" in repr(c2) and "preempt_priority_gap=3" in repr(c2)
    assert c2 == BatchConfig(policy="fair", tenant_weights={"x": 2.0}, preempt_priority_gap=3)
    assert c2 != c
    assert sorted(gpuplane.BATCH_POLICIES) == sorted(
        ["fcfs", "priority", "fair", "deadline", "workflow_fair", "program_las"]
    )
    assert BatchScheduler(c2).config == c2


def test_request_fields_and_repr():
    r = Request(7, "t", 100, 20, priority=2, arrival=1.5, ttft_deadline=3.0, workflow=9, block_hashes=[1, 2])
    assert (r.id, r.tenant, r.prompt_len, r.max_new_tokens, r.priority) == (7, "t", 100, 20, 2)
    assert (r.arrival, r.ttft_deadline, r.workflow, r.block_hashes) == (1.5, 3.0, 9, [1, 2])
    assert repr(Request(1, "a", 4, 2)) == "Request(id=1, tenant='a', prompt_len=4, max_new_tokens=2)"
    assert "ttft_deadline=3.0" in repr(r) and "workflow=9" in repr(r)
    assert r == Request(
        7, "t", 100, 20, priority=2, arrival=1.5, ttft_deadline=3.0, workflow=9, block_hashes=[1, 2]
    )


def test_step_plan_is_numpy_columns():
    s = BatchScheduler(cfg(100, 8, 100, 4))
    s.add_many(np.arange(3), [5, 6, 7], [2, 2, 2])
    p = s.schedule()
    assert p.ids.dtype == np.int64 and p.num_tokens.dtype == np.int64
    assert p.admitted.dtype == np.int64 and p.preempted.dtype == np.int64
    assert p.samples.dtype == np.bool_
    assert len(p) == 3 and 2 in p and 3 not in p and -1 not in p
    assert repr(p) == "StepPlan(requests=3, total_tokens=18, admitted=3, preempted=0)"
    with pytest.raises(NotFound):
        p.blocks(42)
    assert repr(s) == "BatchScheduler(policy='fcfs', running=3, waiting=0, now=0.0)"


def test_update_accepts_a_dict_or_columns_alike():
    def run(kind: str) -> list[tuple]:
        s = BatchScheduler(cfg(50, 8, 100, 4))
        s.add_many(np.arange(6), np.arange(1, 7) * 5, np.full(6, 4))
        out = []
        while len(s):
            plan = s.schedule()
            ids = plan.ids[plan.samples]
            if kind == "dict":
                fin = s.update({int(i): 1 for i in ids})
            elif kind == "int32":
                fin = s.update(ids.astype(np.int32), np.ones(len(ids), dtype=np.uint8))
            else:  # plain lists, in reverse order
                fin = s.update(ids.tolist()[::-1], [1] * len(ids))
            out.append((tokens(plan), sorted((f.id, f.generated) for f in fin)))
        return out

    assert run("dict") == run("int32") == run("list")


def test_set_time_refuses_going_back():
    s = BatchScheduler(cfg(100, 8, 100, 4))
    s.set_time(5.0)
    for bad in (4.0, math.nan, math.inf):
        with pytest.raises(InvalidRequest) as e:
            s.set_time(bad)
        assert e.value.field == "now"
    assert s.now == 5.0


def test_progress_of_unknown_ids_raises_not_found():
    s = BatchScheduler(cfg(100, 8, 100, 4))
    for bad in (1, -5):
        with pytest.raises(NotFound):
            s.progress(bad)
    s.add(req(1, "a", 4, 2))
    assert repr(s.progress(1)) == "RequestProgress(computed=0, generated=0, known=4, running=False)"


# --------------------------------------------------------------------------------------------------
# Bulk add


def test_add_many_is_equivalent_to_add():
    rng = np.random.default_rng(7)
    n = 300
    ids = rng.permutation(10_000)[:n]
    prompt = rng.integers(1, 200, n)
    max_new = rng.integers(1, 50, n)
    tenants = [f"t{i}" for i in rng.integers(0, 3, n)]
    prio = rng.integers(-2, 3, n)
    arrival = rng.random(n) * 10
    deadline = np.where(rng.random(n) < 0.5, np.nan, rng.random(n) * 20)
    workflow = np.where(rng.random(n) < 0.5, -1, rng.integers(0, 5, n))

    def drive(s: BatchScheduler) -> list[tuple]:
        trace = []
        for _ in range(400):
            plan, fin = step(s)
            trace.append((tokens(plan), plan.preempted.tolist(), [(f.id, f.generated) for f in fin]))
        return trace

    for policy in gpuplane.BATCH_POLICIES:
        config = cfg(256, 16, 200, 8, policy=policy)
        bulk, one = BatchScheduler(config), BatchScheduler(config)
        bulk.add_many(
            ids.astype(np.int32),
            prompt,
            max_new.astype(np.uint16),
            tenants=tenants,
            priority=prio,
            arrival=arrival,
            ttft_deadline=deadline,
            workflow=workflow,
        )
        for i in range(n):
            one.add(
                Request(
                    int(ids[i]),
                    tenants[i],
                    int(prompt[i]),
                    int(max_new[i]),
                    priority=int(prio[i]),
                    arrival=float(arrival[i]),
                    ttft_deadline=None if math.isnan(deadline[i]) else float(deadline[i]),
                    workflow=None if workflow[i] == -1 else int(workflow[i]),
                )
            )
        assert state(bulk) == state(one), policy
        assert drive(bulk) == drive(one), policy


def test_add_many_accepts_one_tenant_lists_and_strided_arrays():
    s = BatchScheduler(cfg(100, 8, 100, 4, tenant_weights={"x": 1.0}))
    wide = np.arange(20, dtype=np.int64)
    s.add_many(wide[::2], wide[1::2] + 1, [3] * 10, tenants="x")
    assert len(s) == 10 and 18 in s and 1 not in s
    assert s.metrics().tenants["x"].waiting == 10
    s.add_many([], [], [])
    assert len(s) == 10


BAD_BULK = [
    ({"ids": [1, -2]}, InvalidRequest, "ids[1]"),
    ({"prompt_len": [4, -1]}, InvalidRequest, "prompt_len[1]"),
    ({"prompt_len": [4, 0]}, InvalidRequest, "prompt_len[1]"),
    ({"prompt_len": [4, 2**40]}, InvalidRequest, "prompt_len[1]"),
    ({"prompt_len": [4, 10_000]}, InvalidRequest, "prompt_len[1]"),
    ({"max_new_tokens": [-3, 2]}, InvalidRequest, "max_new_tokens[0]"),
    ({"max_new_tokens": [2, 2, 2]}, InvalidRequest, "max_new_tokens"),
    ({"tenants": ["a", "zz"]}, InvalidRequest, "tenants[1]"),
    ({"tenants": ["a"]}, InvalidRequest, "tenants"),
    ({"tenants": "zz"}, InvalidRequest, "tenants[0]"),
    ({"priority": [0, 2**40]}, InvalidRequest, "priority[1]"),
    ({"arrival": [0.0, math.nan]}, InvalidRequest, "arrival[1]"),
    ({"ttft_deadline": [math.inf, math.nan]}, InvalidRequest, "ttft_deadline[0]"),
    ({"workflow": [-1, -2]}, InvalidRequest, "workflow[1]"),
    ({"ids": [1, 1]}, Conflict, None),
    ({"ids": [9, 3]}, Conflict, None),  # 9 is already queued
]


@pytest.mark.parametrize(("change", "error", "field"), BAD_BULK)
def test_bad_add_many_names_column_and_index_and_adds_nothing(change, error, field):
    s = BatchScheduler(cfg(100, 8, 100, 4, tenant_weights={"a": 1.0}))
    s.add(req(9, "a", 4, 2))
    before = state(s, ids=[1, 2, 3, 9])
    columns = {"ids": [1, 2], "prompt_len": [4, 4], "max_new_tokens": [2, 2], "tenants": "a", **change}
    with pytest.raises(error) as e:
        s.add_many(columns.pop("ids"), columns.pop("prompt_len"), columns.pop("max_new_tokens"), **columns)
    if field is not None:
        assert e.value.field == field
    assert state(s, ids=[1, 2, 3, 9]) == before


@pytest.mark.parametrize("bad", [[4.5, 4], np.array([4.0, 4.0]), ["4", "4"], np.array(["4", "4"])])
def test_integer_columns_refuse_floats_instead_of_truncating(bad):
    s = BatchScheduler(cfg(100, 8, 100, 4))
    with pytest.raises(InvalidRequest) as e:
        s.add_many([1, 2], bad, [2, 2])
    assert e.value.field == "prompt_len"
    assert len(s) == 0
    s.add_many(np.array([]), np.array([]), np.array([]))  # numpy's empty default is float64
    s.add_many([1, 2], [4, 4], np.array([2, 2], dtype=np.uint8))
    s.schedule()
    with pytest.raises(InvalidRequest) as e:
        s.update(np.array([1.0, 2.0]), [1, 1])
    assert e.value.field == "generated"
    assert [s.progress(i).generated for i in (1, 2)] == [0, 0]


# --------------------------------------------------------------------------------------------------
# Bad input changes nothing


BAD_CONFIG = [
    ({"token_budget": 0}, "token_budget"),
    ({"token_budget": -1}, "token_budget"),
    ({"token_budget": 2**25}, "token_budget"),
    ({"max_running": 0}, "max_running"),
    ({"kv_blocks": -5}, "kv_blocks"),
    ({"block_size": 0}, "block_size"),
    ({"watermark": math.nan}, "watermark"),
    ({"watermark": 1.0}, "watermark"),
    ({"long_prefill_token_threshold": -1}, "long_prefill_token_threshold"),
    ({"preempt_priority_gap": -1}, "preempt_priority_gap"),
    ({"policy": "lottery"}, "policy"),
    ({"w_in": math.inf}, "w_in"),
    ({"w_out": -1.0}, "w_out"),
    ({"w_in": 0.0, "w_out": 0.0}, "w_in"),
    ({"tenant_weights": {"x": 0.0}}, "tenant_weights[x]"),
    ({"tenant_weights": {"x": math.nan}}, "tenant_weights[x]"),
    ({"tenant_weights": {"": 1.0}}, "tenant_weights"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_CONFIG)
def test_bad_config_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(InvalidRequest) as e:
        BatchConfig(**kwargs)
    assert e.value.field == field


BAD_REQUEST = [
    ({"id": -1}, "id"),
    ({"tenant": ""}, "tenant"),
    ({"prompt_len": -4}, "prompt_len"),
    ({"prompt_len": 0}, "prompt_len"),
    ({"prompt_len": 2**24 + 1}, "prompt_len"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": -2}, "max_new_tokens"),
    ({"priority": 2**31}, "priority"),
    ({"arrival": math.nan}, "arrival"),
    ({"ttft_deadline": math.inf}, "ttft_deadline"),
    ({"workflow": -3}, "workflow"),
]


@pytest.mark.parametrize(("change", "field"), BAD_REQUEST)
def test_bad_request_fields_are_refused_when_built(change, field):
    kw = {"id": 1, "tenant": "a", "prompt_len": 4, "max_new_tokens": 2, **change}
    with pytest.raises(InvalidRequest) as e:
        Request(kw.pop("id"), kw.pop("tenant"), kw.pop("prompt_len"), kw.pop("max_new_tokens"), **kw)
    assert e.value.field == field


def test_bad_requests_are_refused_by_the_scheduler_and_change_nothing():
    s = BatchScheduler(cfg(100, 8, 10, 4, tenant_weights={"a": 1.0}))
    s.add(req(1, "a", 4, 2))
    step(s)
    before = state(s, ids=[1, 9])
    cases = [
        (req(9, "a", 44, 2), InvalidRequest, "prompt_len"),  # 11 blocks of 10: can never fit
        (req(9, "a", 40, 2), InvalidRequest, "max_new_tokens"),  # prompt + output can never fit
        (req(9, "a", 4, 2, block_hashes=[1, 2]), InvalidRequest, "block_hashes"),
        (req(9, "zz", 4, 2), InvalidRequest, "tenant"),
        (req(1, "a", 4, 2), Conflict, None),
    ]
    for r, error, field in cases:
        with pytest.raises(error) as e:
            s.add(r)
        if field:
            assert e.value.field == field
        assert state(s, ids=[1, 9]) == before


def test_bad_updates_are_refused_and_change_nothing():
    s = BatchScheduler(cfg(4, 8, 100, 4))
    s.add_many([1, 2], [4, 8], [5, 5], tenants="a", arrival=[1.0, 2.0])
    step(s)  # 1 prefilled whole; 2 not admitted (budget)
    plan = s.schedule()  # 1 decodes, 2 gets 3 prefill tokens
    assert tokens(plan) == [(1, 1), (2, 3)]
    before = state(s, ids=[1, 2])
    bad = [
        (({1: 1, 77: 1},), {}, NotFound),
        (({1: 1, 2: 1},), {}, InvalidRequest),  # 2 is still prefilling
        (([1, 1], [1, 1]), {}, InvalidRequest),  # listed twice
        (({1: 1},), {"finished": [77]}, NotFound),
        (({1: 2**32},), {}, InvalidRequest),
        (({1: -1},), {}, InvalidRequest),
        (({-1: 1},), {}, InvalidRequest),
        (([1], [-1]), {}, InvalidRequest),
        (([1, 2], [1]), {}, InvalidRequest),  # columns of different lengths
        (([1],), {}, InvalidRequest),  # counts missing
        (({1: 1}, [1]), {}, InvalidRequest),  # counts with a dict
        (({1: 1},), {"finished": [-1]}, InvalidRequest),
    ]
    for args, kwargs, error in bad:
        with pytest.raises(error):
            s.update(*args, **kwargs)
        assert state(s, ids=[1, 2]) == before, (args, kwargs)
    s.update({1: 1})
    with pytest.raises(Conflict):
        s.update({1: 1})


def test_negative_ints_are_invalid_requests_not_overflow_errors():
    with pytest.raises(InvalidRequest) as e:
        BatchConfig(max_running=-1)
    assert e.value.field == "max_running"
    assert isinstance(e.value, ValueError)
    s = BatchScheduler(cfg(100, 8, 100, 4))
    with pytest.raises(InvalidRequest) as e:
        s.block_refcount(-1)
    assert e.value.field == "block"
    assert -1 not in s


def test_kv_eviction_is_lru_unless_vllms_order_is_asked_for():
    assert BatchConfig().kv_eviction == "lru"
    config = BatchConfig(kv_eviction="vllm")
    assert config.kv_eviction == "vllm" and "kv_eviction='vllm'" in repr(config)
    with pytest.raises(gpuplane.InvalidRequest) as e:
        BatchConfig(kv_eviction="fifo")
    assert e.value.field == "kv_eviction"
