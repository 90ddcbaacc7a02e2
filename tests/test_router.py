"""``gpuplane.Router``: the core's replica registry and routing choice, and the daemon adapter."""

from __future__ import annotations

import threading

import gpuplane
import pytest
from gpuplane import InvalidRequest, NotFound, Router
from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.routing import Router as DaemonRouter


@pytest.fixture
def router() -> Router:
    r = Router()
    r.register("r1", address="10.0.0.1:8000", model="llama", max_running=8)
    r.register("r2", address="10.0.0.2:8000", model="llama", max_running=8)
    return r


def test_exported():
    assert {"Router", "Route", "ReplicaStatus"} <= set(gpuplane.__all__)


def test_cost_model_trades_cached_blocks_against_load_blocks(router):
    router.register("r1", address="10.0.0.1:8000", model="llama", kv_blocks=100, max_running=8)
    router.report_load("r1", waiting=1, kv_usage=0.01, cached_block_hashes=[1, 2, 3])
    router.report_load("r2", waiting=0, kv_usage=0.1)
    c = router.route(model="llama", block_hashes=[1, 2, 3, 4])
    # r1: 3 cached blocks against 1 block in use and 1 waiting; r2 (no kv_blocks): no load.
    assert (c.replica_id, c.address, c.prefix_blocks) == ("r1", "10.0.0.1:8000", 3)
    assert c.score == pytest.approx(3 - 2)
    assert c.reason == "prefix +3.000, adapter +0.000, load -2.000, fair -0.000"
    assert list(c.terms) == ["prefix", "adapter", "load", "fair", "workflow"]
    assert sum(c.terms.values()) == pytest.approx(c.score)
    assert router.route(model="llama", block_hashes=[9]).replica_id == "r2"
    assert router.replica("r1").load_blocks == pytest.approx(2.0)
    assert "Route(replica_id='r2'" in repr(router.route(model="llama"))


def test_policies_are_selectable_and_checked():
    assert gpuplane.ROUTING_POLICIES == ["round_robin", "least_loaded", "prefix", "tenant_fair", "cost"]
    for name in gpuplane.ROUTING_POLICIES:
        assert Router(policy=name).policy == name
    assert Router().policy == "cost"
    with pytest.raises(InvalidRequest) as e:
        Router(policy="fastest")
    assert e.value.field == "routing"
    with pytest.raises(InvalidRequest) as e:
        Router(overlap_weight=-1.0)
    assert e.value.field == "overlap_weight"
    rr = Router(policy="round_robin")
    for rid in ("b", "a"):
        rr.register(rid)
    assert [rr.route(record=True).replica_id for _ in range(3)] == ["a", "b", "a"]


def test_finish_charges_fleet_counters(router):
    router.set_tenant_weight("b", 2.0)
    to = router.route(tenant="b", model="llama", prompt_tokens=64, request_id="q1", record=True).replica_id
    assert router.replica(to).in_flight == 1
    with pytest.raises(gpuplane.Conflict):
        router.route(tenant="b", model="llama", request_id="q1", record=True)
    assert router.tracked_tenant("q1") == "b"
    assert router.finish("q1", input_tokens=100, output_tokens=100) == to  # 1 x 100 + 2 x 100
    assert router.replica(to).in_flight == 0
    assert router.fleet_counters()["b"] == 150.0
    with pytest.raises(NotFound):
        router.finish("q1")
    with pytest.raises(InvalidRequest) as e:
        router.set_tenant_weight("b", 0.0)
    assert e.value.field == "weight[b]"


def test_adapter_fair_share_and_ties(router):
    for rid in ("r1", "r2"):
        router.register(rid, model="llama", kv_blocks=100, max_running=8)
    router.report_load("r1", kv_usage=0.2, resident_adapters=["sql"])
    assert router.route(model="llama", adapter="sql").replica_id == "r1"
    assert router.route(model="llama").replica_id == "r2"
    router.report_load("r1", kv_usage=0.1)
    router.report_load("r2", kv_usage=0.12, tenant_service={"a": 9.0, "b": 1.0})
    # a dominates r2: its 12 blocks look like 12 x 1.4 to a, more than r1's 10.
    assert router.route(tenant="b", model="llama").replica_id == "r1"
    assert router.route(tenant="a", model="llama").replica_id == "r1"
    router.report_load("r1", kv_usage=0.13)
    assert router.route(tenant="b", model="llama").replica_id == "r2"
    assert router.route(tenant="a", model="llama").replica_id == "r1"


def test_candidates_model_and_tenant():
    r = Router()
    r.register("shared", model="llama")
    r.register("mine", model="llama", tenant="a")
    r.report_load("shared", waiting=4, kv_usage=0.9)
    assert r.route(tenant="a", model="llama").replica_id == "mine"
    assert r.route(tenant="b", model="llama").replica_id == "shared"
    with pytest.raises(NotFound):
        r.route(model="mistral")


def test_registry_and_errors(router):
    with pytest.raises(NotFound):
        router.report_load("r9")
    with pytest.raises(InvalidRequest) as e:
        router.report_load("r1", kv_usage=7.0)
    assert e.value.field == "kv_usage"
    with pytest.raises(InvalidRequest):
        router.register("r3", max_running=-1)
    router.report_load("r1", waiting=3, cached_block_hashes=[5, 6], resident_adapters=["b", "a"])
    router.register("r1", model="llama2")
    s = router.replica("r1")
    assert (s.model, s.waiting, s.cached_blocks, s.resident_adapters) == ("llama2", 3, 2, ["a", "b"])
    assert [s.id for s in router.replicas()] == ["r1", "r2"]
    assert len(router) == 2 and repr(router) == "Router(replicas=2)"
    router.unregister("r1")
    with pytest.raises(NotFound):
        router.unregister("r1")
    with pytest.raises(NotFound):
        router.replica("r1")
    with pytest.raises(AttributeError):
        router.x = 1  # type: ignore[attr-defined]


def test_concurrent_reports_and_routes(router):
    def work(i: int) -> None:
        for j in range(200):
            router.report_load(f"r{1 + i % 2}", waiting=j % 5, cached_block_hashes=list(range(j % 7)))
            router.route(model="llama", block_hashes=[0, 1, 2])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(router) == 2


def test_daemon_adapter_keeps_its_interface():
    d = DaemonRouter(ServeConfig())
    rep = {
        "id": "r1",
        "address": "a:1",
        "model": "m",
        "tenant": "t",
        "kv_blocks": 4,
        "block_size": 16,
        "max_running": 2,
    }
    d.register(rep)
    assert d.tenant_of("r1") == "t"
    with pytest.raises(NotFound):
        d.tenant_of("zz")
    load = {
        "replica_id": "r1",
        "waiting": 1,
        "running": 2,
        "kv_usage": 0.25,
        "waiting_blocks": 0,
        "cached_block_hashes": [1, 2],
        "resident_adapters": ["x"],
        "tenant_service": {"t": 3.0},
    }
    d.report(load)
    state = d.replicas["r1"]
    assert state.replica == rep
    assert (state.waiting, state.running, state.kv_usage, state.adapters) == (1, 2, 0.25, frozenset({"x"}))
    assert state.tenant_service == {"t": 3.0}
    req = {
        "request_id": "",
        "tenant": "t",
        "model": "m",
        "adapter": "x",
        "block_hashes": [1, 2, 3],
        "prompt_tokens": 0,
    }
    c = d.route(req)
    assert (c.replica_id, c.address, c.prefix_blocks) == ("r1", "a:1", 2)
    assert c.reason == "prefix +2.000, adapter +64.000, load -2.000, fair -0.000"
    with pytest.raises(NotFound):
        d.route({**req, "tenant": "other", "adapter": "", "block_hashes": []})


def test_recorded_routes_count_on_the_chosen_replica(router):
    router.route(model="llama")
    assert [r.routed for r in router.replicas()] == [0, 0]
    router.report_load("r1", waiting=4)
    for _ in range(3):
        assert router.route(model="llama", record=True).replica_id == "r2"
    with pytest.raises(NotFound):
        router.route(model="missing", record=True)
    assert {r.id: r.routed for r in router.replicas()} == {"r1": 0, "r2": 3}
    assert "routed=3" in repr(router.replica("r2"))


def test_a_late_report_keeps_the_dispatches_it_does_not_show():
    r = Router()
    r.register("r1", kv_blocks=100, max_running=8)
    first = r.route(prompt_tokens=160, record=True)  # 10 blocks
    second = r.route(prompt_tokens=320, record=True)  # 20 blocks
    assert (first.dispatch, second.dispatch, r.last_dispatch()) == (1, 2, 2)
    assert r.route(prompt_tokens=16).dispatch == 0
    r.report_load("r1", kv_usage=0.1, reflects_dispatch=second.dispatch)
    assert r.replica("r1").load_blocks == 10.0
    # Taken before the second dispatch and arriving after the newer report: changes nothing.
    r.report_load("r1", kv_usage=0.5, reflects_dispatch=first.dispatch)
    assert r.replica("r1").load_blocks == 10.0
    r.route(prompt_tokens=160, record=True)
    r.report_load("r1", kv_usage=0.2, reflects_dispatch=second.dispatch)
    assert r.replica("r1").load_blocks == 20.0 + 10.0  # the third dispatch is not in it
    r.report_load("r1")  # without a number: every dispatch counts as reported
    assert r.replica("r1").load_blocks == 0.0
    with pytest.raises(InvalidRequest, match="reflects_dispatch"):
        r.report_load("r1", reflects_dispatch=99)
    with pytest.raises(InvalidRequest, match="reflects_dispatch"):
        r.report_load("r1", reflects_dispatch=-1)


def test_a_programs_next_call_returns_to_its_replica(router):
    call = {"model": "llama", "prompt_tokens": 16 * 32, "workflow": 7}
    first = router.route(record=True, **call).replica_id
    assert router.program_replica(7) == first and router.known_programs() == 1
    # The first call's blocks count as load there; the workflow term brings the next call back.
    nxt = router.route(**call)
    assert nxt.replica_id == first and "workflow +32.000" in nxt.reason
    assert router.route(**{**call, "workflow": 8}).replica_id != first
    apart = Router(workflow_weight=0.0)
    for r in router.replicas():
        apart.register(r.id, model="llama", max_running=8)
    home = apart.route(record=True, **call).replica_id
    assert apart.route(**call).replica_id != home
    router.end_program(7)
    assert router.program_replica(7) is None and router.known_programs() == 0
    with pytest.raises(InvalidRequest) as e:
        router.route(**{**call, "workflow": -1})
    assert e.value.field == "workflow"
    with pytest.raises(InvalidRequest) as e:
        Router(workflow_weight=-1.0)
    assert e.value.field == "workflow_weight"
