"""Stateful property test of ``gpuplane.Cluster``: random sequences of operations, invariants after each.

A reference model (``self.record``: what each live workload holds) is kept beside the cluster, and a
twin cluster with the same policy and seed is fed the very same operations: it must agree on every
answer and end every step with byte-identical snapshots (determinism). The main cluster is replaced
now and then by ``Cluster.restore`` of its own snapshot, so the twin also checks that a restored
cluster makes the same decisions as one that never went through a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gpuplane import (
    POLICIES,
    CapacityError,
    Cluster,
    Conflict,
    GpuplaneError,
    GpuSpec,
    InvalidRequest,
    NotFound,
    Workload,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

MODELS = ("A100", "H100")
GPU_MIB = (16_000, 40_000, 80_000)
ZONES = ("a", "b")


@dataclass(frozen=True)
class Held:
    """What one live workload holds, as the model expects it."""

    node: str
    gpu_ids: tuple[str, ...]
    memory_mib: int
    compute_milli: int
    priority: int
    preemptible: bool


def gpu_rows(c: Cluster) -> dict[str, tuple]:
    return {
        g.id: (g.healthy, g.memory_used_mib, g.memory_external_mib, g.compute_used_milli, g.workloads)
        for g in c.stats().gpus
    }


workload_fields = st.fixed_dictionaries(
    {
        "memory_mib": st.sampled_from([1_000, 4_000, 10_000, 20_000, 39_000, 40_000, 80_000]),
        "gpu_count": st.integers(0, 4),
        "compute_milli": st.sampled_from([0, 0, 250, 500, 1000]),
        "cpu_milli": st.sampled_from([0, 0, 500, 4_000]),
        "priority": st.integers(0, 3),
        "preemptible": st.booleans(),
        "allowed_models": st.sampled_from([(), (), ("A100",), ("H100",), ("A100", "H100")]),
        "node_selector": st.sampled_from([None, None, {"zone": "a"}, {"zone": "b"}]),
    }
)


class ClusterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c: Cluster | None = None
        self.twin: Cluster | None = None
        self.record: dict[str, Held] = {}
        self.next_id = 0
        self.next_node = 0

    # -- helpers ---------------------------------------------------------------------------------

    def both(self, op):
        """Runs ``op`` on the cluster and its twin; both must give the same answer or the same error."""
        outcomes = []
        for cluster in (self.c, self.twin):
            try:
                outcomes.append(("ok", op(cluster)))
            except GpuplaneError as e:
                outcomes.append(("error", type(e), str(e), getattr(e, "field", None)))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # a Rust panic surfaces as a BaseException: make it a failure
                raise AssertionError(f"{type(e).__name__}: {e}") from e
        assert outcomes[0] == outcomes[1]
        return outcomes[0]

    def fresh_id(self) -> str:
        self.next_id += 1
        return f"w{self.next_id}"

    def workload(self, fields: dict, wid: str | None = None) -> Workload:
        f = dict(fields)
        if f["gpu_count"] == 0:
            f["memory_mib"], f["compute_milli"] = 0, 0
            f["cpu_milli"] = f["cpu_milli"] or 500
        return Workload(wid or self.fresh_id(), **f)

    def nodes(self) -> list[str]:
        return [n for n in self.c.node_names() if n is not None]

    def remember(self, p, w: Workload) -> None:
        self.record[p.workload_id] = Held(
            p.node, tuple(p.gpu_ids), w.memory_mib, w.compute_milli, w.priority, w.preemptible
        )

    def expect_only_these_changed(self, before: dict, after: dict, held: Held, sign: int) -> None:
        for gid, row in before.items():
            if gid in held.gpu_ids:
                healthy, mem, ext, milli, n = row
                expected = (
                    healthy,
                    mem + sign * held.memory_mib,
                    ext,
                    milli + sign * held.compute_milli,
                    n + sign,
                )
                assert after[gid] == expected, (gid, row, after[gid])
            else:
                assert after[gid] == row, gid

    # -- rules -----------------------------------------------------------------------------------

    @initialize(policy=st.sampled_from(POLICIES), seed=st.integers(0, 2**64 - 1))
    def start(self, policy, seed):
        self.c = Cluster(policy, seed)
        self.twin = Cluster(policy, seed)

    @rule(
        count=st.integers(1, 4),
        mib=st.sampled_from(GPU_MIB),
        model=st.sampled_from(MODELS),
        grouped=st.booleans(),
        explicit_ids=st.booleans(),
        cpu=st.sampled_from([None, 2_000, 16_000]),
        zone=st.sampled_from(ZONES),
    )
    def add_node(self, count, mib, model, grouped, explicit_ids, cpu, zone):
        name = f"n{self.next_node}"
        self.next_node += 1
        specs = [
            GpuSpec(
                model,
                mib,
                topology_group=f"g{i // 2}" if grouped else None,
                id=f"uuid-{name}-{i}" if explicit_ids else None,
            )
            for i in range(count)
        ]
        out = self.both(lambda c: c.add_node(name, specs, cpu_milli=cpu, labels={"zone": zone}))
        assert out == ("ok", None)
        ids = [f"uuid-{name}-{i}" if explicit_ids else f"{name}/{i}" for i in range(count)]
        assert [g.id for g in self.c.stats().gpus if g.node == name] == ids

    @precondition(lambda self: self.next_node > 0)
    @rule(pick=st.integers(0, 1_000))
    def add_duplicate_node(self, pick):
        name = f"n{pick % self.next_node}"
        before = self.c.snapshot()
        live = name in self.nodes()
        out = self.both(lambda c: c.add_node(name, [GpuSpec("A100", 1_000)]))
        if live:
            assert out[:2] == ("error", Conflict)
            assert self.c.snapshot() == before
        else:  # a removed node's name may be reused
            assert out == ("ok", None)

    @rule(fields=workload_fields, policy=st.sampled_from([None, *POLICIES]))
    def place(self, fields, policy):
        w = self.workload(fields)
        before = gpu_rows(self.c)
        out = self.both(lambda c: c.place(w, policy=policy))
        after = gpu_rows(self.c)
        if out[0] == "ok":
            p = out[1]
            assert p.workload_id == w.id and p.policy == (policy or self.c.policy)
            assert len(p.gpu_ids) == w.gpu_count == len(set(p.gpu_ids))
            self.remember(p, w)
            self.expect_only_these_changed(before, after, self.record[w.id], +1)
        else:
            _, kind, message, field = out
            assert after == before
            assert kind in (CapacityError, InvalidRequest), message
            if kind is InvalidRequest:
                assert field in ("gpu_count", "allowed_models"), message

    @rule(fields=workload_fields, policy=st.sampled_from([None, *POLICIES]))
    def place_and_release_restores(self, fields, policy):
        w = self.workload(fields)
        before = gpu_rows(self.c)
        out = self.both(lambda c: c.place(w, policy=policy))
        if out[0] == "ok":
            released = self.both(lambda c: c.release(w.id))
            assert released[0] == "ok"
            assert released[1].gpu_ids == out[1].gpu_ids and released[1].node == out[1].node
        assert gpu_rows(self.c) == before

    @precondition(lambda self: self.record)
    @rule(pick=st.integers(0, 1_000), fields=workload_fields)
    def place_live_id_conflicts(self, pick, fields):
        wid = sorted(self.record)[pick % len(self.record)]
        before = self.c.snapshot()
        out = self.both(lambda c: c.place(self.workload(fields, wid)))
        assert out[:2] == ("error", Conflict)
        assert self.c.snapshot() == before

    @rule(
        rows=st.lists(workload_fields, min_size=0, max_size=6),
        policy=st.sampled_from([None, *POLICIES]),
        dtype=st.sampled_from([np.int32, np.int64]),
    )
    def place_many(self, rows, policy, dtype):
        # the bulk call carries only the numeric columns (no constraints; always preemptible)
        ws = [
            Workload(
                w.id,
                w.memory_mib,
                w.gpu_count,
                compute_milli=w.compute_milli,
                cpu_milli=w.cpu_milli,
                priority=w.priority,
            )
            for w in (self.workload(f) for f in rows)
        ]
        ids = [w.id for w in ws]

        def col(name):
            return np.array([getattr(w, name) for w in ws], dtype=dtype)

        out = self.both(
            lambda c: tuple(
                a.tolist()
                for a in c.place_many(
                    ids,
                    col("memory_mib"),
                    col("gpu_count"),
                    compute_milli=col("compute_milli"),
                    cpu_milli=col("cpu_milli"),
                    priority=col("priority"),
                    policy=policy,
                )
            )
        )
        if out[0] == "error":
            _, kind, message, field = out
            assert kind is InvalidRequest and "gpu_count" in field, message
            assert not any(w.id in self.c for w in ws)
            return
        placed, node, gpus = out[1]
        names, gpu_ids = self.c.node_names(), self.c.gpu_ids()
        for i, w in enumerate(ws):
            assert placed[i] == (w.id in self.c)
            if not placed[i]:
                assert node[i] == -1 and set(gpus[i]) == {-1}
                continue
            p = self.c.allocation(w.id)
            assert names[node[i]] == p.node
            assert tuple(gpu_ids[j] for j in gpus[i] if j != -1) == p.gpu_ids
            assert gpus[i][w.gpu_count :] == [-1] * (len(gpus[i]) - w.gpu_count)
            self.remember(p, w)

    @precondition(lambda self: self.record)
    @rule(pick=st.integers(0, 1_000))
    def release(self, pick):
        wid = sorted(self.record)[pick % len(self.record)]
        before = gpu_rows(self.c)
        out = self.both(lambda c: c.release(wid))
        assert out[0] == "ok"
        held = self.record.pop(wid)
        assert (out[1].node, tuple(out[1].gpu_ids)) == (held.node, held.gpu_ids)
        self.expect_only_these_changed(before, gpu_rows(self.c), held, -1)

    @rule()
    def release_unknown(self):
        out = self.both(lambda c: c.release("never-placed"))
        assert out[:2] == ("error", NotFound)
        out = self.both(lambda c: c.release_many(["never-placed"]).tolist())
        assert out == ("ok", [False])

    @rule(fields=workload_fields, boost=st.integers(1, 3))
    def preempt(self, fields, boost):
        w = self.workload(fields)
        w = Workload(
            w.id,
            w.memory_mib,
            w.gpu_count,
            compute_milli=w.compute_milli,
            cpu_milli=w.cpu_milli,
            allowed_models=w.allowed_models,
            node_selector=w.node_selector,
            priority=w.priority + boost,
        )
        self.check_preemption(w)

    @precondition(lambda self: self.record)
    @rule(pick=st.integers(0, 1_000), boost=st.integers(1, 3))
    def preempt_same_shape(self, pick, boost):
        """A higher-priority workload shaped like a live one: eviction is the natural way in."""
        held = self.record[sorted(self.record)[pick % len(self.record)]]
        count = len(held.gpu_ids)
        w = Workload(
            self.fresh_id(),
            held.memory_mib,
            count,
            compute_milli=held.compute_milli,
            cpu_milli=0 if count else 500,
            priority=held.priority + boost,
        )
        self.check_preemption(w)

    def check_preemption(self, w: Workload) -> None:
        before = self.c.snapshot()
        out = self.both(lambda c: c.preemption_plan(w))
        assert self.c.snapshot() == before  # planning changes nothing
        if out[0] == "error":
            _, kind, message, field = out
            assert kind is InvalidRequest and field in ("gpu_count", "allowed_models"), message
            return
        plan = out[1]
        if plan is None:
            return
        assert plan.workload == w
        victims = [self.record[v] for v in plan.victims]
        assert len(set(plan.victims)) == len(victims)
        for v in victims:
            assert v.preemptible and v.priority < w.priority
            assert v.node == plan.node
        assert plan.evicted_memory_mib == sum(v.memory_mib * len(v.gpu_ids) for v in victims)
        # a fresh plan must be executable
        done = self.both(lambda c: c.preempt(plan))
        assert done[0] == "ok", done
        p = done[1]
        assert p.node == plan.node and p.workload_id == w.id
        for v in plan.victims:
            assert v not in self.c
            del self.record[v]
        self.remember(p, w)
        # the same plan again is stale: Conflict, and nothing changes
        snap = self.c.snapshot()
        again = self.both(lambda c: c.preempt(plan))
        assert again[:2] == ("error", Conflict)
        assert self.c.snapshot() == snap

    @precondition(lambda self: self.next_node > 0)
    @rule(pick=st.integers(0, 1_000), healthy=st.booleans())
    def set_gpu_health(self, pick, healthy):
        gpus = self.c.stats().gpus
        if not gpus:
            return
        gid = gpus[pick % len(gpus)].id
        expected = [] if healthy else sorted(w for w, h in self.record.items() if gid in h.gpu_ids)
        out = self.both(lambda c: c.set_gpu_health(gid, healthy))
        assert out[0] == "ok" and sorted(out[1]) == expected
        for wid in expected:
            del self.record[wid]
            assert wid not in self.c
        (g,) = [g for g in self.c.stats().gpus if g.id == gid]
        assert g.healthy == healthy

    @rule(
        pick=st.integers(0, 1_000),
        share=st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0, 1),
        over=st.booleans(),
    )
    def set_external_usage(self, pick, share, over):
        gpus = self.c.stats().gpus
        if not gpus:
            out = self.both(lambda c: c.set_external_usage("no-such-gpu", 1))
            assert out[:2] == ("error", NotFound)
            return
        g = gpus[pick % len(gpus)]
        mib = g.memory_total_mib + 1 if over else round(share * g.memory_total_mib)
        before = self.c.snapshot()
        out = self.both(lambda c: c.set_external_usage(g.id, mib))
        if over:
            assert out[:2] == ("error", InvalidRequest) and out[3] == "memory_mib"
            assert self.c.snapshot() == before
        else:
            assert out == ("ok", None)

    @precondition(lambda self: self.next_node > 0)
    @rule(pick=st.integers(0, 1_000))
    def remove_node(self, pick):
        nodes = self.nodes()
        if not nodes:
            return
        name = nodes[pick % len(nodes)]
        expected = sorted(w for w, h in self.record.items() if h.node == name)
        out = self.both(lambda c: c.remove_node(name))
        assert out[0] == "ok" and sorted(out[1]) == expected
        for wid in expected:
            del self.record[wid]
        assert name not in self.c.node_names()

    @rule()
    def snapshot_and_restore(self):
        snap = self.c.snapshot()
        restored = Cluster.restore(snap)
        assert restored.snapshot() == snap
        assert (restored.policy, restored.seed) == (self.c.policy, self.c.seed)
        self.c = restored  # the twin carries on without a restore

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def capacity_and_accounting(self):
        if self.c is None:
            return
        s = self.c.stats()
        used: dict[str, list[int]] = {g.id: [0, 0, 0] for g in s.gpus}
        for held in self.record.values():
            for gid in held.gpu_ids:
                used[gid][0] += held.memory_mib
                used[gid][1] += held.compute_milli
                used[gid][2] += 1
        for g in s.gpus:
            assert g.memory_used_mib <= g.memory_total_mib, g
            assert g.compute_used_milli <= g.compute_total_milli, g
            assert g.memory_free_mib == max(0, g.memory_total_mib - g.memory_used_mib - g.memory_external_mib)
            assert g.compute_free_milli == g.compute_total_milli - g.compute_used_milli
            assert [g.memory_used_mib, g.compute_used_milli, g.workloads] == used[g.id], g
            if not g.healthy:
                assert g.workloads == 0, g
        assert s.workloads == len(self.c) == len(self.record)
        assert self.c.workloads() == sorted(self.record)
        assert s.totals.memory_used_mib == sum(g.memory_used_mib for g in s.gpus)
        assert s.totals.memory_free_mib == sum(g.memory_free_mib for g in s.gpus)
        assert 0.0 <= s.allocation_ratio <= 1.0 + 1e-9 and 0.0 <= s.fragmentation_ratio <= 1.0 + 1e-9

    @invariant()
    def gangs_on_one_node(self):
        if self.c is None:
            return
        node_of = {g.id: g.node for g in self.c.stats().gpus}
        for wid, held in self.record.items():
            p = self.c.allocation(wid)
            assert p is not None
            assert (p.node, tuple(p.gpu_ids)) == (held.node, held.gpu_ids)
            assert all(node_of[gid] == p.node for gid in p.gpu_ids)

    @invariant()
    def twin_is_identical(self):
        if self.c is None:
            return
        snap = self.c.snapshot()
        assert snap == self.twin.snapshot()
        assert Cluster.restore(snap).snapshot() == snap


ClusterMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=40, deadline=None)
TestClusterMachine = ClusterMachine.TestCase
