"""The service carries the core's policy decisions: Place, PlaceBatch and PlaceColumns admit
against quotas exactly as an in-process ``Cluster`` with a ``Policy`` attached does, preemption
plans follow the reclaim laws, and tenant figures (GetTenant, ListTenants, metrics, status) come
from the core's one query."""

from __future__ import annotations

import gpuplane
import pytest
from daemon_harness import in_process, make_config
from gpuplane import Client, Cluster, GpuSpec, Policy, QuotaExceeded, Workload
from gpuplane.client_values import Quota
from gpuplane.commands.status_table import render
from gpuplane.errors import InvalidRequest

H100 = 80 * 1024


def in_process_cluster(limit_gpus: float) -> Cluster:
    """The library's own setup of what the service runs: 2 x 8 H100 and a limited tenant."""
    policy = Policy()
    cluster = Cluster()
    for n in range(2):
        cluster.add_node(f"sim-{n}", [GpuSpec("H100-80GB", H100)] * 8)
    policy.set_capacity(gpus=16.0, memory_mib=16.0 * H100)
    policy.add_tenant("lim", limit={"gpus": limit_gpus})
    cluster.set_policy_engine(policy, now=0.0)
    return cluster


def outcomes_in_process(cluster: Cluster, ids: list[str]) -> list[bool]:
    out = []
    for wid in ids:
        try:
            cluster.place(Workload(wid, 1_000, 1, tenant="lim"), now=1.0)
            out.append(True)
        except QuotaExceeded:
            out.append(False)
    return out


def test_place_enforces_a_tenant_limit_as_the_library_does(client):
    client.put_tenant("lim", quota=Quota(limit={"gpus": 1}))
    ids = ["a", "b", "c"]
    through_service = []
    for wid in ids:
        try:
            client.place(Workload(wid, 1_000, 1, tenant="lim"))
            through_service.append(True)
        except QuotaExceeded as e:
            assert "limit" in str(e)
            through_service.append(False)
    assert through_service == outcomes_in_process(in_process_cluster(1), ids) == [True, False, False]
    assert client.tenant("lim").placed_gpus == 1


def test_place_batch_and_columns_are_refused_past_the_limit(client):
    client.put_tenant("lim", quota=Quota(limit={"gpus": 2}))
    batch = client.place_batch([Workload(f"b{i}", 1_000, 1, tenant="lim") for i in range(3)])
    assert [o.placed for o in batch] == [True, True, False]
    assert batch[2].code == "quota" and "limit" in batch[2].reason
    columns = client.place_columns(["c0", "c1"], [1_000, 1_000], [1, 1], tenant="lim")
    assert columns.placed == (False, False)
    assert client.tenant("lim").placed_gpus == 2


def test_unknown_tenant_is_refused_naming_the_field(client):
    with pytest.raises(InvalidRequest) as e:
        client.place(Workload("w", 1_000, 1, tenant="nobody"))
    assert e.value.field == "workload.tenant" and "unknown tenant" in str(e.value)


def test_preemption_plan_follows_the_reclaim_laws(client):
    """Victims younger than the engine's minimum runtime (60 s by default) are never
    preempted, so a fresh cluster offers no plan, as the library's engine would not."""
    client.put_tenant("low")
    client.put_tenant("high")
    for i in range(16):
        client.place(Workload(f"v{i}", 70_000, 1, tenant="low", priority=0))
    urgent = Workload("urgent", 70_000, 1, tenant="high", priority=100)
    assert client.preemption_plan(urgent) is None


def test_priority_class_travels_on_the_wire(client):
    """A non-preemptible class runs only within the tenant's guarantee (the core's law)."""
    client.put_class("gold", 500, preemptible=False)
    one = {"gpus": 1, "memory_mib": 1_000}
    client.put_tenant("t", quota=Quota(guaranteed=one, deserved=one))
    with pytest.raises(InvalidRequest) as e:
        client.place(Workload("w0", 1_000, 1, tenant="t", priority_class="nope"))
    assert e.value.field == "workload.priority_class"
    client.place(Workload("w1", 1_000, 1, tenant="t", priority_class="gold"))
    with pytest.raises(QuotaExceeded) as refused:
        client.place(Workload("w2", 1_000, 1, tenant="t", priority_class="gold"))
    assert "guarantee" in str(refused.value)
    client.place(Workload("w3", 1_000, 1, tenant="t"))  # the default class may borrow


def test_tenant_figures_come_from_the_core(server, client):
    client.put_tenant("org", quota=Quota(deserved={"gpus": 16}))
    client.put_tenant("team", parent="org", quota=Quota(deserved={"gpus": 8}))
    client.place(Workload("w", 40_000, 2, tenant="team"))
    status = client.tenant("team")
    assert (status.placed_workloads, status.placed_gpus, status.placed_memory_mib) == (1, 2, 80_000)
    assert status.admitted == 1
    assert status.allocated["gpus"] == 2
    assert status.fair_share == server.daemon.engine.state.policy.engine.explain("team").fair_share
    assert status.dominant_share == pytest.approx(2 / 16)
    assert {t.name: t.admitted for t in client.tenants()}["team"] == 1
    figures = server.daemon.engine.state.tenant_figures(0.0)
    assert all(isinstance(f, gpuplane.TenantFigures) for f in figures)
    team_row = next(line for line in render(client, server.target).splitlines() if line.startswith("team "))
    assert team_row.split()[2:] == ["1", "2", "78.1", "1", "0", f"{status.fair_share['gpus']:g}", "12.5%"]


def test_limits_are_the_cores_and_name_the_real_cause(client):
    with pytest.raises(InvalidRequest) as e:
        client.place(Workload("big", 1_000, 1_000))
    assert e.value.field == "workload.gpu_count"
    assert "largest node has 8" in str(e.value)
    p = client.place(Workload("shared", 1_000, 1, compute_milli=1_000))
    assert p.compute_milli == 1_000


def test_quota_refusal_survives_a_restart(tmp_path):
    config = make_config(tmp_path)
    with in_process(config) as s, Client(s.target) as c:
        c.put_tenant("lim", quota=Quota(limit={"gpus": 1}))
        c.place(Workload("a", 1_000, 1, tenant="lim"))
    with in_process(config) as s, Client(s.target) as c:
        assert c.tenant("lim").admitted == 1
        with pytest.raises(QuotaExceeded):
            c.place(Workload("b", 1_000, 1, tenant="lim"))


def test_placement_is_the_librarys_value_type_with_immutable_gpu_ids(client):
    client.put_tenant("t")
    p = client.place(Workload("w", 40_000, 2, tenant="t"))
    assert type(p) is gpuplane.Placement
    assert isinstance(p.gpu_ids, tuple) and p.tenant == "t"
    local = in_process_cluster(1).place(Workload("x", 1_000, 1, tenant="lim"), now=0.0)
    assert isinstance(local.gpu_ids, tuple)


def test_capacity_exclusions_and_fields_cross_the_wire(client):
    with pytest.raises(gpuplane.CapacityError) as e:
        client.place(Workload("w", 1_000, 1, allowed_models=["H100-80GB"], node_selector={"zone": "x"}))
    assert e.value.excluded and sum(e.value.excluded.values()) == 16
    with pytest.raises(InvalidRequest) as bad:
        client.place(Workload("w", 1_000, 1, allowed_models=["B200"]))
    assert bad.value.field == "workload.allowed_models"


def test_place_columns_takes_model_constraints_and_selectors(client):
    out = client.place_columns(
        ["m0", "m1", "m2"],
        [1_000] * 3,
        [1] * 3,
        allowed_models=[["H100-80GB"], [], ["H100-80GB"]],
        node_selector=[{}, {"zone": "x"}, {}],
    )
    assert out.placed == (True, False, True)
    with pytest.raises(InvalidRequest) as e:
        client.place_columns(["m3"], [1_000], [1], allowed_models=[["B200"]])
    assert e.value.field == "columns.allowed_models[0]"
