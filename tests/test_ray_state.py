"""The pieces of gpuplane.ray that need no cluster: prompt hashing, the replica report and the
routing state's translation of Serve's replica set into the core Router."""

from __future__ import annotations

import gpuplane
import pytest
import ray_cluster  # noqa: F401  fails naming scripts/stacks/ray.sh when Ray is missing
from gpuplane.errors import InvalidRequest
from gpuplane.ray import EngineFigures, Request, RoutingStatsMixin, figures_from_scheduler
from gpuplane.ray.packing import MEMORY_LABEL, _memory_of
from gpuplane.ray.request import request_fields
from gpuplane.ray.state import ReplicaView, RoutingState
from hypothesis import given
from hypothesis import strategies as hs


def test_prompt_block_hashes_text_and_ids_agree_and_errors_name_the_field():
    assert gpuplane.prompt_block_hashes("abcd", 2) == gpuplane.prompt_block_hashes([97, 98, 99, 100], 2)
    assert len(gpuplane.prompt_block_hashes("abcde", 2)) == 2
    with pytest.raises(InvalidRequest, match=r"tokens\[1\]"):
        gpuplane.prompt_block_hashes([1, -1], 2)
    with pytest.raises(InvalidRequest, match="block_size"):
        gpuplane.prompt_block_hashes("ab", 0)
    with pytest.raises(InvalidRequest, match="parent"):
        gpuplane.prompt_block_hashes("ab", 1, parent=-1)
    with pytest.raises(InvalidRequest, match="parent"):
        gpuplane.prompt_block_hashes("ab", 1, parent=2**64)


@given(hs.lists(hs.integers(0, 2**32 - 1), max_size=64), hs.integers(1, 8), hs.integers(1, 8))
def test_blocks_hashed_after_their_parent_are_the_prompts_own(tokens, block_size, split_block):
    # What VllmFigures relies on: an engine's blocks, hashed after their parent's hash as they
    # are stored, get the hashes the router computes for the whole prompt.
    whole = gpuplane.prompt_block_hashes(tokens, block_size)
    if split_block > len(whole):
        return
    tail = tokens[split_block * block_size :]
    after = gpuplane.prompt_block_hashes(tail, block_size, parent=whole[split_block - 1])
    assert after == whole[split_block:]


def test_scheduler_reports_the_hashes_of_its_cached_prompt_blocks():
    sched = gpuplane.BatchScheduler(gpuplane.BatchConfig(kv_blocks=64, block_size=4))
    hashes = gpuplane.prompt_block_hashes(list(range(10)), 4)
    sched.add(gpuplane.Request(1, "a", 10, 1, block_hashes=hashes))
    sched.schedule()
    sched.update({1: 1})
    assert sched.cached_block_hashes() == sorted(hashes)
    f = figures_from_scheduler(sched)
    assert f.cached_block_hashes == tuple(sorted(hashes)) and f.block_size == 4
    assert "a" in f.tenant_service


def test_scheduler_reports_each_tenants_waiting_requests():
    sched = gpuplane.BatchScheduler(gpuplane.BatchConfig(kv_blocks=64, block_size=4, max_running=1))
    tenants = {1: "a", 2: "a", 3: "b"}
    for rid, tenant in tenants.items():
        sched.add(gpuplane.Request(rid, tenant, 8, 2))
    assert figures_from_scheduler(sched).tenant_waiting == {"a": 2, "b": 1}
    (admitted,) = sched.schedule().ids.tolist()
    queued = {"a": 2, "b": 1}
    queued[tenants[admitted]] -= 1
    queued = {t: n for t, n in queued.items() if n}  # a tenant with none waiting is left out
    f = figures_from_scheduler(sched)
    assert f.tenant_waiting == queued and f.to_stats()["tenant_waiting"] == queued


def test_a_deployment_must_implement_routing_figures():
    class Forgot(RoutingStatsMixin):
        pass

    class Reports(RoutingStatsMixin):
        def routing_figures(self) -> EngineFigures:
            return EngineFigures(waiting=3)

    with pytest.raises(TypeError, match="routing_figures"):
        Forgot()
    assert Reports().record_routing_stats()["waiting"] == 3


def test_tenant_and_prompt_travel_in_the_request():
    f = request_fields([Request("hello", tenant="blue")], {}, "lora-a")
    assert (f.tenant, f.prompt, f.adapter) == ("blue", "hello", "lora-a")
    f = request_fields([], {"request": {"prompt_token_ids": [1, 2], "tenant": "red"}}, "")
    assert (f.tenant, list(f.prompt)) == ("red", [1, 2])
    assert request_fields([], {}, "").tenant == "default"


def view(rid: str, figures: EngineFigures | None, adapters: tuple[str, ...] = ()) -> ReplicaView:
    return ReplicaView(rid, 8, figures.to_stats() if figures else None, adapters)


def test_state_follows_the_replica_set_and_routes_by_cache_and_adapters():
    st = RoutingState(block_size=2)
    hashes = gpuplane.prompt_block_hashes("abcdef", 2)
    views = [view("r1", EngineFigures(cached_block_hashes=tuple(hashes), block_size=2)), view("r2", None)]
    assert st.route(views, "a", "", hashes).replica_id == "r1"
    assert st.route([view("r1", None), view("r2", None, ("lora",))], "a", "lora", []).replica_id == "r2"
    assert st.route([view("r2", None)], "a", "", hashes).replica_id == "r2"
    assert [r.id for r in st.replicas()] == ["r2"]


def test_state_counts_in_flight_so_one_report_does_not_attract_every_request():
    st = RoutingState(block_size=2)
    views = [view("r1", EngineFigures(block_size=2)), view("r2", EngineFigures(block_size=2))]
    chosen = []
    for i in range(4):
        chosen.append(st.route(views, "a", "", [], f"q{i}").replica_id)
        views = [view("r1", None), view("r2", None)]
    assert sorted(chosen) == ["r1", "r1", "r2", "r2"]
    done_on_r1 = [f"q{i}" for i, r in enumerate(chosen) if r == "r1"]
    for rid in done_on_r1:
        st.done(rid)
    st.done(done_on_r1[0])  # a second completion of the same request changes nothing
    assert {r.id: r.in_flight for r in st.replicas()} == {"r1": 0, "r2": 2}
    # Asked again for the same request: the earlier choice is no longer counted there.
    assert st.route(views, "a", "", [], "again").replica_id == "r1"
    assert st.route(views, "a", "", [], "again").replica_id == "r1"
    assert {r.id: r.in_flight for r in st.replicas()} == {"r1": 1, "r2": 2}


def test_a_burst_between_reports_spreads_off_the_replica_holding_the_prefix():
    # r1 holds the tenant's 8-block system prompt; each request brings 12 more blocks. The
    # report does not show requests routed since it was taken: the state counts their prompt
    # blocks as r1's load, so the second request of the burst goes to r2.
    system = list(range(16))
    cached = tuple(gpuplane.prompt_block_hashes(system, 2))
    views = [
        view("r1", EngineFigures(cached_block_hashes=cached, block_size=2)),
        view("r2", EngineFigures(block_size=2)),
    ]
    st = RoutingState(block_size=2)
    chosen = []
    for i in range(2):
        prompt = system + [100 + i] * 24
        hashes = gpuplane.prompt_block_hashes(prompt, 2)
        chosen.append(st.route(views, "a", "", hashes, f"q{i}", len(prompt)).replica_id)
        views = [view("r1", None), view("r2", None)]
    assert chosen == ["r1", "r2"], [d.choice.reason for d in st.recent_decisions()]


def test_a_report_taken_before_a_dispatch_keeps_counting_that_dispatch():
    st = RoutingState(block_size=2)
    views = [view("r1", EngineFigures(block_size=2, kv_blocks=100))]
    st.route(views, "a", "", [], "q0", 20)  # 10 blocks, before the report is taken
    taken = EngineFigures(block_size=2, kv_blocks=100).to_stats()
    st.route([view("r1", None)], "a", "", [], "q1", 40)  # 20 blocks, after
    st.sync([ReplicaView("r1", 8, taken)])
    (r1,) = st.replicas()
    assert r1.load_blocks == 20.0, r1  # q1's blocks only
    # A report without a time (an old replica) counts every dispatch as reported.
    untimed = {k: v for k, v in taken.items() if k != "at"}
    st.sync([ReplicaView("r1", 8, untimed)])
    assert st.replicas()[0].load_blocks == 0.0


def test_a_tenant_is_sent_off_the_replica_where_its_requests_queue():
    # Same load on both: only the reports' waiting requests per tenant tell them apart.
    st = RoutingState(block_size=2)
    st.sync(
        [
            view("r1", EngineFigures(waiting=4, tenant_waiting={"a": 4}, block_size=2)),
            view("r2", EngineFigures(waiting=4, tenant_waiting={"b": 4}, block_size=2)),
        ]
    )
    assert {r.id: dict(r.tenant_waiting) for r in st.replicas()} == {"r1": {"a": 4}, "r2": {"b": 4}}
    assert st.choose("a", "", []).replica_id == "r2"
    assert st.choose("b", "", []).replica_id == "r1", st.choose("b", "", []).reason


def test_queued_prompt_blocks_in_a_report_outweigh_a_cached_prefix():
    system = list(range(16))
    cached = tuple(gpuplane.prompt_block_hashes(system, 2))
    busy = EngineFigures(waiting=2, waiting_blocks=40, cached_block_hashes=cached, block_size=2)
    st = RoutingState(block_size=2)
    hashes = gpuplane.prompt_block_hashes(system + [7] * 8, 2)
    choice = st.route([view("r1", busy), view("r2", EngineFigures(block_size=2))], "a", "", hashes, "q")
    assert choice.replica_id == "r2", choice.reason
    assert {r.id: r.waiting for r in st.replicas()} == {"r1": 2, "r2": 0}


def test_a_gpu_node_without_memory_is_refused_naming_the_setting():
    with pytest.raises(InvalidRequest, match=r"gpu_memory_mib.*gpuplane\.io/gpu-memory-mib"):
        _memory_of({"NodeID": "n1", "Labels": {}}, None)
    with pytest.raises(InvalidRequest, match="not an integer"):
        _memory_of({"NodeID": "n1", "Labels": {MEMORY_LABEL: "80GB"}}, None)
    assert _memory_of({"NodeID": "n1", "Labels": {MEMORY_LABEL: "81559"}}, 1) == 81_559


def test_replica_with_another_block_size_is_refused_naming_it():
    st = RoutingState(block_size=16)
    with pytest.raises(InvalidRequest, match=r"block_size.*r1 reports 32"):
        st.route([view("r1", EngineFigures(block_size=32))], "a", "", [])
