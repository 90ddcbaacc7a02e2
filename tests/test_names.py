"""One grammar for ids and names, decided by the core (``gpuplane.check_name``) and applied by
the library and the service alike: no control or invisible characters, a length cap."""

from __future__ import annotations

import gpuplane
import grpc
import pytest
from gpuplane import InvalidRequest
from gpuplane._proto.v1 import admission_pb2, admission_pb2_grpc, placement_pb2, types_pb2

BAD = {
    "nul": "a\0b",
    "newline": "a\nb",
    "escape": "a\x1b[31mred",
    "rtl_override": "evil\u202egnp.exe",
    "zero_width": "ad\u200bmin",
    "bom": "\ufeffa",
    "padded": " a",
    "empty": "",
    "too_long": "x" * (gpuplane.MAX_ID_BYTES + 1),
}


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_the_library_refuses_bad_names_everywhere(value):
    with pytest.raises(InvalidRequest) as caught:
        gpuplane.check_name("tenant", value, gpuplane.MAX_ID_BYTES)
    assert caught.value.field == "tenant"
    calls = [
        lambda: gpuplane.Workload(value, 1),
        lambda: gpuplane.Workload("w", 1, tenant=value),
        lambda: gpuplane.Policy().add_tenant(value),
        lambda: gpuplane.Router().register(value),
        lambda: gpuplane.BatchScheduler(gpuplane.BatchConfig()).add(gpuplane.Request(1, value, 1, 1)),
        lambda: gpuplane.Cluster().add_node(value, [gpuplane.GpuSpec("H100-80GB", 80_000)]),
    ]
    if value:  # an empty replica tenant means "shared"
        calls.append(lambda: gpuplane.Router().register("r", tenant=value))
    for call in calls:
        with pytest.raises(InvalidRequest):
            call()


def test_plain_unicode_names_pass():
    for ok in ["llama-3-8b", "team/a.b_c:1", "Zürich", "模型", "a b"]:
        gpuplane.check_name("name", ok)
        gpuplane.Workload(ok, 1, tenant=ok)


NON_EMPTY = {k: v for k, v in BAD.items() if v}


@pytest.mark.parametrize("value", NON_EMPTY.values(), ids=NON_EMPTY.keys())
def test_the_service_refuses_bad_names_and_journals_nothing(server, stub, value):
    with grpc.insecure_channel(server.target) as channel:
        admission = admission_pb2_grpc.AdmissionServiceStub(channel)
        for call in (
            lambda: stub.Place(placement_pb2.PlaceRequest(workload=types_pb2.Workload(id=value))),
            lambda: admission.RegisterReplica(
                admission_pb2.RegisterReplicaRequest(replica=admission_pb2.Replica(id="r", tenant=value))
            ),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        listed = admission.ListReplicas(admission_pb2.ListReplicasRequest())
        assert list(listed.replicas) == []
    assert stub.GetCluster(placement_pb2.GetClusterRequest()).stats.workloads == 0
