"""gpuplane.vllm's policy from a running gpuplane service (``GPUPLANE_SERVICE``): a real daemon
on a loopback port holds the tenants and classes; the engine's policy engine is built from them,
and the engine's reporter pushes back the tokens served per tenant. (The same wiring in a real
vLLM engine: tests/test_vllm_service_report.py.)"""

from __future__ import annotations

import pytest
from daemon_harness import in_process, make_config
from gpuplane.client import Client
from gpuplane.client_values import Quota
from gpuplane.errors import InvalidRequest
from gpuplane.vllm import service_policy, service_report
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


def test_the_engine_registers_and_pushes_the_tokens_served(service, monkeypatch):
    """``ServiceReporter`` (what the engine runs with ``GPUPLANE_SERVICE``) on a real daemon."""
    monkeypatch.setenv(service_report.REPLICA_ENV, "engine-1")
    monkeypatch.setenv(service_report.INTERVAL_ENV, "30")  # only the explicit and final reports
    served = {"alice": 10.0}
    load = lambda: service_report.EngineLoad(2, 1, 0.25, dict(served))  # noqa: E731
    reporter = service_report.ServiceReporter(service, None, load, model="tiny")
    with Client(service) as client:
        view = next(r for r in client.replicas() if r.id == "engine-1")
        assert (view.model, view.tenant_service) == ("tiny", {})
        assert reporter.report()
        view = next(r for r in client.replicas() if r.id == "engine-1")
        assert (view.waiting, view.running, view.kv_usage) == (2, 1, 0.25)
        assert view.tenant_service == {"alice": 10.0}
        served.update(alice=30.0, bob=4.0)
        reporter.stop()  # the last report carries the totals at shutdown
        view = next(r for r in client.replicas() if r.id == "engine-1")
        assert view.tenant_service == {"alice": 30.0, "bob": 4.0}


def test_a_failed_report_is_logged_and_the_engine_goes_on(service, monkeypatch, caplog):
    monkeypatch.setenv(service_report.INTERVAL_ENV, "30")
    load = lambda: service_report.EngineLoad(0, 0, 0.0, {"no such tenant\u202e": 1.0})  # noqa: E731
    reporter = service_report.ServiceReporter(service, None, load)
    assert not reporter.report()
    assert "load report to the service failed" in caplog.text
    reporter._stop.set()


@pytest.mark.parametrize("text", ["0", "-1", "soon", "nan", "inf"])
def test_the_report_interval_must_be_positive_seconds(monkeypatch, text):
    monkeypatch.setenv(service_report.INTERVAL_ENV, text)
    with pytest.raises(InvalidRequest, match="GPUPLANE_REPORT_S: must be a positive number") as err:
        service_report.report_interval()
    assert err.value.field == "GPUPLANE_REPORT_S"


def test_without_a_service_nothing_is_reported(monkeypatch):
    monkeypatch.delenv(service_policy.SERVICE_ENV, raising=False)
    assert service_report.start_reporting(lambda: service_report.EngineLoad(0, 0, 0.0)) is None
