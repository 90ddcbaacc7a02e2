"""A replica belongs to the tenant that registered it: only that tenant (or admin) registers
its id again or reports its load; shared replicas are admin-managed; ListReplicas shows a
tenant its own and the shared ones; NOT_FOUND does not tell other tenants' ids from unknown
ones. Against a real token-protected server on a loopback port."""

from __future__ import annotations

import grpc
import pytest
from daemon_harness import in_process
from gpuplane._proto.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    admission_pb2_grpc,
    placement_pb2,
    placement_pb2_grpc,
    types_pb2,
)
from gpuplane._proto.v1 import admission_pb2 as ap
from test_auth import ADMIN, ALICE, BOB, bearer, config, tokens_file  # noqa: F401 - fixtures


@pytest.fixture
def admission(config):  # noqa: F811
    with in_process(config) as server, grpc.insecure_channel(server.target) as channel:
        yield admission_pb2_grpc.AdmissionServiceStub(channel)


def register(stub, token: str, rid: str, tenant: str = "", address: str = "10.0.0.1:8000"):
    replica = ap.Replica(id=rid, tenant=tenant, address=address, model="m")
    return stub.RegisterReplica(ap.RegisterReplicaRequest(replica=replica), metadata=bearer(token))


def error_of(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def listed(stub, token: str) -> list[str]:
    response = stub.ListReplicas(ap.ListReplicasRequest(), metadata=bearer(token))
    return [r.replica.id for r in response.replicas]


def test_a_tenant_cannot_hijack_another_tenants_or_a_shared_replica(admission):
    register(admission, BOB, "b1", "bob")
    register(admission, ADMIN, "shared1")
    for rid in ("b1", "shared1"):
        error = error_of(lambda rid=rid: register(admission, ALICE, rid, "alice", address="6.6.6.6:1"))
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.details()
    replicas = admission.ListReplicas(ap.ListReplicasRequest(), metadata=bearer(ADMIN)).replicas
    assert {(r.replica.id, r.replica.tenant, r.replica.address) for r in replicas} == {
        ("b1", "bob", "10.0.0.1:8000"),
        ("shared1", "", "10.0.0.1:8000"),
    }
    register(admission, BOB, "b1", "bob", address="10.0.0.2:8000")  # the owner may
    register(admission, ADMIN, "b1", "bob", address="10.0.0.3:8000")  # and so may admin


def test_shared_replicas_are_admin_managed(admission):
    error = error_of(lambda: register(admission, ALICE, "s2"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    register(admission, ADMIN, "s2")
    load = ap.ReportLoadRequest(load=ap.ReplicaLoad(replica_id="s2", waiting=1))
    error = error_of(lambda: admission.ReportLoad(load, metadata=bearer(ALICE)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    admission.ReportLoad(load, metadata=bearer(ADMIN))


def test_list_replicas_shows_a_tenant_its_own_and_shared_ones(admission):
    register(admission, ALICE, "a1", "alice")
    register(admission, BOB, "b1", "bob")
    register(admission, ADMIN, "s1")
    load = ap.ReplicaLoad(replica_id="s1", tenant_service={"alice": 1.0, "bob": 2.0})
    admission.ReportLoad(ap.ReportLoadRequest(load=load), metadata=bearer(ADMIN))
    assert listed(admission, ALICE) == ["a1", "s1"]
    assert listed(admission, BOB) == ["b1", "s1"]
    assert listed(admission, ADMIN) == ["a1", "b1", "s1"]
    shared = admission.ListReplicas(ap.ListReplicasRequest(), metadata=bearer(ALICE)).replicas[1]
    assert dict(shared.load.tenant_service) == {"alice": 1.0}  # not bob's service


def test_not_found_does_not_reveal_other_tenants_ids(config):  # noqa: F811
    with in_process(config) as server, grpc.insecure_channel(server.target) as channel:
        admission = admission_pb2_grpc.AdmissionServiceStub(channel)
        placement = placement_pb2_grpc.PlacementServiceStub(channel)
        register(admission, BOB, "b1", "bob")
        put = admin_pb2.PutTenantRequest(tenant=types_pb2.Tenant(name="bob"))  # placements need it
        admin_pb2_grpc.AdminServiceStub(channel).PutTenant(put, metadata=bearer(ADMIN))
        workload = types_pb2.Workload(id="w1", tenant="bob", memory_mib=1000, gpu_count=1)
        placement.Place(placement_pb2.PlaceRequest(workload=workload), metadata=bearer(BOB))

        def report(rid):
            load = ap.ReportLoadRequest(load=ap.ReplicaLoad(replica_id=rid))
            return lambda: admission.ReportLoad(load, metadata=bearer(ALICE))

        def release(wid):
            request = placement_pb2.ReleaseRequest(workload_id=wid)
            return lambda: placement.Release(request, metadata=bearer(ALICE))

        for probe in (report, release):
            theirs, unknown = error_of(probe("b1" if probe is report else "w1")), error_of(probe("zz"))
            assert theirs.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
            assert theirs.details().replace("b1", "zz").replace("w1", "zz") == unknown.details()
