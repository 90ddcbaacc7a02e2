"""Properties of the batching scheduler, checked through Python after every step of random
workloads driven by an engine loop (schedule, then one token for each request that samples)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from gpuplane import BatchConfig, BatchScheduler, InvalidRequest, Request, StepPlan
from hypothesis import given, settings
from hypothesis import strategies as st

POLICIES = ["fcfs", "priority", "fair", "deadline", "workflow_fair", "program_las"]


@st.composite
def configs(draw, policies=POLICIES) -> BatchConfig:
    return BatchConfig(
        token_budget=draw(st.integers(8, 200)),
        max_running=draw(st.integers(1, 12)),
        kv_blocks=draw(st.integers(24, 80)),
        block_size=draw(st.sampled_from([2, 4, 8])),
        watermark=draw(st.sampled_from([0.0, 0.05, 0.1])),
        long_prefill_token_threshold=draw(st.sampled_from([0, 8])),
        chunked_prefill=draw(st.booleans()),
        preempt_priority_gap=2,
        policy=draw(st.sampled_from(policies)),
    )


add_op = st.tuples(
    st.just("add"),
    st.integers(0, 2),  # tenant
    st.integers(1, 63),  # prompt
    st.integers(1, 23),  # max new tokens
    st.integers(-1, 1),  # priority
    st.integers(0, 2),  # prefix family
    st.integers(0, 7),  # hashed blocks
)
step_op = st.tuples(st.just("step"), st.one_of(st.none(), st.integers(0, 31)))
abort_op = st.tuples(st.just("abort"), st.integers(0, 63))
ops = st.lists(st.one_of(add_op, add_op, step_op, step_op, step_op, abort_op), max_size=120)


@dataclass
class World:
    """The scheduler and the test's own account of live requests and the blocks they hold."""

    s: BatchScheduler
    live: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (prompt, max_new)
    holds: dict[int, list[int]] = field(default_factory=dict)  # id -> KV blocks, from the plans
    tenants_used: set[str] = field(default_factory=set)
    next_id: int = 0

    @property
    def c(self) -> BatchConfig:
        return self.s.config

    def add(self, tenant: int, prompt: int, max_new: int, prio: int, family: int, hashed: int) -> None:
        i = self.next_id
        self.next_id += 1
        hashes = [(family << 32) | k for k in range(min(hashed, prompt // self.c.block_size))]
        r = Request(
            i,
            f"t{tenant}",
            prompt,
            max_new,
            priority=prio,
            arrival=float(i),
            ttft_deadline=float(i % 7),
            block_hashes=hashes,
        )
        before = repr(self.s.metrics()), len(self.s)
        try:
            self.s.add(r)
        except InvalidRequest:
            assert (repr(self.s.metrics()), len(self.s)) == before, "a refused add changes nothing"
            return
        self.live[i] = (prompt, max_new)
        self.tenants_used.add(r.tenant)

    def step(self, stop: int | None = None) -> StepPlan:
        plan = self.s.schedule()
        self.track_blocks(plan)
        self.check_plan(plan)
        ids = plan.ids[plan.samples]
        finished = [int(plan.ids[stop])] if stop is not None and stop < len(plan) else []
        for f in self.s.update(ids, np.ones(len(ids), dtype=np.int64), finished=finished):
            _, max_new = self.live.pop(f.id)
            self.holds.pop(f.id, None)
            assert f.generated <= max_new
            assert f.generated == max_new if f.reason == "length" else f.id in finished
        self.check_state()
        return plan

    def abort(self, k: int) -> None:
        if not self.live:
            return
        i = sorted(self.live)[k % len(self.live)]
        self.s.abort(i)
        del self.live[i]
        self.holds.pop(i, None)
        self.check_state()

    def track_blocks(self, plan: StepPlan) -> None:
        for i in plan.preempted.tolist():
            del self.holds[i]
        admitted = set(plan.admitted.tolist())
        for i in plan.ids.tolist():
            new, cached = plan.blocks(i)
            if i in admitted:
                self.holds[i] = cached + new
            else:
                self.holds[i] += new

    def check_plan(self, plan: StepPlan) -> None:
        c = self.c
        assert plan.total_tokens == int(plan.num_tokens.sum()) <= c.token_budget
        assert len(plan) <= c.max_running and self.s.metrics().running <= c.max_running
        assert (plan.num_tokens >= 1).all()
        assert len(set(plan.ids.tolist())) == len(plan)
        if plan.preempted.size:
            assert plan.admitted.size == 0, "no admission on a preempting step"
        for i, samples in zip(plan.ids.tolist(), plan.samples.tolist(), strict=True):
            p = self.s.progress(i)
            assert samples == (p.computed == p.known)
        self.check_work_conserving(plan)

    def check_work_conserving(self, plan: StepPlan) -> None:
        """With room left and nothing admitted or preempted, no waiting request fits the pool."""
        c = self.c
        single_account = c.policy == "fair" and len(self.tenants_used) <= 1
        counters = ("fair", "workflow_fair", "program_las")
        checked = c.chunked_prefill and (c.policy not in counters or single_account)
        m = self.s.metrics()
        room = plan.total_tokens < c.token_budget and m.running < c.max_running
        if not checked or not room or plan.preempted.size or plan.admitted.size:
            return
        avail = max(0, m.kv_free_blocks + m.kv_cached_blocks - int(c.watermark * c.kv_blocks))
        for i in self.live:
            p = self.s.progress(i)
            if not p.running:
                assert -(-p.known // c.block_size) > avail, f"request {i} fits but nothing was admitted"

    def check_state(self) -> None:
        m = self.s.metrics()
        assert m.kv_free_blocks + m.kv_used_blocks + m.kv_cached_blocks == m.kv_total_blocks
        assert m.running + m.waiting == len(self.live) == len(self.s)
        for i, (prompt, max_new) in self.live.items():
            p = self.s.progress(i)
            assert p.computed <= p.known <= prompt + max_new
            assert p.computed < prompt + max_new, "computes past prompt + max_new_tokens"
            assert p.generated < max_new
            assert p.running == (i in self.holds)
        refs = Counter(b for blocks in self.holds.values() for b in blocks)
        assert len(refs) == m.kv_used_blocks
        for b, n in refs.items():
            assert self.s.block_refcount(b) == n, f"refcount of block {b}"

    def run(self, script: list[tuple]) -> None:
        for op in script:
            if op[0] == "add":
                self.add(*op[1:])
            elif op[0] == "step":
                self.step(op[1])
            else:
                self.abort(op[1])


@settings(max_examples=250, deadline=None)
@given(config=configs(), script=ops)
def test_invariants_hold_after_every_step_and_everything_finishes(config, script):
    w = World(BatchScheduler(config))
    w.run(script)
    for _ in range(5000):
        if not w.live:
            break
        w.step()
    assert not w.live, f"{len(w.live)} requests starved"


@settings(max_examples=120, deadline=None)
@given(
    config=configs(policies=["fcfs"]),
    script=st.lists(add_op, min_size=1, max_size=40),
)
def test_fcfs_is_work_conserving(config, script):
    """Everything arrives first; every step either fills a limit or admits what fits."""
    w = World(BatchScheduler(config))
    w.run(script)
    while w.live:
        w.step()  # check_work_conserving runs on every step


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.sampled_from([1.0, 2.0, 3.0]), min_size=2, max_size=3),
    script=st.lists(add_op, min_size=1, max_size=60),
)
def test_everything_finishes_under_fair_when_arrivals_stop(weights, script):
    config = BatchConfig(
        token_budget=64,
        max_running=4,
        kv_blocks=48,
        block_size=4,
        watermark=0.0,
        policy="fair",
        tenant_weights={f"t{i}": w for i, w in enumerate(weights)},
    )
    w = World(BatchScheduler(config))
    w.run([op for op in script if op[1] < len(weights)])
    for _ in range(3000):
        if not w.live:
            break
        w.step()
    assert not w.live, f"{len(w.live)} requests starved"
    m = w.s.metrics()
    assert m.waiting == m.running == 0 and m.kv_used_blocks == 0


class Backlog:
    """Two fair-share tenants of equal weight kept continuously backlogged with random work."""

    def __init__(self, seed: int, longest_prompt: int):
        self.s = BatchScheduler(
            BatchConfig(
                token_budget=64,
                max_running=8,
                kv_blocks=64,
                block_size=4,
                watermark=0.0,
                policy="fair",
                tenant_weights={"t0": 1.0, "t1": 1.0},
            )
        )
        self.rng = np.random.default_rng(seed)
        self.longest = longest_prompt
        self.next_id = 0
        self.refill()

    def refill(self) -> None:
        tenants = self.s.metrics().tenants
        for name in ("t0", "t1"):
            n = max(0, 4 - tenants[name].waiting)
            if n:
                ids = np.arange(self.next_id, self.next_id + n)
                self.next_id += n
                prompt = self.rng.integers(1, self.longest + 1, n)
                max_new = self.rng.integers(1, 33, n)
                self.s.add_many(ids, prompt, max_new, tenants=name, arrival=ids.astype(np.float64))

    def step(self) -> None:
        plan = self.s.schedule()
        ids = plan.ids[plan.samples]
        self.s.update(ids, np.ones(len(ids), dtype=np.int64))
        self.refill()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), longest=st.integers(1, 99))
def test_vtc_bound_for_two_equal_weight_backlogged_tenants(seed, longest):
    b = Backlog(seed, longest)
    c = b.s.config
    bound = 2.0 * max(c.w_in * longest, c.w_out * c.kv_blocks * c.block_size)
    for _ in range(400):
        b.step()
        m = b.s.metrics()
        t0, t1 = m.tenants["t0"], m.tenants["t1"]
        assert t0.backlogged and t1.backlogged
        diff = abs(t0.normalized_service - t1.normalized_service)
        assert diff <= bound, f"difference {diff} > bound {bound}"
        assert m.max_service_diff == diff
