"""gpuplane.vllm's policy from a running gpuplane service (``GPUPLANE_SERVICE``): a real daemon
on a loopback port holds the tenants and classes; the engine's policy engine is built from them.
(The vLLM engine side is the same ``engine_policy`` call; the vLLM stack has no gRPC health
package, so that wiring is not run in an engine here.)"""

from __future__ import annotations

import pytest
from daemon_harness import in_process, make_config
from gpuplane.client import Client
from gpuplane.client_values import Quota
from gpuplane.errors import InvalidRequest
from gpuplane.vllm import service_policy
from gpuplane.vllm.policy_file import PolicyFile


@pytest.fixture
def service(tmp_path):
    with in_process(make_config(tmp_path)) as server:
        with Client(server.target) as client:
            client.put_tenant("org")
            client.put_tenant(
                "alice", parent="org", quota=Quota(limit={"tokens_per_s": 500}, over_quota_weight=3)
            )
            client.put_tenant("bob", parent="org")
            client.put_class("gold", 10, preemptible=False)
        yield server.target


def test_the_engine_policy_is_the_services_tenants_and_classes(service):
    policy = service_policy.policy_from_service(service)
    tenants = {t.name: t for t in policy.tenants()}
    assert {"org", "alice", "bob"} <= set(tenants)
    assert tenants["alice"].parent == "org"
    assert tenants["alice"].quota.over_quota_weight == 3.0
    assert tenants["alice"].quota.limit == {"tokens_per_s": 500.0}
    assert tenants["bob"].quota.over_quota_weight == 1.0
    gold = next(c for c in policy.classes() if c.name == "gold")
    assert (gold.value, gold.preemptible) == (10, False)


def test_gpuplane_service_chooses_the_service_over_the_policy_file(service, monkeypatch):
    monkeypatch.setenv(service_policy.SERVICE_ENV, service)
    assert "alice" in service_policy.engine_policy(PolicyFile(batching={"policy": "fair"}))
    with pytest.raises(InvalidRequest, match="tenants and classes come from the service"):
        service_policy.engine_policy(PolicyFile(tenants={"carol": {}}))


def test_without_a_service_the_policy_file_decides(monkeypatch):
    monkeypatch.delenv(service_policy.SERVICE_ENV, raising=False)
    assert service_policy.engine_policy(PolicyFile()) is None
    assert "carol" in service_policy.engine_policy(PolicyFile(tenants={"carol": {}}))


def test_children_come_after_their_parents():
    class T:
        def __init__(self, name, parent):
            self.name, self.parent = name, parent

    order = service_policy.parents_first([T("c", "b"), T("b", "a"), T("a", None), T("d", None)])
    assert [t.name for t in order] == ["a", "d", "b", "c"]
