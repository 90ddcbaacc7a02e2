"""Behaviour of the placement engine through the Python API (``gpuplane.Cluster`` and its values)."""

from __future__ import annotations

import json
import math
import struct
import zlib

import gpuplane
import numpy as np
import pytest
from gpuplane import (
    POLICIES,
    CapacityError,
    Cluster,
    Conflict,
    GpuplaneError,
    GpuSpec,
    InvalidRequest,
    NotFound,
    SnapshotError,
    Workload,
)
from hypothesis import given, settings
from hypothesis import strategies as st

GPU_FIELDS = (
    "id",
    "node",
    "model",
    "healthy",
    "memory_total_mib",
    "memory_used_mib",
    "memory_external_mib",
    "memory_free_mib",
    "compute_total_milli",
    "compute_used_milli",
    "compute_free_milli",
    "workloads",
)
TOTALS_FIELDS = (
    "gpus",
    "healthy_gpus",
    "memory_total_mib",
    "memory_used_mib",
    "memory_external_mib",
    "memory_free_mib",
    "compute_total_milli",
    "compute_used_milli",
    "compute_free_milli",
)


def gpus(n: int, model: str = "A100", mib: int = 40_000, **kw) -> list[GpuSpec]:
    return [GpuSpec(model, mib, **kw) for _ in range(n)]


def make(policy: str = "first_fit", nodes: int = 2, per_node: int = 4, mib: int = 40_000, seed: int = 0):
    c = Cluster(policy, seed)
    for i in range(nodes):
        c.add_node(f"n{i}", gpus(per_node, mib=mib))
    return c


def gpu_rows(c: Cluster) -> list[tuple]:
    """Every GPU's stats as plain tuples (GpuStats has no equality of its own)."""
    return [tuple(getattr(g, f) for f in GPU_FIELDS) for g in c.stats().gpus]


def totals_row(t) -> tuple:
    return tuple(getattr(t, f) for f in TOTALS_FIELDS)


def gpu_stat(c: Cluster, gpu_id: str):
    (g,) = [g for g in c.stats().gpus if g.id == gpu_id]
    return g


def assert_unchanged_after(c: Cluster, exc_type, fn, field: str | None = None):
    """``fn`` raises ``exc_type`` (naming ``field`` for InvalidRequest) and leaves ``c`` byte-identical."""
    before = c.snapshot()
    with pytest.raises(exc_type) as info:
        fn()
    if field is not None:
        assert info.value.field == field, str(info.value)
    assert c.snapshot() == before
    return info.value


# --------------------------------------------------------------------------------------------------
# Module surface
# --------------------------------------------------------------------------------------------------


def test_module_constants():
    assert POLICIES == [
        "first_fit",
        "best_fit",
        "spread",
        "packing",
        "random",
        "fgd",
        "dotprod",
        "clustering",
        "fgd_fill",
    ]
    assert isinstance(gpuplane.SNAPSHOT_VERSION, int) and gpuplane.SNAPSHOT_VERSION >= 1
    assert isinstance(gpuplane.__version__, str) and gpuplane.__version__.count(".") >= 2


def test_error_hierarchy():
    assert issubclass(InvalidRequest, ValueError) and issubclass(InvalidRequest, GpuplaneError)
    assert issubclass(NotFound, KeyError) and issubclass(NotFound, GpuplaneError)
    assert issubclass(SnapshotError, InvalidRequest)
    for cls in (Conflict, CapacityError, gpuplane.QuotaExceeded):
        assert issubclass(cls, GpuplaneError)
        assert not issubclass(cls, (ValueError, KeyError))


def test_cluster_defaults_and_repr():
    c = Cluster()
    assert c.policy == "fgd" and c.seed == 0
    assert len(c) == 0 and c.workloads() == []
    c = Cluster("spread", seed=7)
    assert (c.policy, c.seed) == ("spread", 7)
    c.add_node("n0", gpus(2))
    c.place(Workload("w", 100))
    assert repr(c) == "Cluster(policy='spread', nodes=1, gpus=2, workloads=1)"


# --------------------------------------------------------------------------------------------------
# add_node
# --------------------------------------------------------------------------------------------------


def test_add_node_default_gpu_ids_and_labels():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(3), labels={"zone": "a"})
    c.add_node("n1", [GpuSpec("H100", 80_000, compute_milli=2000)])
    assert c.node_names() == ["n0", "n1"]
    assert c.gpu_ids() == ["n0/0", "n0/1", "n0/2", "n1/0"]
    s = c.stats()
    assert s.nodes == 2
    assert [(g.id, g.node, g.model, g.memory_total_mib, g.compute_total_milli) for g in s.gpus] == [
        ("n0/0", "n0", "A100", 40_000, 1000),
        ("n0/1", "n0", "A100", 40_000, 1000),
        ("n0/2", "n0", "A100", 40_000, 1000),
        ("n1/0", "n1", "H100", 80_000, 2000),
    ]
    assert all(g.healthy and g.memory_free_mib == g.memory_total_mib for g in s.gpus)
    # the label is honoured by a node selector
    p = c.place(Workload("w", 1000, node_selector={"zone": "a"}))
    assert p.node == "n0"


def test_add_node_explicit_gpu_ids():
    c = Cluster("first_fit")
    c.add_node("n0", [GpuSpec("A100", 40_000, id="GPU-aaa"), GpuSpec("A100", 40_000, id="GPU-bbb")])
    assert c.gpu_ids() == ["GPU-aaa", "GPU-bbb"]
    p = c.place(Workload("w", 1000, 2))
    assert p.gpu_ids == ("GPU-aaa", "GPU-bbb")
    c.set_external_usage("GPU-bbb", 500)
    assert gpu_stat(c, "GPU-bbb").memory_external_mib == 500


def test_add_node_duplicate_node_name_is_conflict():
    c = make(nodes=1)
    assert_unchanged_after(c, Conflict, lambda: c.add_node("n0", gpus(1)))
    assert c.node_names() == ["n0"]


@pytest.mark.parametrize(
    "specs",
    [
        [GpuSpec("A100", 40_000, id="x"), GpuSpec("A100", 40_000, id="x")],  # within the node
        [GpuSpec("A100", 40_000, id="n0/0")],  # collides with another node's default id
        [GpuSpec("A100", 40_000), GpuSpec("A100", 40_000, id="n9/0")],  # default id collides in-node
    ],
)
def test_add_node_duplicate_gpu_id_is_conflict(specs):
    c = make(nodes=1)
    assert_unchanged_after(c, Conflict, lambda: c.add_node("n9", specs))
    assert "n9" not in c.node_names()
    assert len(c.stats().gpus) == 4


def test_remove_node_displaces_and_keeps_indices():
    c = make(nodes=2, per_node=2)
    c.place(Workload("a", 1000, 2))
    c.place(Workload("b", 1000, 1), policy="spread")
    on_n0 = sorted(w for w in c.workloads() if c.allocation(w).node == "n0")
    assert sorted(c.remove_node("n0")) == on_n0
    assert all(w not in c for w in on_n0)
    assert c.node_names() == [None, "n1"]
    assert c.gpu_ids() == [None, None, "n1/0", "n1/1"]
    assert [g.node for g in c.stats().gpus] == ["n1", "n1"]
    with pytest.raises(NotFound):
        c.remove_node("n0")
    c.add_node("n0", gpus(1))  # the name (and default GPU ids) can be reused
    assert c.node_names() == [None, "n1", "n0"]
    assert c.gpu_ids()[-1] == "n0/0"


# --------------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_places_and_names_itself(policy):
    c = make(policy, nodes=3, per_node=2)
    placements = [c.place(Workload(f"w{i}", 15_000, 1 + i % 2)) for i in range(6)]
    for p in placements:
        assert p.policy == policy
        assert p.reason.startswith(f"{policy}: ")
        assert isinstance(p.score, float) and math.isfinite(p.score)
        assert c.allocation(p.workload_id).gpu_ids == p.gpu_ids
        assert c.allocation(p.workload_id).node == p.node
    assert c.stats().totals.memory_used_mib == sum(15_000 * (1 + i % 2) for i in range(6))


@pytest.mark.parametrize("policy", POLICIES)
def test_per_call_policy_override(policy):
    default = "spread" if policy != "spread" else "first_fit"
    c = make(default)
    p = c.place(Workload("w", 1000), policy=policy)
    assert p.policy == policy
    assert c.policy == default
    assert c.place(Workload("v", 1000)).policy == default


def _one_busy_gpu(policy: str) -> Cluster:
    """Two nodes of two 40 GiB GPUs; n1/0 holds 20 GiB (put there through a node selector)."""
    c = Cluster(policy)
    c.add_node("n0", gpus(2), labels={"name": "n0"})
    c.add_node("n1", gpus(2), labels={"name": "n1"})
    c.place(Workload("seed", 20_000, node_selector={"name": "n1"}), policy="first_fit")
    assert c.allocation("seed").gpu_ids == ("n1/0",)
    return c


def test_first_fit_takes_first_node_and_lowest_gpu():
    c = _one_busy_gpu("first_fit")
    p = c.place(Workload("w", 10_000))
    assert (p.node, p.gpu_ids) == ("n0", ("n0/0",))
    p = c.place(Workload("v", 10_000))
    assert (p.node, p.gpu_ids) == ("n0", ("n0/0",))  # still fits on the first GPU


def test_best_fit_takes_the_tightest_gpu():
    c = _one_busy_gpu("best_fit")
    p = c.place(Workload("w", 10_000))
    assert (p.node, p.gpu_ids) == ("n1", ("n1/0",))


def test_spread_takes_the_emptiest_node():
    c = _one_busy_gpu("spread")
    # both nodes partly used: n0 keeps 35 + 40 GiB free, n1 20 + 40 GiB: n0 is the emptier
    c.place(Workload("x", 5_000, node_selector={"name": "n0"}), policy="first_fit")
    assert c.place(Workload("w", 1_000)).node == "n0"
    # within the node, the emptiest GPU
    c2 = _one_busy_gpu("spread")
    assert c2.place(Workload("w", 1_000)).gpu_ids == ("n0/0",)
    assert c2.place(Workload("y", 1_000)).gpu_ids == ("n0/1",)


def test_packing_prefers_gpus_already_in_use():
    c = _one_busy_gpu("packing")
    p = c.place(Workload("w", 10_000))
    assert (p.node, p.gpu_ids) == ("n1", ("n1/0",))
    assert "packs onto GPUs already in use" in p.reason
    # a whole-GPU request cannot pack: it uses the idle GPU of the busy node before an idle node
    p = c.place(Workload("v", 40_000))
    assert (p.node, p.gpu_ids) == ("n1", ("n1/1",))
    p = c.place(Workload("u", 40_000))
    assert p.node == "n0" and "opens an idle node" in p.reason


def test_fgd_keeps_whole_gpus_free_for_whole_gpu_work():
    c = Cluster("fgd")
    c.add_node("n0", gpus(2))
    c.add_node("n1", gpus(2))
    c.set_workload_distribution([(Workload("shape", 40_000, 1), 1.0)])
    c.place(Workload("a", 20_000), policy="spread")
    (busy,) = [g.id for g in c.stats().gpus if g.memory_used_mib]
    p = c.place(Workload("b", 20_000))
    assert p.gpu_ids == (busy,)  # fills the half-used GPU: no whole GPU is fragmented
    assert p.policy == "fgd" and "fragmentation" in p.reason
    assert c.stats().fragmentation_gpus == 0.0


def test_random_policy_is_seeded_and_spreads():
    def run(seed):
        c = make("random", nodes=6, per_node=2, seed=seed)
        return [c.place(Workload(f"w{i}", 1_000)) for i in range(30)]

    a, b = run(42), run(42)
    assert a == b
    assert len({p.node for p in a}) > 1
    assert [p.gpu_ids for p in run(43)] != [p.gpu_ids for p in a]


# --------------------------------------------------------------------------------------------------
# Gangs, topology, constraints, CPU-only
# --------------------------------------------------------------------------------------------------


def test_gang_is_all_or_nothing_on_one_node():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(2))
    c.add_node("n1", gpus(4))
    c.place(Workload("blocker", 40_000, 3))  # only n1 can take 3 GPUs
    assert c.allocation("blocker").node == "n1"
    # 4 GPUs free in total (n0: 2, n1: 1) but no node has 3
    before = gpu_rows(c)
    with pytest.raises(CapacityError):
        c.place(Workload("gang", 1_000, 3))
    assert gpu_rows(c) == before and "gang" not in c
    p = c.place(Workload("pair", 1_000, 2))
    assert p.node == "n0" and len(set(p.gpu_ids)) == 2
    node_of = {g.id: g.node for g in c.stats().gpus}
    for w in c.workloads():
        a = c.allocation(w)
        assert {node_of[g] for g in a.gpu_ids} == {a.node}


def test_gang_prefers_one_topology_group():
    c = Cluster("first_fit")
    groups = ["a", "b", "a", "b"]
    c.add_node("n0", [GpuSpec("A100", 40_000, topology_group=g) for g in groups])
    c.place(Workload("x", 40_000), policy="first_fit")  # n0/0 (group a) is now full
    p = c.place(Workload("g", 1_000, 2))
    assert p.gpu_ids == ("n0/1", "n0/3")  # group b; first_fit alone would take n0/1, n0/2
    assert "one topology group" in p.reason
    # no group can hold a gang of 3: it spans groups rather than failing
    c.add_node("n1", [GpuSpec("A100", 40_000, topology_group=g) for g in "abcd"], labels={"k": "v"})
    p = c.place(Workload("h", 1_000, 3, node_selector={"k": "v"}))
    assert p.node == "n1" and len(p.gpu_ids) == 3
    assert "spans topology groups" in p.reason


def test_gpu_spec_topology_group_reported():
    spec = GpuSpec("A100", 40_000, 500, "nvlink0", "uuid")
    assert (spec.model, spec.memory_mib, spec.compute_milli, spec.topology_group, spec.id) == (
        "A100",
        40_000,
        500,
        "nvlink0",
        "uuid",
    )
    assert GpuSpec("A100", 1).topology_group is None and GpuSpec("A100", 1).id is None


def test_allowed_models():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(2, "A100"))
    c.add_node("n1", gpus(2, "H100", 80_000))
    assert c.place(Workload("h", 1_000, allowed_models=["H100"])).node == "n1"
    assert c.place(Workload("a", 1_000, allowed_models=["A100", "H100"])).node == "n0"
    before = gpu_rows(c)
    with pytest.raises(CapacityError) as info:
        c.place(Workload("big", 50_000, allowed_models=["A100"]))
    assert info.value.excluded.get("memory") == 2 and sum(info.value.excluded.values()) == 4, (
        info.value.excluded
    )
    assert gpu_rows(c) == before and "big" not in c
    e = assert_unchanged_after(
        c, InvalidRequest, lambda: c.place(Workload("x", 1_000, allowed_models=["V100"])), "allowed_models"
    )
    assert "V100" in str(e)


def test_node_selector():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(1), labels={"zone": "a", "tier": "gold"})
    c.add_node("n1", gpus(1), labels={"zone": "b"})
    assert c.place(Workload("b", 1_000, node_selector={"zone": "b"})).node == "n1"
    assert c.place(Workload("g", 1_000, node_selector={"zone": "a", "tier": "gold"})).node == "n0"
    with pytest.raises(CapacityError):
        c.place(Workload("x", 1_000, node_selector={"zone": "b", "tier": "gold"}))
    with pytest.raises(CapacityError):
        c.place(Workload("y", 1_000, node_selector={"zone": "c"}))
    assert sorted(c.workloads()) == ["b", "g"]


def test_cpu_only_workloads_use_host_resources():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(1), cpu_milli=4_000, memory_mib=8_000)
    c.add_node("n1", gpus(1), cpu_milli=4_000, memory_mib=8_000)
    before = gpu_rows(c)
    p = c.place(Workload("c0", 0, 0, cpu_milli=3_000, host_memory_mib=1_000))
    assert (p.node, p.gpu_ids, p.memory_mib) == ("n0", (), 0)
    p = c.place(Workload("c1", 0, 0, cpu_milli=3_000))
    assert p.node == "n1"  # n0 has only 1000 milli-CPU left
    p = c.place(Workload("c2", 0, 0, host_memory_mib=7_000))
    assert p.node == "n0"
    assert gpu_rows(c) == before  # GPUs untouched
    with pytest.raises(CapacityError):
        c.place(Workload("c3", 0, 0, cpu_milli=2_000))
    # host resources bind GPU work too
    with pytest.raises(CapacityError):
        c.place(Workload("g", 1_000, 1, cpu_milli=1_500))
    c.release("c1")
    assert c.place(Workload("g", 1_000, 1, cpu_milli=1_500)).node == "n1"


# --------------------------------------------------------------------------------------------------
# Release, ids, NotFound, Conflict
# --------------------------------------------------------------------------------------------------


def test_release_restores_exactly():
    c = make("best_fit", nodes=2, per_node=2)
    c.place(Workload("base", 7_000, 1, compute_milli=250))
    c.set_external_usage("n1/1", 3_000)
    before = gpu_rows(c)
    snap = c.snapshot()
    p = c.place(Workload("w", 12_345, 2, compute_milli=333, cpu_milli=10))
    assert gpu_rows(c) != before
    r = c.release("w")
    assert (r.workload_id, r.node, r.gpu_ids, r.memory_mib, r.compute_milli) == (
        "w",
        p.node,
        p.gpu_ids,
        12_345,
        333,
    )
    assert gpu_rows(c) == before
    assert "w" not in c and c.allocation("w") is None
    # the id is free for reuse, and the GPUs can take the same work again
    c.place(Workload("w", 12_345, 2, compute_milli=333, cpu_milli=10))
    c.release("w")
    assert gpu_rows(c) == before
    assert Cluster.restore(c.snapshot()).workloads() == Cluster.restore(snap).workloads() == ["base"]


def test_unknown_ids_raise_not_found():
    c = make(nodes=1)
    c.place(Workload("w", 1_000))
    for fn in (
        lambda: c.release("nope"),
        lambda: c.set_external_usage("n0/99", 1),
        lambda: c.set_gpu_health("n0/99", False),
        lambda: c.remove_node("n7"),
    ):
        e = assert_unchanged_after(c, NotFound, fn)
        assert isinstance(e, KeyError)
    with pytest.raises(KeyError, match="nope"):
        c.release("nope")
    assert c.allocation("nope") is None and "nope" not in c


def test_reusing_a_live_id_is_conflict():
    c = make(nodes=1)
    c.place(Workload("w", 1_000))
    assert_unchanged_after(c, Conflict, lambda: c.place(Workload("w", 2_000)))
    assert_unchanged_after(c, Conflict, lambda: c.preemption_plan(Workload("w", 2_000, priority=9)))
    c.release("w")
    c.place(Workload("w", 2_000))
    assert c.allocation("w").memory_mib == 2_000


def test_len_contains_workloads_and_allocation():
    c = make(nodes=1)
    for w in ("b", "a", "c"):
        c.place(Workload(w, 1_000))
    assert len(c) == 3 and c.workloads() == ["a", "b", "c"]
    assert "a" in c and "z" not in c
    a = c.allocation("a")
    assert a.workload_id == "a" and a.node == "n0" and a.memory_mib == 1_000


# --------------------------------------------------------------------------------------------------
# External usage and health
# --------------------------------------------------------------------------------------------------


def test_external_usage_is_subtracted_from_free():
    c = make("first_fit", nodes=1, per_node=2)
    c.set_external_usage("n0/0", 30_000)
    g = gpu_stat(c, "n0/0")
    assert (g.memory_external_mib, g.memory_free_mib, g.memory_used_mib) == (30_000, 10_000, 0)
    assert c.stats().totals.memory_external_mib == 30_000
    assert c.place(Workload("w", 20_000)).gpu_ids == ("n0/1",)
    assert c.place(Workload("v", 10_000)).gpu_ids == ("n0/0",)
    assert gpu_stat(c, "n0/0").memory_free_mib == 0
    # external usage may grow beyond what is left; free never goes negative
    c.set_external_usage("n0/0", 40_000)
    g = gpu_stat(c, "n0/0")
    assert (g.memory_used_mib, g.memory_external_mib, g.memory_free_mib) == (10_000, 40_000, 0)
    c.set_external_usage("n0/0", 0)
    assert gpu_stat(c, "n0/0").memory_free_mib == 30_000


def test_external_usage_above_total_or_negative_is_rejected():
    c = make(nodes=1, per_node=1)
    assert_unchanged_after(c, InvalidRequest, lambda: c.set_external_usage("n0/0", 40_001), "memory_mib")
    assert_unchanged_after(c, InvalidRequest, lambda: c.set_external_usage("n0/0", -1), "memory_mib")
    c.set_external_usage("n0/0", 40_000)  # exactly the total is allowed
    assert gpu_stat(c, "n0/0").memory_free_mib == 0


def test_draining_displaces_and_avoids_the_gpu():
    c = make("first_fit", nodes=1, per_node=3)
    c.place(Workload("a", 30_000))  # n0/0
    c.place(Workload("b", 30_000))  # n0/1
    c.place(Workload("gang", 5_000, 2))  # n0/0 is fullest? first_fit: n0/0 + n0/1
    assert c.allocation("a").gpu_ids == ("n0/0",) and c.allocation("b").gpu_ids == ("n0/1",)
    assert c.allocation("gang").gpu_ids == ("n0/0", "n0/1")
    displaced = c.set_gpu_health("n0/0", False)
    assert sorted(displaced) == ["a", "gang"]
    assert "a" not in c and "gang" not in c and "b" in c
    g0, g1 = gpu_stat(c, "n0/0"), gpu_stat(c, "n0/1")
    assert not g0.healthy and g0.memory_used_mib == 0 and g0.workloads == 0
    assert g1.memory_used_mib == 30_000  # the gang's share on n0/1 was released too
    assert c.stats().totals.healthy_gpus == 2
    for i in range(4):
        assert "n0/0" not in c.place(Workload(f"new{i}", 1_000)).gpu_ids
    with pytest.raises(CapacityError):
        c.place(Workload("three", 1_000, 3))
    assert c.set_gpu_health("n0/0", False) == []  # already drained
    assert c.set_gpu_health("n0/0", True) == []
    assert gpu_stat(c, "n0/0").healthy
    assert set(c.place(Workload("three", 1_000, 3)).gpu_ids) == {"n0/0", "n0/1", "n0/2"}


# --------------------------------------------------------------------------------------------------
# Preemption
# --------------------------------------------------------------------------------------------------


def _full_gpu(**prio) -> Cluster:
    """One 40 GiB GPU holding a (10 GiB), b (10 GiB), c (20 GiB), all priority 0 unless given."""
    c = Cluster("first_fit")
    c.add_node("n0", gpus(1))
    for name, mib in (("a", 10_000), ("b", 10_000), ("c", 20_000)):
        c.place(Workload(name, mib, priority=prio.get(name, 0)))
    return c


def test_preemption_plan_fewest_victims():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 20_000, priority=1))
    assert plan is not None
    assert (plan.node, plan.victims, plan.evicted_memory_mib) == ("n0", ["c"], 20_000)
    assert plan.workload == Workload("hp", 20_000, priority=1)
    assert "fewest victims" in plan.reason


def test_preemption_plan_least_memory():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 10_000, priority=1))
    assert len(plan.victims) == 1 and plan.victims[0] in ("a", "b")
    assert plan.evicted_memory_mib == 10_000


def test_preemption_plan_prefers_node_with_fewer_victims():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(1))
    c.add_node("n1", gpus(1))
    c.place(Workload("a", 20_000), policy="first_fit")
    c.place(Workload("b", 20_000), policy="first_fit")
    c.place(Workload("c", 40_000), policy="first_fit")
    assert c.allocation("c").node == "n1"
    plan = c.preemption_plan(Workload("hp", 40_000, priority=1))
    assert (plan.node, plan.victims, plan.evicted_memory_mib) == ("n1", ["c"], 40_000)


def test_preemption_never_touches_equal_higher_or_non_preemptible():
    c = _full_gpu(a=1, b=5, c=1)
    assert c.preemption_plan(Workload("hp", 10_000, priority=1)) is None  # all >= 1
    plan = c.preemption_plan(Workload("hp", 20_000, priority=2))
    assert sorted(plan.victims) == ["c"]
    assert c.preemption_plan(Workload("hp", 40_000, priority=2)) is None  # would need b (5)
    c2 = Cluster("first_fit")
    c2.add_node("n0", gpus(1))
    c2.place(Workload("np", 30_000, preemptible=False))
    c2.place(Workload("p", 10_000))
    assert c2.preemption_plan(Workload("hp", 20_000, priority=9)) is None
    assert c2.preemption_plan(Workload("hp", 10_000, priority=9)).victims == ["p"]


def test_preemption_plan_none_when_impossible_and_plan_changes_nothing():
    c = _full_gpu()
    before = c.snapshot()
    assert c.preemption_plan(Workload("huge", 40_001, priority=9)) is None
    plan = c.preemption_plan(Workload("hp", 40_000, priority=9))
    assert sorted(plan.victims) == ["a", "b", "c"] and plan.evicted_memory_mib == 40_000
    assert c.snapshot() == before
    with pytest.raises(InvalidRequest):
        c.preemption_plan(Workload("g", 1_000, 2))  # no node has 2 GPUs


def test_preemption_plan_with_room_needs_no_victims():
    c = make(nodes=1, per_node=1)
    plan = c.preemption_plan(Workload("w", 1_000, priority=1))
    assert plan.victims == [] and plan.evicted_memory_mib == 0
    assert c.preempt(plan).node == "n0"


def test_preempt_executes_the_plan():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 20_000, priority=1))
    p = c.preempt(plan)
    assert (p.workload_id, p.node, p.gpu_ids) == ("hp", "n0", ("n0/0",))
    assert "c" not in c and "hp" in c and sorted(c.workloads()) == ["a", "b", "hp"]
    g = gpu_stat(c, "n0/0")
    assert g.memory_used_mib == 40_000 and g.workloads == 3


def test_reused_plan_is_conflict_and_changes_nothing():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 20_000, priority=1))
    c.preempt(plan)
    assert_unchanged_after(c, Conflict, lambda: c.preempt(plan))
    c.release("hp")
    # the victim is gone: still stale although the workload is no longer placed
    assert_unchanged_after(c, Conflict, lambda: c.preempt(plan))


def test_stale_plan_victim_gone_is_conflict_and_changes_nothing():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 30_000, priority=1))
    assert sorted(plan.victims) in (["a", "c"], ["b", "c"])
    c.release(plan.victims[0])
    e = assert_unchanged_after(c, Conflict, lambda: c.preempt(plan))
    assert "stale" in str(e) and plan.victims[0] in str(e)
    assert "hp" not in c and plan.victims[1] in c


def test_stale_plan_after_external_usage_grew_is_conflict_and_changes_nothing():
    c = _full_gpu()
    plan = c.preemption_plan(Workload("hp", 30_000, priority=1))
    assert sorted(plan.victims) in (["a", "c"], ["b", "c"])
    # NVML reports 15 GiB of foreign use: after evicting 30 GiB only 15 GiB would be free
    c.set_external_usage("n0/0", 15_000)
    e = assert_unchanged_after(c, Conflict, lambda: c.preempt(plan))
    assert "stale" in str(e)
    assert sorted(c.workloads()) == ["a", "b", "c"]


def test_preemption_plan_accounts_for_external_usage():
    c = _full_gpu()
    c.set_external_usage("n0/0", 15_000)  # the GPU is over-committed: 40 GiB placed + 15 GiB foreign
    # evicting everything frees 40 GiB placed, leaving 25 GiB: 30 GiB can never fit
    assert c.preemption_plan(Workload("hp", 30_000, priority=1)) is None
    plan = c.preemption_plan(Workload("hp", 20_000, priority=1))
    assert plan is not None
    # 20 GiB free needs placed <= 5 GiB (40 - 15 foreign - 20): only evicting all three does it
    assert plan.evicted_memory_mib == 40_000 and sorted(plan.victims) == ["a", "b", "c"]
    p = c.preempt(plan)
    assert p.gpu_ids == ("n0/0",)
    g = gpu_stat(c, "n0/0")
    assert g.memory_used_mib + g.memory_external_mib <= g.memory_total_mib


# --------------------------------------------------------------------------------------------------
# Snapshots
# --------------------------------------------------------------------------------------------------


def _busy_cluster(policy: str = "fgd", seed: int = 5) -> Cluster:
    c = Cluster(policy, seed)
    c.add_node("n0", [GpuSpec("A100", 40_000, topology_group=g) for g in "aabb"], labels={"zone": "a"})
    c.add_node("n1", gpus(2, "H100", 80_000), cpu_milli=16_000, memory_mib=64_000, labels={"zone": "b"})
    c.add_node("n2", [GpuSpec("A100", 40_000, id="GPU-x"), GpuSpec("A100", 40_000, id="GPU-y")])
    c.set_gpu_health("n0/3", False)
    c.place(Workload("w0", 10_000, 2, tenant="t1", priority=2))
    c.place(Workload("w1", 30_000, 1, compute_milli=500, allowed_models=["H100"], cpu_milli=2_000))
    c.place(Workload("w2", 5_000, 1, node_selector={"zone": "a"}, preemptible=False), policy="random")
    c.place(Workload("w3", 0, 0, cpu_milli=1_000, host_memory_mib=2_000))
    c.set_external_usage("GPU-x", 1_234)
    return c


def test_snapshot_has_versioned_header():
    snap = _busy_cluster().snapshot()
    assert isinstance(snap, bytes)
    assert snap[:8] == b"GPUPLSNP"
    version, crc, length = struct.unpack("<HIQ", snap[8:22])
    assert version == gpuplane.SNAPSHOT_VERSION
    assert length == len(snap) - 22
    assert crc == zlib.crc32(snap[22:])


@pytest.mark.parametrize("policy", POLICIES)
def test_snapshot_restore_round_trip(policy):
    c = _busy_cluster(policy)
    snap = c.snapshot()
    r = Cluster.restore(snap)
    assert r.snapshot() == snap
    assert Cluster.restore(r.snapshot()).snapshot() == snap
    assert (r.policy, r.seed) == (policy, 5)
    assert gpu_rows(r) == gpu_rows(c)
    assert r.workloads() == c.workloads()
    assert [r.allocation(w) for w in r.workloads()] == [c.allocation(w) for w in c.workloads()]
    assert r.node_names() == c.node_names() and r.gpu_ids() == c.gpu_ids()
    assert r.workload_distribution() == c.workload_distribution()
    assert repr(r.stats()) == repr(c.stats())


@pytest.mark.parametrize("policy", POLICIES)
def test_restored_cluster_makes_the_same_next_decisions(policy):
    c = _busy_cluster(policy)
    r = Cluster.restore(c.snapshot())
    shapes = [(8_000, 1), (20_000, 2), (40_000, 1), (1_000, 1), (15_000, 2), (2_000, 1)] * 3
    for i, (mib, n) in enumerate(shapes):
        w = Workload(f"next{i}", mib, n)
        outcomes = []
        for cl in (c, r):
            try:
                outcomes.append(cl.place(w))
            except CapacityError as e:
                outcomes.append(str(e))
        assert outcomes[0] == outcomes[1]
        if i % 4 == 3 and f"next{i - 2}" in c:
            assert c.release(f"next{i - 2}") == r.release(f"next{i - 2}")
    assert c.snapshot() == r.snapshot()


def _damaged(snap: bytes) -> list[bytes]:
    flips = [0, 7, 8, 9, 10, 13, 14, 21, 22, len(snap) // 2, len(snap) - 1]
    out = []
    for i in flips:
        b = bytearray(snap)
        b[i] ^= 0x01
        out.append(bytes(b))
    out += [snap[:-1], snap[: len(snap) // 2], snap[:22], snap[:21], snap[:8], b"", snap + b"\0"]
    out += [b"not a snapshot at all", b"\x00" * 64, json.dumps({"policy": "fgd"}).encode()]
    return out


def test_damaged_snapshots_raise_snapshot_error():
    c = _busy_cluster()
    snap = c.snapshot()
    for bad in _damaged(snap):
        with pytest.raises(SnapshotError) as info:
            Cluster.restore(bad)
        assert isinstance(info.value, InvalidRequest) and isinstance(info.value, ValueError)
        assert info.value.field == "snapshot"
    assert c.snapshot() == snap
    assert Cluster.restore(snap).snapshot() == snap


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_refused(data):
    c = _busy_cluster()
    snap = c.snapshot()
    i = data.draw(st.integers(0, len(snap) - 1))
    v = data.draw(st.integers(0, 255).filter(lambda v: v != snap[i]))
    bad = snap[:i] + bytes([v]) + snap[i + 1 :]
    with pytest.raises(SnapshotError):
        Cluster.restore(bad)
    assert c.snapshot() == snap


def _reseal(payload: bytes, version: int | None = None) -> bytes:
    version = gpuplane.SNAPSHOT_VERSION if version is None else version
    return b"GPUPLSNP" + struct.pack("<HIQ", version, zlib.crc32(payload), len(payload)) + payload


def test_well_sealed_but_inconsistent_snapshots_are_refused():
    c = _busy_cluster()
    snap = c.snapshot()
    payload = snap[22:]
    assert Cluster.restore(_reseal(payload)).snapshot() == snap  # resealing itself is faithful
    with pytest.raises(SnapshotError, match="version"):
        Cluster.restore(_reseal(payload, gpuplane.SNAPSHOT_VERSION + 1))
    state = json.loads(payload)
    # recorded usage that does not match the workloads
    bad = json.loads(payload)
    gpu = next(g for g in bad["inventory"]["gpus"] if g and g["used_mib"] > 0)
    gpu["used_mib"] += 1
    with pytest.raises(SnapshotError):
        Cluster.restore(_reseal(json.dumps(bad).encode()))
    # a workload on a GPU that does not exist
    bad = json.loads(payload)
    bad["allocations"][0]["gpus"][0] = 999
    with pytest.raises(SnapshotError):
        Cluster.restore(_reseal(json.dumps(bad).encode()))
    # two GPUs with one id
    bad = json.loads(payload)
    live = [g for g in bad["inventory"]["gpus"] if g]
    live[1]["id"] = live[0]["id"]
    with pytest.raises(SnapshotError):
        Cluster.restore(_reseal(json.dumps(bad).encode()))
    # well-formed JSON of the wrong shape
    with pytest.raises(SnapshotError):
        Cluster.restore(_reseal(b'{"policy": "fgd"}'))
    assert json.loads(c.snapshot()[22:]) == state


# --------------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------------


def test_stats_fields_are_consistent():
    c = _busy_cluster()
    c.set_external_usage("n1/1", 79_000)
    c.place(Workload("w4", 2_000, 1, compute_milli=900), policy="best_fit")
    s = c.stats()
    assert s.nodes == 3 and s.workloads == len(c) == 5
    assert s.node_classes >= 1
    for g in s.gpus:
        assert g.memory_used_mib <= g.memory_total_mib
        assert g.memory_free_mib == max(0, g.memory_total_mib - g.memory_used_mib - g.memory_external_mib)
        assert g.compute_used_milli <= g.compute_total_milli
        assert g.compute_free_milli == g.compute_total_milli - g.compute_used_milli
    # workload counts per GPU match the allocations
    holders = {g.id: 0 for g in s.gpus}
    for w in c.workloads():
        for gid in c.allocation(w).gpu_ids:
            holders[gid] += 1
    assert {g.id: g.workloads for g in s.gpus} == holders

    def summed(gs):
        return (
            len(gs),
            sum(g.healthy for g in gs),
            *(
                sum(getattr(g, f) for g in gs)
                for f in (
                    "memory_total_mib",
                    "memory_used_mib",
                    "memory_external_mib",
                    "memory_free_mib",
                    "compute_total_milli",
                    "compute_used_milli",
                    "compute_free_milli",
                )
            ),
        )

    assert totals_row(s.totals) == summed(s.gpus)
    assert sorted(s.by_node) == ["n0", "n1", "n2"]
    for node, t in s.by_node.items():
        assert totals_row(t) == summed([g for g in s.gpus if g.node == node])
    assert sorted(s.by_model) == ["A100", "H100"]
    for model, t in s.by_model.items():
        assert totals_row(t) == summed([g for g in s.gpus if g.model == model])
    t = s.totals
    assert s.memory_allocation_ratio == pytest.approx(t.memory_used_mib / t.memory_total_mib)
    assert s.compute_allocation_ratio == pytest.approx(t.compute_used_milli / t.compute_total_milli)
    per_gpu = [
        max(g.memory_used_mib / g.memory_total_mib, g.compute_used_milli / g.compute_total_milli)
        for g in s.gpus
    ]
    assert s.allocation_ratio == pytest.approx(sum(per_gpu) / len(per_gpu))
    assert 0.0 < s.memory_allocation_ratio < 1.0 and 0.0 < s.allocation_ratio < 1.0
    assert 0.0 < s.compute_allocation_ratio < 1.0
    assert s.fragmentation_gpus >= 0.0 and 0.0 <= s.fragmentation_ratio <= 1.0


def test_stats_of_an_empty_cluster():
    s = Cluster().stats()
    assert (s.nodes, s.workloads, s.totals.gpus, s.gpus, s.by_node, s.by_model) == (0, 0, 0, [], {}, {})
    assert s.allocation_ratio == s.memory_allocation_ratio == s.compute_allocation_ratio == 0.0
    assert s.fragmentation_gpus == s.fragmentation_ratio == 0.0


def test_full_cluster_ratios_are_one():
    c = make(nodes=2, per_node=2)
    for i in range(4):
        c.place(Workload(f"w{i}", 40_000, compute_milli=1000))
    s = c.stats()
    assert s.allocation_ratio == s.memory_allocation_ratio == s.compute_allocation_ratio == 1.0
    assert s.totals.memory_free_mib == 0 and s.totals.compute_free_milli == 0


# --------------------------------------------------------------------------------------------------
# Bulk placement with numpy
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_place_many_returns_index_arrays(dtype):
    c = Cluster("first_fit")
    c.add_node("n0", gpus(2))
    c.add_node("n1", gpus(4))
    ids = ["a", "b", "c", "d", "e"]
    mem = np.array([10_000, 20_000, 50_000, 5_000, 40_000], dtype=dtype)
    count = np.array([1, 3, 1, 2, 4], dtype=dtype)
    placed, node, gpu_idx = c.place_many(ids, mem, count)
    assert placed.dtype == np.bool_ and node.dtype == np.int64 and gpu_idx.dtype == np.int64
    assert placed.tolist() == [True, True, False, True, False]
    assert gpu_idx.shape == (5, 3)  # the widest placed gang
    assert node[2] == -1 and node[4] == -1
    assert (gpu_idx[2] == -1).all() and (gpu_idx[4] == -1).all()
    names, gids = c.node_names(), c.gpu_ids()
    node_of = {g.id: g.node for g in c.stats().gpus}
    for i, wid in enumerate(ids):
        if not placed[i]:
            assert wid not in c
            continue
        a = c.allocation(wid)
        k = int(count[i])
        row = gpu_idx[i].tolist()
        assert row[k:] == [-1] * (3 - k)
        assert names[node[i]] == a.node
        assert tuple(gids[j] for j in row[:k]) == a.gpu_ids
        assert all(node_of[g] == a.node for g in a.gpu_ids)
        assert a.memory_mib == mem[i]


def test_place_many_optional_columns_and_policy():
    c = Cluster("first_fit")
    c.add_node("n0", gpus(2), cpu_milli=1_000)
    c.add_node("n1", gpus(2), cpu_milli=2_000)
    placed, node, _ = c.place_many(
        ["a", "b"],
        np.array([1_000, 0]),
        np.array([1, 0]),
        compute_milli=np.array([300, 0]),
        cpu_milli=np.array([2_000, 500], dtype=np.int32),
        host_memory_mib=[0, 10],
        priority=np.array([3, -2]),
        tenant="team",
        policy="spread",
    )
    assert placed.tolist() == [True, True]
    assert [c.node_names()[i] for i in node] == ["n1", "n0"]  # n0 lacks the CPU for "a"; n1 is then full
    a = c.allocation("a")
    assert a.compute_milli == 300 and a.memory_mib == 1_000
    assert gpu_stat(c, a.gpu_ids[0]).compute_used_milli == 300
    # the priority column took effect: "b" (priority -2) is a victim for priority -1, "a" (3) is not
    plan = c.preemption_plan(Workload("p", 0, 0, cpu_milli=1_000, priority=-1))
    assert plan is not None and (plan.node, plan.victims) == ("n0", ["b"])
    assert c.preemption_plan(Workload("q", 0, 0, cpu_milli=2_000, priority=3)) is None
    assert c.preemption_plan(Workload("q", 0, 0, cpu_milli=2_000, priority=4)).victims == ["a"]


def test_place_many_decides_like_place_one_by_one():
    rng = np.random.default_rng(3)
    mem = rng.integers(1, 40, size=40) * 1_000
    count = rng.integers(1, 4, size=40)
    ids = [f"w{i}" for i in range(40)]
    for policy in POLICIES:
        bulk, single = make(policy, nodes=4, per_node=4, seed=9), make(policy, nodes=4, per_node=4, seed=9)
        placed, _, _ = bulk.place_many(ids, mem, count)
        for i, wid in enumerate(ids):
            try:
                single.place(Workload(wid, int(mem[i]), int(count[i])))
            except CapacityError:
                assert not placed[i]
        assert bulk.snapshot() == single.snapshot(), policy


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("memory_mib", -5, "memory_mib[3]"),
        ("gpu_count", -1, "gpu_count[3]"),
        ("compute_milli", -1, "compute_milli[3]"),
        ("cpu_milli", -1, "cpu_milli[3]"),
        ("host_memory_mib", -1, "host_memory_mib[3]"),
        ("priority", 2**40, "priority[3]"),
    ],
)
def test_place_many_bad_entry_places_nothing(column, value, field):
    c = make(nodes=2, per_node=2)
    cols = {
        "memory_mib": np.full(5, 1_000),
        "gpu_count": np.ones(5, dtype=np.int64),
        "compute_milli": np.zeros(5, dtype=np.int64),
        "cpu_milli": np.zeros(5, dtype=np.int64),
        "host_memory_mib": np.zeros(5, dtype=np.int64),
        "priority": np.zeros(5, dtype=np.int64),
    }
    cols[column][3] = value
    ids = [f"w{i}" for i in range(5)]
    e = assert_unchanged_after(c, InvalidRequest, lambda: c.place_many(ids, **cols))
    assert e.field is not None and field in e.field
    assert len(c) == 0


@pytest.mark.parametrize(
    ("memory", "count", "field_part"),
    [
        ([1_000, 1_000, 0, 1_000], [1, 1, 1, 1], "memory_mib"),  # a GPU request with no memory
        ([1_000, 1_000, 1_000, 1 << 40], [1, 1, 1, 1], "memory_mib"),  # absurd size
        ([1_000, 1_000, 1_000, 1_000], [1, 1, 3, 1], "gpu_count"),  # larger than any node
        ([1_000, 1_000, 1_000, 1_000], [1, 1, 100, 1], "gpu_count"),
    ],
)
def test_place_many_invalid_workload_is_named_by_index(memory, count, field_part):
    c = make(nodes=2, per_node=2)
    ids = ["a", "b", "c", "d"]
    e = assert_unchanged_after(
        c, InvalidRequest, lambda: c.place_many(ids, np.array(memory), np.array(count))
    )
    bad = next(i for i in range(4) if memory[i] in (0, 1 << 40) or count[i] > 2)
    assert field_part in e.field and str(bad) in e.field


def test_place_many_length_mismatch_names_the_column():
    c = make(nodes=1)
    ids = ["a", "b", "c"]
    ten, one = np.full(3, 10), np.ones(3, dtype=np.int64)
    e = assert_unchanged_after(c, InvalidRequest, lambda: c.place_many(ids, ten, np.ones(2, dtype=np.int64)))
    assert e.field == "gpu_count" and "2" in str(e)
    e = assert_unchanged_after(c, InvalidRequest, lambda: c.place_many(ids, np.full(4, 10), one))
    assert e.field == "memory_mib"
    for col in ("compute_milli", "cpu_milli", "host_memory_mib", "priority"):
        kw = {col: np.zeros(2, dtype=np.int64)}
        e = assert_unchanged_after(c, InvalidRequest, lambda kw=kw: c.place_many(ids, ten, one, **kw))
        assert e.field == col


def test_place_many_rejects_fractional_values():
    """Columns are integers; 1.7 MiB must not silently become 1 MiB."""
    c = make(nodes=1)
    before = c.snapshot()
    with pytest.raises((InvalidRequest, TypeError)):
        c.place_many(["a", "b"], np.array([1.7, 2.2]), np.array([1, 1]))
    assert c.snapshot() == before


def test_place_many_duplicate_ids_rejected():
    c = make(nodes=1)
    ten, one = np.full(3, 10), np.ones(3, dtype=np.int64)
    assert_unchanged_after(
        c, InvalidRequest, lambda: c.place_many(["a", "b", "a"], ten, one), "workloads[2].id"
    )
    c.place(Workload("live", 10))
    e = assert_unchanged_after(c, Conflict, lambda: c.place_many(["x", "y", "live"], ten, one))
    assert "live" in str(e)
    assert_unchanged_after(
        c, InvalidRequest, lambda: c.place_many(["x", "", "z"], ten, one), "workloads[1].id"
    )
    assert_unchanged_after(c, InvalidRequest, lambda: c.place_many(["x"], [10], [1], policy="nope"), "policy")


def test_place_many_empty_batch():
    c = make(nodes=1)
    placed, node, gpu_idx = c.place_many([], np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert placed.shape == (0,) and node.shape == (0,) and gpu_idx.shape[0] == 0


def test_release_many():
    c = make(nodes=2, per_node=2)
    before = gpu_rows(c)
    c.place_many(["a", "b", "c"], np.array([1_000, 2_000, 3_000], dtype=np.int32), np.array([1, 2, 1]))
    out = c.release_many(["a", "nope", "c", "a"])
    assert out.dtype == np.bool_ and out.tolist() == [True, False, True, False]
    assert c.workloads() == ["b"]
    assert c.release_many(["b"]).tolist() == [True]
    assert gpu_rows(c) == before
    assert c.release_many([]).tolist() == []


# --------------------------------------------------------------------------------------------------
# Workload distribution
# --------------------------------------------------------------------------------------------------


def test_workload_distribution_given_and_learned():
    c = make("fgd", nodes=1)
    assert c.workload_distribution() == []
    c.place(Workload("a", 10_000))
    c.place(Workload("b", 10_000))
    c.place(Workload("c", 5_000, 2, compute_milli=100))
    learned = c.workload_distribution()
    assert sum(p for _, p in learned) == pytest.approx(1.0)
    shapes = {(d["gpu_count"], d["memory_mib"], d["compute_milli"]) for d, _ in learned}
    assert shapes == {(1, 10_000, 0), (2, 5_000, 100)}
    c.set_workload_distribution([(Workload("x", 40_000, 1), 3.0), (Workload("y", 0, 0, cpu_milli=500), 1.0)])
    given_ = c.workload_distribution()
    assert given_ == [
        (
            {"gpu_count": 1, "memory_mib": 40_000, "compute_milli": 0, "cpu_milli": 0, "host_memory_mib": 0},
            0.75,
        ),
        ({"gpu_count": 0, "memory_mib": 0, "compute_milli": 0, "cpu_milli": 500, "host_memory_mib": 0}, 0.25),
    ]
    c.place(Workload("d", 1_000))
    assert c.workload_distribution() == given_  # a given distribution is not learned over
    c.set_workload_distribution(None)
    assert c.workload_distribution() == []
    c.place(Workload("e", 1_000))
    assert [d["memory_mib"] for d, _ in c.workload_distribution()] == [1_000]


@pytest.mark.parametrize(
    ("weights", "field"),
    [
        ([math.nan], "distribution[0].weight"),
        ([1.0, -1.0], "distribution[1].weight"),
        ([1.0, 0.0], "distribution[1].weight"),
        ([math.inf], "distribution[0].weight"),
    ],
)
def test_workload_distribution_rejects_bad_weights(weights, field):
    c = make("fgd", nodes=1)
    c.set_workload_distribution([(Workload("k", 1_000), 1.0)])
    shapes = [(Workload(f"s{i}", 1_000 * (i + 1)), w) for i, w in enumerate(weights)]
    assert_unchanged_after(c, InvalidRequest, lambda: c.set_workload_distribution(shapes), field)
    assert len(c.workload_distribution()) == 1


# --------------------------------------------------------------------------------------------------
# Value classes
# --------------------------------------------------------------------------------------------------


def test_value_classes_are_frozen():
    c = _busy_cluster()
    plan = c.preemption_plan(Workload("hp", 1_000, priority=9))
    s = c.stats()
    objects = [
        (GpuSpec("A100", 1), "memory_mib"),
        (Workload("w", 1), "memory_mib"),
        (c.allocation("w0"), "node"),
        (plan, "victims"),
        (s, "nodes"),
        (s.totals, "gpus"),
        (s.gpus[0], "memory_used_mib"),
        (c, "policy"),
    ]
    for obj, attr in objects:
        with pytest.raises(AttributeError):
            setattr(obj, attr, 1)
        with pytest.raises(AttributeError):
            obj.brand_new_attribute = 1
    # mutating a returned list does not reach the value
    w = Workload("w", 1, allowed_models=["A100"], node_selector={"k": "v"})
    w.allowed_models.append("H100")
    w.node_selector["x"] = "y"
    assert w.allowed_models == ["A100"] and w.node_selector == {"k": "v"}


def test_value_equality():
    assert Workload("w", 10, 2, priority=1) == Workload("w", 10, 2, priority=1)
    assert Workload("w", 10, 2, priority=1) != Workload("w", 10, 2, priority=2)
    assert Workload("w", 10) != Workload("v", 10)
    assert Workload("w", 10, node_selector={"a": "b"}) != Workload("w", 10)
    assert GpuSpec("A100", 10, id="x") == GpuSpec("A100", 10, 1000, None, "x")
    assert GpuSpec("A100", 10) != GpuSpec("A100", 10, topology_group="g")
    c1, c2 = make(nodes=1), make(nodes=1)
    p1, p2 = c1.place(Workload("w", 10)), c2.place(Workload("w", 10))
    assert p1 == p2
    assert p1 != c2.place(Workload("v", 10))
    assert c1.allocation("w") == c2.allocation("w")
    plan1 = c1.preemption_plan(Workload("hp", 40_000, priority=1))
    plan2 = c2.preemption_plan(Workload("hp", 40_000, priority=1))
    assert plan1 == plan2


def test_workload_fields_and_defaults():
    w = Workload("w", 5)
    fields = ("id", "memory_mib", "gpu_count", "tenant", "compute_milli", "cpu_milli", "host_memory_mib")
    assert [getattr(w, f) for f in fields] == ["w", 5, 1, "default", 0, 0, 0]
    assert (w.allowed_models, w.node_selector, w.priority, w.preemptible) == ([], {}, 0, True)
    w = Workload(
        "w",
        100,
        2,
        tenant="t",
        compute_milli=5,
        cpu_milli=6,
        host_memory_mib=7,
        allowed_models=("A100",),
        node_selector={"k": "v"},
        priority=-3,
        preemptible=False,
    )
    assert (w.id, w.tenant, w.memory_mib, w.gpu_count, w.compute_milli) == ("w", "t", 100, 2, 5)
    assert (w.cpu_milli, w.host_memory_mib, w.allowed_models, w.node_selector) == (6, 7, ["A100"], {"k": "v"})
    assert (w.priority, w.preemptible) == (-3, False)


def test_reprs():
    assert repr(Workload("w", 100, 2)) == "Workload(id='w', memory_mib=100, gpu_count=2, tenant='default')"
    r = repr(
        Workload(
            "w",
            100,
            tenant="t",
            compute_milli=5,
            allowed_models=["A100"],
            node_selector={"k": "v"},
            priority=3,
            preemptible=False,
        )
    )
    for part in (
        "id='w'",
        "tenant='t'",
        "compute_milli=5",
        "allowed_models=['A100']",
        "node_selector={'k': 'v'}",
        "priority=3",
        "preemptible=False",
    ):
        assert part in r
    assert repr(GpuSpec("A100", 40_000, topology_group="g0")) == (
        "GpuSpec(model='A100', memory_mib=40000, compute_milli=1000, topology_group='g0', id=None)"
    )
    c = make(nodes=1)
    p = c.place(Workload("w", 1_000, 2))
    assert repr(p).startswith(
        "Placement(workload_id='w', node='n0', gpu_ids=('n0/0', 'n0/1'), memory_mib=1000"
    )
    assert "policy='first_fit'" in repr(p) and "reason='first_fit: " in repr(p)
    plan = c.preemption_plan(Workload("hp", 40_000, 4, priority=1))
    assert repr(plan) == "PreemptionPlan(workload='hp', node='n0', victims=['w'], evicted_memory_mib=2000)"
    s = c.stats()
    assert repr(s).startswith("ClusterStats(nodes=1, gpus=4, workloads=1, allocation_ratio=0.0125")
    assert repr(s.totals).startswith("Totals(gpus=4, healthy_gpus=4, memory_total_mib=160000")
    assert repr(s.gpus[0]).startswith("GpuStats(id='n0/0', model='A100', healthy=True, memory_used_mib=1000")


@pytest.mark.parametrize("text", ["plain", 'say "hi"', "it's", "back\\slash", "é"])
def test_repr_quotes_strings_like_python(text):
    """Strings inside reprs read back as the same string (as Python's own repr writes them)."""
    assert f"id={text!r}," in repr(Workload(text, 1))
    assert f"model={text!r}," in repr(GpuSpec(text, 1))


def test_unconstructible_result_classes():
    for cls in (
        gpuplane.Placement,
        gpuplane.PreemptionPlan,
        gpuplane.ClusterStats,
        gpuplane.GpuStats,
        gpuplane.Totals,
    ):
        with pytest.raises(TypeError):
            cls()


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"id": "", "memory_mib": 1}, "id"),
        ({"id": "w", "memory_mib": 1, "tenant": ""}, "tenant"),
        ({"id": "w", "memory_mib": -1}, "memory_mib"),
        ({"id": "w", "memory_mib": 0}, "memory_mib"),
        ({"id": "w", "memory_mib": 1 << 40}, "memory_mib"),
        ({"id": "w", "memory_mib": 1, "gpu_count": -1}, "gpu_count"),
        ({"id": "w", "memory_mib": 1, "gpu_count": 0}, "gpu_count"),
        ({"id": "w", "memory_mib": 1, "gpu_count": 2**33}, "gpu_count"),
        ({"id": "w", "memory_mib": 0, "gpu_count": 0}, "memory_mib"),
        ({"id": "w", "memory_mib": 1, "compute_milli": -1}, "compute_milli"),
        ({"id": "w", "memory_mib": 1, "compute_milli": 100_001}, "compute_milli"),
        ({"id": "w", "memory_mib": 1, "cpu_milli": -1}, "cpu_milli"),
        ({"id": "w", "memory_mib": 1, "cpu_milli": (1 << 40) + 1}, "cpu_milli"),
        ({"id": "w", "memory_mib": 1, "host_memory_mib": -1}, "host_memory_mib"),
        ({"id": "w", "memory_mib": 1, "priority": 2**31}, "priority"),
        ({"id": "w", "memory_mib": 1, "allowed_models": [""]}, "allowed_models"),
    ],
)
def test_bad_workloads_are_invalid_requests(kwargs, field):
    with pytest.raises(InvalidRequest) as info:
        Workload(**kwargs)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert info.value.reason and info.value.reason in str(info.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("A100", -1), "memory_mib"),
        (("A100", 1, -1), "compute_milli"),
        (("A100", 1, 2**32), "compute_milli"),
    ],
)
def test_bad_gpu_spec_arguments(args, field):
    with pytest.raises(InvalidRequest) as info:
        GpuSpec(*args)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("node", "field"),
    [
        (("", gpus(1)), "name"),
        (("x", [*gpus(1), GpuSpec("A100", 0)]), "gpus[1].memory_mib"),
        (("x", [GpuSpec("A100", (16 << 20) + 1)]), "gpus[0].memory_mib"),
        (("x", [*gpus(2), GpuSpec("A100", 1, compute_milli=0)]), "gpus[2].compute_milli"),
        (("x", [GpuSpec("A100", 1, compute_milli=100_001)]), "gpus[0].compute_milli"),
        (("x", [GpuSpec("", 1)]), "gpus[0].model"),
        (("x", [GpuSpec("A100", 1, id="")]), "gpus[0].id"),
        (("x", gpus(65)), "gpus"),
    ],
)
def test_bad_nodes_are_invalid_requests(node, field):
    c = make(nodes=1)
    assert_unchanged_after(c, InvalidRequest, lambda: c.add_node(*node), field)
    assert c.node_names() == ["n0"]


@pytest.mark.parametrize("kw", [{"cpu_milli": -1}, {"memory_mib": -1}])
def test_bad_node_host_resources(kw):
    c = make(nodes=1)
    assert_unchanged_after(c, InvalidRequest, lambda: c.add_node("x", gpus(1), **kw), next(iter(kw)))


def test_bad_placements_leave_the_cluster_unchanged():
    c = _busy_cluster()
    cases = [
        (lambda: c.place(Workload("big", 1_000, 5)), "gpu_count"),  # largest node has 4
        (lambda: c.place(Workload("m", 1_000, allowed_models=["TPU"])), "allowed_models"),
        (lambda: c.place(Workload("p", 1_000), policy="worst_fit"), "policy"),
        (lambda: c.place(Workload("p", 1_000), policy=""), "policy"),
        (lambda: c.preemption_plan(Workload("big", 1_000, 5, priority=9)), "gpu_count"),
        (lambda: c.set_external_usage("GPU-x", 50_000), "memory_mib"),
    ]
    for fn, field in cases:
        e = assert_unchanged_after(c, InvalidRequest, fn, field)
        assert isinstance(e, ValueError)


def test_unknown_policy_in_constructor():
    with pytest.raises(InvalidRequest) as info:
        Cluster("worst_fit")
    assert info.value.field == "policy"
    assert "first_fit" in str(info.value)


def test_empty_cluster_refuses_gpu_work_as_invalid():
    c = Cluster()
    assert_unchanged_after(c, InvalidRequest, lambda: c.place(Workload("w", 1)), "gpu_count")
    with pytest.raises(CapacityError):
        c.place(Workload("cpu", 0, 0, cpu_milli=1))


def test_capacity_error_changes_nothing():
    """The core documents "Calls that return Err have changed nothing"; a refused placement too.

    (A daemon journals only acknowledged mutations, so anything a refused call changes is lost on
    replay and the replayed cluster decides differently from the one that crashed.)
    """
    for policy in POLICIES:
        c = make(policy, nodes=1, per_node=1)
        c.place(Workload("a", 30_000))
        distribution = c.workload_distribution()
        before = c.snapshot()
        with pytest.raises(CapacityError) as info:
            c.place(Workload("b", 20_000))
        assert info.value.excluded.get("memory") == 1, info.value.excluded
        assert c.workload_distribution() == distribution, policy
        assert c.snapshot() == before, policy


def test_more_gpus_than_the_largest_node_names_that_node_not_a_fixed_bound():
    c = Cluster()
    c.add_node("n0", [GpuSpec("H100", 81_920)] * 8)
    Workload("w", 1_000, 1_000)  # valid on its own: only a cluster knows its largest node
    with pytest.raises(InvalidRequest) as e:
        c.place(Workload("w", 1_000, 1_000))
    assert e.value.field == "gpu_count" and "largest node has 8" in str(e.value)
