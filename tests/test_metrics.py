"""The Prometheus endpoint (``daemon.metrics``): scraped over real HTTP(S) and parsed."""

from __future__ import annotations

import ssl
import urllib.request

import pytest
from certs import CertificateAuthority
from gpuplane import Cluster, GpuSpec, Policy, Workload
from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.hooks import MetricsSink
from gpuplane.daemon.metrics import Metrics
from prometheus_client.parser import text_string_to_metric_families

MIB = 1024 * 1024


def scrape(metrics: Metrics, context: ssl.SSLContext | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    scheme = "https" if context else "http"
    host = "localhost" if context else "127.0.0.1"
    with urllib.request.urlopen(
        f"{scheme}://{host}:{metrics.port}/metrics", timeout=10, context=context
    ) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def metrics():
    m = Metrics(ServeConfig(listen="127.0.0.1:0", metrics_port=0))
    m.start()
    yield m
    m.stop()


def small_cluster() -> Cluster:
    cluster = Cluster()
    cluster.add_node("n1", [GpuSpec("H100-80GB", 81920, id=f"g{i}") for i in range(2)])
    cluster.place(Workload("w1", 40_000, 1, tenant="a"), policy="first_fit")
    cluster.set_external_usage("g1", 1_000)
    return cluster


def gpu(name: str, gpu_id: str) -> tuple[str, tuple]:
    return name, (("gpu", gpu_id), ("model", "H100-80GB"), ("node", "n1"))


def test_metrics_implements_the_sink_protocol(metrics):
    assert isinstance(metrics, MetricsSink)


def test_per_gpu_memory_health_and_cluster_ratios(metrics):
    cluster = small_cluster()
    cluster.set_gpu_health("g1", False)
    metrics.on_state(cluster.stats())
    got = scrape(metrics)
    assert got[gpu("gpuplane_gpu_memory_total_bytes", "g0")] == 81920 * MIB
    assert got[gpu("gpuplane_gpu_memory_allocated_bytes", "g0")] == 40_000 * MIB
    assert got[gpu("gpuplane_gpu_memory_free_bytes", "g0")] == (81920 - 40_000) * MIB
    assert got[gpu("gpuplane_gpu_memory_external_bytes", "g1")] == 1_000 * MIB
    assert got[gpu("gpuplane_gpu_healthy", "g0")] == 1
    assert got[gpu("gpuplane_gpu_healthy", "g1")] == 0
    stats = cluster.stats()
    assert got[("gpuplane_allocation_ratio", ())] == pytest.approx(stats.allocation_ratio)
    assert got[("gpuplane_fragmentation_ratio", ())] == pytest.approx(stats.fragmentation_ratio)
    assert got[("gpuplane_workloads", ())] == 1


def test_series_of_removed_gpus_vanish(metrics):
    cluster = small_cluster()
    metrics.on_state(cluster.stats())
    assert gpu("gpuplane_gpu_healthy", "g0") in scrape(metrics)
    cluster.remove_node("n1")
    metrics.on_state(cluster.stats())
    assert not any(name.startswith("gpuplane_gpu_") for name, _ in scrape(metrics))


def test_tenants_figures_are_the_cores(metrics):
    policy = Policy()
    policy.set_capacity(gpus=2.0, memory_mib=2 * 81920.0)
    policy.add_tenant("a", deserved={"gpus": 2.0})
    cluster = small_cluster()  # w1 (1 GPU, 40,000 MiB) is adopted by the engine as running
    cluster.set_policy_engine(policy, now=0.0)
    assert policy.admit("r1", "a", {"gpus": 0.5}, now=0.0).admitted
    policy.set_demand("a", {"gpus": 2.0})
    metrics.on_state(cluster.stats(), cluster.tenant_figures(now=10.0))
    got = scrape(metrics)
    a = (("tenant", "a"),)
    assert got[("gpuplane_tenant_admitted", a)] == 2
    assert got[("gpuplane_tenant_gpus", a)] == 1
    assert got[("gpuplane_tenant_memory_mib", a)] == 40_000
    assert got[("gpuplane_tenant_dominant_share", a)] == 0.75
    assert got[("gpuplane_tenant_fair_share", (("resource", "gpus"), *a))] == 2.0


def test_replica_load_uses_vllm_names(metrics):
    replicas = [{"id": "r1", "model": "llama", "waiting": 4, "running": 7, "kv_usage": 0.6}]
    metrics.on_state(small_cluster().stats(), [], replicas)
    got = scrape(metrics)
    labels = (("model_name", "llama"), ("replica", "r1"))
    assert got[("vllm:num_requests_waiting", labels)] == 4
    assert got[("vllm:num_requests_running", labels)] == 7
    assert got[("vllm:kv_cache_usage_perc", labels)] == 0.6
    assert got[("vllm:gpu_cache_usage_perc", labels)] == 0.6


def test_vllm_names_keep_their_colons_when_prometheus_asks_for_openmetrics(metrics):
    replicas = [{"id": "r1", "model": "llama", "waiting": 4, "routed": 3}]
    metrics.on_state(small_cluster().stats(), [], replicas)
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    request = urllib.request.Request(f"http://127.0.0.1:{metrics.port}/metrics", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    assert 'vllm:num_requests_waiting{model_name="llama",replica="r1"} 4.0' in text
    assert 'gpuplane_replica_routed_total{model_name="llama",replica="r1"} 3.0' in text
    assert "vllm_num_requests_waiting" not in text


def test_per_gpu_compute_in_gpus(metrics):
    cluster = Cluster()
    cluster.add_node("n1", [GpuSpec("H100-80GB", 81920, id="g0")])
    cluster.place(Workload("w", 1000, 1, compute_milli=250), policy="first_fit")
    metrics.on_state(cluster.stats())
    got = scrape(metrics)
    assert got[gpu("gpuplane_gpu_compute_allocated", "g0")] == 0.25
    assert got[gpu("gpuplane_gpu_compute_total", "g0")] == 1.0


def test_decision_latency_histogram_and_preemptions(metrics):
    for seconds in (0.00002, 0.0004, 0.003):
        metrics.observe_decision("Place", seconds)
    metrics.observe_decision("Admit", 0.00001)
    metrics.on_preemption(victims=3)
    got = scrape(metrics)
    assert got[("gpuplane_decision_duration_seconds_count", (("rpc", "Place"),))] == 3
    assert got[("gpuplane_decision_duration_seconds_bucket", (("le", "0.0005"), ("rpc", "Place")))] == 2
    assert got[("gpuplane_decision_duration_seconds_count", (("rpc", "Admit"),))] == 1
    assert got[("gpuplane_preemptions_total", ())] == 1
    assert got[("gpuplane_preempted_workloads_total", ())] == 3


def test_no_port_means_no_endpoint():
    m = Metrics(ServeConfig(listen="127.0.0.1:0"))
    m.start()
    assert m.port is None
    m.stop()


def test_with_tls_the_endpoint_serves_https_only(tmp_path):
    ca = CertificateAuthority(tmp_path)
    server = ca.issue("server", "localhost", server=True)
    m = Metrics(ServeConfig(listen="127.0.0.1:0", metrics_port=0, tls_cert=server.cert, tls_key=server.key))
    m.start()
    try:
        m.on_state(small_cluster().stats())
        context = ssl.create_default_context(cadata=ca.pem.decode())
        assert scrape(m, context)[("gpuplane_nodes", ())] == 1
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{m.port}/metrics", timeout=10).read()
    finally:
        m.stop()
