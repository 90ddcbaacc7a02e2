"""Bounds on everything a caller can grow, each a ``gpuplane serve`` flag: replicas in all and
per tenant, entries and key lengths of a load report, ListReplicas pages, Drain reasons.
Exceeding one is RESOURCE_EXHAUSTED or INVALID_ARGUMENT with a message that names it."""

from __future__ import annotations

import gpuplane
import grpc
import pytest
from daemon_harness import in_process, make_config
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import admission_pb2_grpc, placement_pb2, placement_pb2_grpc
from gpuplane.cli import parser as build_parser
from gpuplane.commands.serve import config_of


def error_of(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


@pytest.fixture
def bounded(tmp_path):
    config = make_config(
        tmp_path,
        max_replicas=5,
        max_replicas_per_tenant=2,
        max_load_entries=3,
        list_page_size=2,
        max_reason_bytes=8,
    )
    with in_process(config) as server, grpc.insecure_channel(server.target) as channel:
        yield server, admission_pb2_grpc.AdmissionServiceStub(channel)


def register(stub, rid: str, tenant: str = "") -> None:
    stub.RegisterReplica(ap.RegisterReplicaRequest(replica=ap.Replica(id=rid, tenant=tenant)))


def test_replicas_are_bounded_in_all_and_per_tenant(bounded):
    _, stub = bounded
    register(stub, "a1", "a")
    register(stub, "a2", "a")
    error = error_of(lambda: register(stub, "a3", "a"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 'tenant "a" has 2 replicas' in error.details()
    register(stub, "a1", "a")  # re-registering takes no new room
    for rid in ("s1", "s2", "s3"):
        register(stub, rid)
    error = error_of(lambda: register(stub, "s4"))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "5 replicas registered" in error.details()


def test_load_reports_are_bounded(bounded):
    _, stub = bounded
    register(stub, "r")
    too_many = ap.ReplicaLoad(replica_id="r", tenant_service={f"t{i}": 1.0 for i in range(4)})
    error = error_of(lambda: stub.ReportLoad(ap.ReportLoadRequest(load=too_many)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant_service" in error.details() and "at most 3" in error.details()
    for key in ("", "k\0", "x" * 3_000_000):
        bad = ap.ReplicaLoad(replica_id="r", tenant_service={key: 1.0})
        error = error_of(lambda bad=bad: stub.ReportLoad(ap.ReportLoadRequest(load=bad)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "tenant_service" in error.details() and len(error.details()) < 300
    stub.ReportLoad(ap.ReportLoadRequest(load=ap.ReplicaLoad(replica_id="r", tenant_service={"a": 1.0})))


def test_list_replicas_pages_and_the_client_follows_them(bounded):
    server, stub = bounded
    for rid in ("r1", "r2", "r3", "r4", "r5"):
        register(stub, rid)
    first = stub.ListReplicas(ap.ListReplicasRequest(page_size=100))  # capped to the flag's 2
    assert [r.replica.id for r in first.replicas] == ["r1", "r2"] and first.next_page_token
    second = stub.ListReplicas(ap.ListReplicasRequest(page_token=first.next_page_token))
    assert [r.replica.id for r in second.replicas] == ["r3", "r4"]
    last = stub.ListReplicas(ap.ListReplicasRequest(page_token=second.next_page_token))
    assert [r.replica.id for r in last.replicas] == ["r5"] and last.next_page_token == ""
    with gpuplane.Client(server.target) as client:
        assert [r.id for r in client.replicas()] == ["r1", "r2", "r3", "r4", "r5"]


def test_drain_reasons_are_bounded(bounded):
    server, _ = bounded
    with grpc.insecure_channel(server.target) as channel:
        stub = placement_pb2_grpc.PlacementServiceStub(channel)
        request = placement_pb2.DrainRequest(gpu_id="sim-0/0", reason="x" * 9)
        error = error_of(lambda: stub.Drain(request))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "reason" in error.details() and "at most 8" in error.details()
        stub.Drain(placement_pb2.DrainRequest(gpu_id="sim-0/0", reason="xid 79"))


def test_every_bound_is_a_documented_serve_flag():
    parser = build_parser()
    args = parser.parse_args(
        [
            "serve",
            "--max-replicas",
            "7",
            "--max-replicas-per-tenant",
            "3",
            "--max-load-entries",
            "9",
            "--list-page-size",
            "4",
            "--max-reason-bytes",
            "5",
        ]
    )
    config = config_of(args)
    assert (config.max_replicas, config.max_replicas_per_tenant, config.max_load_entries) == (7, 3, 9)
    assert (config.list_page_size, config.max_reason_bytes) == (4, 5)
    help_text = parser._subparsers._group_actions[0].choices["serve"].format_help()
    for flag in ("--max-replicas", "--max-replicas-per-tenant", "--max-load-entries", "--list-page-size"):
        assert flag in help_text
