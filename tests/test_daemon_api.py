"""The gRPC API against an in-process server on a loopback port (port 0): conversions, status
codes, validation naming the field, batches, preemption, drain, events, admin, routing,
telemetry, health, reflection and journal recovery."""

from __future__ import annotations

from dataclasses import replace

import gpuplane
import grpc
import pytest
from daemon_harness import in_process, make_config, watch_until
from gpuplane import Client, Workload
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane._proto.v1 import placement_pb2_grpc, telemetry_pb2, telemetry_pb2_grpc
from gpuplane._proto.v1 import types_pb2 as pb
from gpuplane.client_values import Quota
from gpuplane.errors import CapacityError, Conflict, InUse, InvalidRequest, NotFound, QuotaExceeded, StalePlan
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def code_and_details(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_place_release_and_cluster_view(client):
    client.put_tenant("team-a")
    p = client.place(Workload("llm", 40_000, 2, tenant="team-a"))
    assert (p.workload_id, p.tenant, len(p.gpu_ids), p.memory_mib) == ("llm", "team-a", 2, 40_000)
    view = client.cluster()
    assert view.workloads == 1 and view.nodes == 2 and len(view.gpus) == 16
    assert [q.workload_id for q in view.placements] == ["llm"]
    assert view.totals.memory_used_mib == 80_000
    assert "simulated inventory 2x8xH100-80GB" in view.inventory_source
    released = client.release("llm")
    assert released.gpu_ids == p.gpu_ids
    assert client.cluster().workloads == 0


@pytest.mark.parametrize(
    ("workload", "field"),
    [
        (None, "workload"),
        (pb.Workload(memory_mib=1, gpu_count=1), "workload.id"),
        (pb.Workload(id="w", memory_mib=1, gpu_count=0), "workload.gpu_count"),
        (pb.Workload(id="w", memory_mib=1 << 50, gpu_count=1), "workload.memory_mib"),
        (pb.Workload(id="w", memory_mib=1, gpu_count=1 << 20), "workload.gpu_count"),
        (pb.Workload(id="w", memory_mib=1, gpu_count=1, compute_milli=200_000), "workload.compute_milli"),
        (pb.Workload(id="w" * 1000, memory_mib=1, gpu_count=1), "workload.id"),
        (pb.Workload(id="w", gpu_count=1, allowed_models=["m"] * 500), "workload.allowed_models"),
        (pb.Workload(id="w", gpu_count=1), "workload.memory_mib"),  # checked by the core
    ],
)
def test_bad_workloads_are_invalid_argument_naming_the_field(stub, client, workload, field):
    client.place(Workload("keep", 1_000, 1))
    request = pp.PlaceRequest() if workload is None else pp.PlaceRequest(workload=workload)
    code, details = code_and_details(lambda: stub.Place(request))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field)
    assert [p.workload_id for p in client.cluster().placements] == ["keep"]


def test_the_client_raises_the_core_exception_with_its_field(client):
    with pytest.raises(InvalidRequest) as e:
        client.place(Workload("w", 1, 1), policy="no-such-policy")
    assert e.value.field == "policy"


def test_precise_codes_for_domain_errors(stub, client):
    client.place(Workload("a", 1_000, 1))
    dup = pp.PlaceRequest(workload=pb.Workload(id="a", memory_mib=1, gpu_count=1))
    assert code_and_details(lambda: stub.Place(dup))[0] is grpc.StatusCode.ALREADY_EXISTS
    big = pp.PlaceRequest(workload=pb.Workload(id="b", memory_mib=900_000, gpu_count=1))
    code, details = code_and_details(lambda: stub.Place(big))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED and "memory" in details
    code, _ = code_and_details(lambda: stub.Release(pp.ReleaseRequest(workload_id="nope")))
    assert code is grpc.StatusCode.NOT_FOUND
    with pytest.raises(Conflict):
        client.place(Workload("a", 1, 1))
    with pytest.raises(CapacityError):
        client.place(Workload("b", 900_000, 1))
    with pytest.raises(NotFound):
        client.release("nope")
    assert client.cluster().workloads == 1


def test_oversized_message_is_refused_and_nothing_is_lost(tmp_path):
    with in_process(make_config(tmp_path, max_message_bytes=64 * 1024)) as s, Client(s.target) as c:
        c.place(Workload("keep", 1_000, 1))
        huge = pp.PlaceBatchRequest(
            workloads=[pb.Workload(id=f"w{i:06d}" + "x" * 200, gpu_count=1) for i in range(1000)]
        )
        with grpc.insecure_channel(s.target) as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            code, _ = code_and_details(lambda: stub.PlaceBatch(huge))
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [p.workload_id for p in c.cluster().placements] == ["keep"]


def test_place_batch_reports_each_entry(client, stub):
    client.put_tenant("t")
    ws = [Workload(f"b{i}", 10_000, 1, tenant="t") for i in range(5)]
    ws.append(Workload("too-big", 900_000, 1))
    ws.append(Workload("b0", 1, 1))
    out = client.place_batch(ws)
    assert [o.placed for o in out] == [True] * 5 + [False, False]
    assert [o.code for o in out[5:]] == ["capacity", "conflict"]
    bad = pp.PlaceBatchRequest(
        workloads=[pb.Workload(id="ok", memory_mib=1, gpu_count=1), pb.Workload(id="zero")]
    )
    results = stub.PlaceBatch(bad).results
    assert results[0].placed and results[1].code == "invalid" and "asks for nothing" in results[1].reason
    assert client.release_batch(["b0", "b1", "missing"]) == [True, True, False]
    assert client.cluster().workloads == 4


def test_an_unknown_policy_is_refused_by_the_core_before_anything_is_placed(client, stub):
    one = pb.Workload(id="p", memory_mib=1, gpu_count=1)
    for call in (
        lambda: stub.Place(pp.PlaceRequest(workload=one, policy="nope")),
        lambda: stub.PlaceBatch(pp.PlaceBatchRequest(workloads=[one], policy="nope")),
    ):
        code, details = code_and_details(call)
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("policy") and "fgd_fill" in details
    assert client.cluster().workloads == 0
    stub.Place(pp.PlaceRequest(workload=one, policy="best_fit"))
    assert client.cluster().workloads == 1


def test_preemption_plan_then_preempt_and_a_stale_plan(tmp_path):
    with in_process(make_config(tmp_path, min_runtime_s=0.0)) as s, Client(s.target) as client:
        check_preemption(client)


def check_preemption(client: Client) -> None:
    client.put_class("urgent", 100)
    for i in range(8):
        client.place(Workload(f"low{i}", 80_000, 2))
    urgent = Workload("urgent", 80_000, 2, priority_class="urgent")
    with pytest.raises(QuotaExceeded, match="only 0 free"):  # the engine sees the cluster full
        client.place(urgent)
    plan = client.preemption_plan(urgent)
    assert plan is not None and plan.victims
    stale = replace(plan, victims=("low-nonexistent",))
    with pytest.raises(StalePlan):
        client.preempt(stale)
    placement, evicted = client.preempt(plan)
    assert placement.workload_id == "urgent" and sorted(evicted) == sorted(plan.victims)
    with pytest.raises(Conflict):
        client.preempt(plan)  # already done: the workload is placed


def test_stale_plan_is_failed_precondition(stub, client):
    plan = pb.PreemptionPlan(
        workload=pb.Workload(id="x", memory_mib=1, gpu_count=1), node="sim-0", victims=["v"]
    )
    code, _ = code_and_details(lambda: stub.Preempt(pp.PreemptRequest(plan=plan)))
    assert code is grpc.StatusCode.FAILED_PRECONDITION


def test_drain_displaces_and_events_are_streamed(client, server):
    t, events = watch_until(server, "undrained")
    p = client.place(Workload("w", 1_000, 1))
    displaced = client.drain(gpu_id=p.gpu_ids[0])
    assert displaced == ["w"]
    assert not next(g for g in client.cluster().gpus if g.id == p.gpu_ids[0]).healthy
    with pytest.raises(NotFound):
        client.drain(node="no-such-node")
    client.drain(gpu_id=p.gpu_ids[0], undrain=True)
    t.join(10)
    assert [e.kind for e in events] == ["placed", "drained", "displaced", "undrained"]
    assert events[0].workload_id == "w" and events[0].seq < events[1].seq


def test_tenants_classes_and_quotas(client):
    # a child's guarantee must fit inside its parent's
    assert client.put_tenant("org", quota=Quota(guaranteed={"gpus": 4}, deserved={"gpus": 8})) is True
    quota = Quota(guaranteed={"gpus": 2}, deserved={"gpus": 4}, limit={"gpus": 8}, over_quota_weight=2)
    assert client.put_tenant("team-a", parent="org", quota=quota, max_queued=10) is True
    assert client.put_tenant("team-a", parent="org", quota=quota) is False
    with pytest.raises(Conflict):
        client.put_tenant("org", create_only=True)
    with pytest.raises(InvalidRequest) as e:
        client.put_tenant("x", parent="missing")
    assert e.value.field == "tenant.parent"
    with pytest.raises(InvalidRequest) as e:
        client.set_quota("team-a", Quota(guaranteed={"gpus": -1}))
    assert e.value.field == "quota.guaranteed.gpus"
    client.set_quota("team-a", replace(quota, limit={"gpus": 6}))
    t = client.tenant("team-a")
    assert (t.parent, t.quota.limit, t.quota.guaranteed["gpus"]) == ("org", {"gpus": 6}, 2)
    client.place(Workload("w", 1_000, 1, tenant="team-a"))
    with pytest.raises(InUse):
        client.delete_tenant("team-a")
    with pytest.raises(InUse):
        client.delete_tenant("org")
    client.release("w")
    client.delete_tenant("team-a")
    with pytest.raises(NotFound):
        client.tenant("team-a")
    client.put_class("batch", -10, preemptible=True)
    assert client.classes()["batch"] == (-10, True)
    client.delete_class("batch")
    with pytest.raises(NotFound):
        client.delete_class("batch")


def test_admit_queue_reject_with_reasons(client):
    client.put_tenant("team-a", quota=Quota(deserved={"gpus": 2}, limit={"gpus": 2}))
    assert client.admit("r1", "team-a", resources={"gpus": 2}).verdict == "admit"
    assert client.admit("r2", "team-a", resources={"gpus": 1}).verdict in ("queue", "reject")
    d = client.admit("r3", "team-a", resources={"gpus": 3})
    assert d.verdict == "reject" and d.reason_code == "rejected_limit"
    assert client.admit("r4", "nobody", resources={"gpus": 1}).reason_code == "rejected_unknown_tenant"
    assert client.finish("r1") is True


def test_route_prefers_prefix_overlap_then_load(client):
    with pytest.raises(NotFound):
        client.route(model="llama")
    client.register_replica("r1", address="10.0.0.1:8000", model="llama", max_running=8)
    client.register_replica("r2", address="10.0.0.2:8000", model="llama", max_running=8)
    client.report_load("r1", waiting=1, kv_usage=0.5, cached_block_hashes=[1, 2, 3])
    client.report_load("r2", waiting=0, kv_usage=0.1)
    assert client.route(model="llama", block_hashes=[1, 2, 3, 4]).replica_id == "r1"
    assert client.route(model="llama", block_hashes=[9]).replica_id == "r2"
    with pytest.raises(NotFound):
        client.report_load("r9")
    with pytest.raises(InvalidRequest) as e:
        client.report_load("r1", kv_usage=7.0)
    assert e.value.field == "load.kv_usage"
    assert [r.id for r in client.replicas()] == ["r1", "r2"]


def test_route_numbers_dispatches_and_reports_name_the_last_one_they_include(client):
    client.register_replica("r1", model="llama", max_running=8)
    first = client.route(model="llama", prompt_tokens=160)
    second = client.route(model="llama", prompt_tokens=160)
    assert (first.dispatch, second.dispatch) == (1, 2)
    client.report_load("r1", waiting_blocks=30, reflects_dispatch=first.dispatch)
    # 30 blocks queued, and the second dispatch's 10 the report does not include.
    assert "load -40.000" in client.route(model="llama").reason
    client.report_load("r1")  # an old client: every dispatch counts as reported
    assert "load -0.000" in client.route(model="llama").reason
    with pytest.raises(InvalidRequest) as e:
        client.report_load("r1", reflects_dispatch=99)
    assert e.value.field == "load.reflects_dispatch"


def test_reported_waiting_per_tenant_sends_a_tenant_where_it_is_not_queued(client):
    for rid, tenant in (("r1", "b"), ("r2", "a")):
        client.register_replica(rid, model="llama", max_running=8)
        client.report_load(rid, waiting=4, kv_usage=0.5, tenant_waiting={tenant: 4})
    # Equal loads: the tie would go to r2, where all of tenant a's queue is.
    assert client.route("a", model="llama").replica_id == "r1"
    assert client.route("b", model="llama").replica_id == "r2"
    views = {r.id: r for r in client.replicas()}
    assert (views["r1"].tenant_waiting, views["r2"].tenant_waiting) == ({"b": 4}, {"a": 4})
    with pytest.raises(InvalidRequest) as e:
        client.report_load("r1", tenant_waiting={" b": 1})
    assert e.value.field == "load.tenant_waiting key"


def test_telemetry_stream_sets_external_usage_and_drains(server, client):
    p = client.place(Workload("w", 1_000, 1))
    gpu = p.gpu_ids[0]
    node = p.node
    reports = [
        telemetry_pb2.NodeStateReport(
            node=node, gpus=[telemetry_pb2.GpuState(gpu_id=gpu, memory_external_mib=5_000, healthy=True)]
        ),
        telemetry_pb2.NodeStateReport(
            node=node, gpus=[telemetry_pb2.GpuState(gpu_id=gpu, memory_external_mib=5_000, healthy=False)]
        ),
        telemetry_pb2.NodeStateReport(node=node, gpus=[telemetry_pb2.GpuState(gpu_id="nope", healthy=True)]),
        telemetry_pb2.NodeStateReport(
            node="edge-1",
            inventory=pb.Node(name="edge-1", gpus=[pb.GpuSpec(model="L4", memory_mib=24_576)]),
        ),
    ]
    with grpc.insecure_channel(server.target) as channel:
        acks = list(
            telemetry_pb2_grpc.TelemetryServiceStub(channel).StreamNodeState(iter(reports), timeout=10)
        )
    assert [list(a.drained_gpus) for a in acks] == [[], [gpu], [], []]
    assert list(acks[1].displaced) == ["w"] and "nope" in acks[2].error and not acks[3].error
    view = client.cluster()
    g = next(g for g in view.gpus if g.id == gpu)
    assert (g.memory_external_mib, g.healthy, view.nodes) == (5_000, False, 3)
    assert any(g.id == "edge-1/0" for g in view.gpus)


def test_health_and_reflection(server):
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "gpuplane.v1.PlacementService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(
            refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {s.name for s in answer.list_services_response.service}
    assert {"gpuplane.v1.PlacementService", "gpuplane.v1.AdminService", "grpc.health.v1.Health"} <= names


def test_expired_deadline_is_deadline_exceeded_and_never_half_applied(client, server):
    # Fewer attempts than the 16 GPUs: a call that beats its deadline places, and the rest must
    # still fail for the deadline, not for capacity.
    with Client(server.target, timeout=1e-6) as hurried:
        for i in range(12):
            try:
                hurried.place(Workload(f"d{i}", 1_000, 1))
            except gpuplane.GpuplaneError as e:
                assert getattr(e, "code", None) is grpc.StatusCode.DEADLINE_EXCEEDED
    view = client.cluster()
    assert view.totals.memory_used_mib == 1_000 * len(view.placements) == 1_000 * view.workloads


def test_state_survives_an_in_process_restart(tmp_path):
    config = make_config(tmp_path, compact_every=3)
    with in_process(config) as s, Client(s.target) as c:
        c.put_tenant("t")
        placed = [c.place(Workload(f"w{i}", 1_000 * (i + 1), 1, tenant="t")) for i in range(7)]
        c.release("w3")
        c.put_tenant("t", quota=Quota(deserved={"gpus": 3}))
    with in_process(config) as s, Client(s.target) as c:
        view = c.cluster()
        assert {p.workload_id: p.gpu_ids for p in view.placements} == {
            p.workload_id: p.gpu_ids for p in placed if p.workload_id != "w3"
        }
        assert c.tenant("t").quota.deserved["gpus"] == 3
        assert c.tenant("t").placed_workloads == 6
