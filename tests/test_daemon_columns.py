"""The bulk fast path over gRPC: ``PlaceColumns`` (workloads as packed columns) and the
one-call ``ReleaseBatch``, against an in-process server on a loopback port."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from daemon_harness import in_process, make_config, watch_until
from gpuplane import Client, Workload
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane.errors import Conflict, InvalidRequest


def placements(client: Client) -> dict[str, tuple[str, tuple[str, ...], str]]:
    return {p.workload_id: (p.node, p.gpu_ids, p.tenant) for p in client.cluster().placements}


def test_columns_place_in_order_and_answer_with_nodes_and_gpus(client):
    client.put_tenant("t")
    ids = ["gang", "small", "huge", "numpy"]
    out = client.place_columns(ids, np.array([40_000, 1_000, 900_000, 2_000]), [4, 1, 1, 2], tenant="t")
    assert out.ids == tuple(ids)
    assert out.placed == (True, True, False, True) and out.count == 3
    assert out.node[2] == "" and out.gpu_ids[2] == ()
    assert [len(g) for g in out.gpu_ids] == [4, 1, 0, 2]
    expected = {
        w: (n, g, "t") for w, ok, n, g in zip(ids, out.placed, out.node, out.gpu_ids, strict=True) if ok
    }
    assert placements(client) == expected
    assert client.tenant("t").placed_workloads == 3


def test_columns_match_one_by_one_placement_on_an_identical_cluster(tmp_path):
    rng = np.random.default_rng(3)
    memory, count = rng.integers(1_000, 60_000, 40), rng.integers(1, 5, 40)
    ids = [f"w{i}" for i in range(40)]
    with in_process(make_config(tmp_path / "a")) as s, Client(s.target) as c:
        bulk = c.place_columns(ids, memory, count)
    with in_process(make_config(tmp_path / "b")) as s, Client(s.target) as c:
        single = []
        for w, m, n in zip(ids, memory.tolist(), count.tolist(), strict=True):
            try:
                single.append(c.place(Workload(w, m, n)).gpu_ids)
            except Exception:
                single.append(())
    assert list(bulk.gpu_ids) == single


@pytest.mark.parametrize(
    ("columns", "field"),
    [
        ({"ids": ["a", "b"], "memory_mib": [1], "gpu_count": [1, 1]}, "columns.memory_mib"),
        ({"ids": ["a", "b"], "memory_mib": [1, 1], "gpu_count": [1, 0]}, "columns.gpu_count[1]"),
        ({"ids": ["a", ""], "memory_mib": [1, 1], "gpu_count": [1, 1]}, "columns.ids[1]"),
        ({"ids": ["a", "a"], "memory_mib": [1, 1], "gpu_count": [1, 1]}, "columns.ids[1]"),
        ({"ids": ["a", "b" * 300], "memory_mib": [1, 1], "gpu_count": [1, 1]}, "columns.ids[1]"),
        ({"ids": ["a"], "memory_mib": [1 << 40], "gpu_count": [1]}, "columns.memory_mib[0]"),
        ({"ids": ["a"], "memory_mib": [1], "gpu_count": [1], "priority": [1, 2]}, "columns.priority"),
        (
            {"ids": ["a"], "memory_mib": [1], "gpu_count": [1], "compute_milli": [200_000]},
            "columns.compute_milli[0]",
        ),
        ({"ids": ["a", "b"], "memory_mib": [1, 1], "gpu_count": [1, 9]}, "columns.gpu_count[1]"),
    ],
)
def test_bad_columns_refuse_the_whole_call_naming_the_field(stub, client, columns, field):
    client.place(Workload("keep", 1_000, 1))
    request = pp.PlaceColumnsRequest(columns=pp.WorkloadColumns(**columns))
    with pytest.raises(grpc.RpcError) as e:
        stub.PlaceColumns(request)
    assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith(field)
    assert list(placements(client)) == ["keep"]


def test_missing_columns_and_unknown_policy_are_invalid(stub, client):
    with pytest.raises(InvalidRequest) as e:
        client.place_columns(["a"], [1], [1], policy="nope")
    assert e.value.field == "policy"
    with pytest.raises(grpc.RpcError) as r:
        stub.PlaceColumns(pp.PlaceColumnsRequest(tenant="t"))
    assert r.value.code() is grpc.StatusCode.INVALID_ARGUMENT and r.value.details().startswith("columns")
    assert client.place_columns([], [], []).placed == ()


def test_an_id_already_placed_is_a_conflict_and_nothing_changes(client):
    client.place(Workload("x", 1_000, 1))
    with pytest.raises(Conflict, match=r"columns\.ids\[1\]"):
        client.place_columns(["new", "x"], [1, 1], [1, 1])
    assert list(placements(client)) == ["x"]


def test_columns_survive_a_restart_and_release_batch_frees_them(tmp_path):
    config = make_config(tmp_path, compact_every=2)
    with in_process(config) as s, Client(s.target) as c:
        c.put_tenant("t")
        out = c.place_columns([f"c{i}" for i in range(6)], [10_000] * 6, [1, 2, 1, 2, 1, 2], tenant="t")
        assert c.release_batch(["c1", "c4", "nope"]) == [True, True, False]
        before = placements(c)
    with in_process(config) as s, Client(s.target) as c:
        assert placements(c) == before
        assert sorted(before) == ["c0", "c2", "c3", "c5"]
        assert before["c0"][1] == out.gpu_ids[0]
        assert c.tenant("t").placed_workloads == 4


def test_watchers_see_placed_and_released_events_of_bulk_calls(client, server):
    client.put_tenant("t")
    t, events = watch_until(server, "released")
    out = client.place_columns(["a", "b"], [1_000, 1_000], [1, 2], tenant="t")
    client.release_batch(["b"])
    t.join(10)
    assert [(e.kind, e.workload_id, e.gpu_ids, e.tenant) for e in events] == [
        ("placed", "a", out.gpu_ids[0], "t"),
        ("placed", "b", out.gpu_ids[1], "t"),
        ("released", "b", out.gpu_ids[1], "t"),
    ]
