"""A real Prometheus (Debian's ``prometheus``) scrapes a running ``gpuplane serve``; PromQL over
its HTTP API returns the service's series and values, and every query of the Grafana dashboard
(grafana/gpuplane.json) returns data."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from daemon_harness import Process
from gpuplane import Client, Workload
from gpuplane.client_values import Quota

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "grafana" / "gpuplane.json"
MIB = 1024 * 1024
WAIT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise AssertionError("prometheus is not installed: run scripts/stacks/debian.sh")
    return path


class Prometheus:
    """A Prometheus server scraping one target every second, its data in ``directory``."""

    def __init__(self, directory: Path, target: str):
        self.port = free_port()
        config = directory / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs: [{{job_name: gpuplane, static_configs: [{{targets: ['{target}']}}]}}]\n"
        )
        self.log = open(directory / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()

    def query(self, promql: str) -> list[dict]:
        """The vector result of an instant query."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_value(self, promql: str, expected: float) -> list[dict]:
        """Polls until the query's single value is ``expected`` (scrapes and pushes take seconds)."""
        deadline = time.monotonic() + WAIT_S
        result: list[dict] = []
        while time.monotonic() < deadline:
            try:
                result = self.query(promql)
            except OSError:
                result = []
            if len(result) == 1 and float(result[0]["value"][1]) == expected:
                return result
            time.sleep(0.5)
        raise AssertionError(f"{promql}: wanted {expected}, last result {result}")


@pytest.fixture
def scraped(tmp_path):
    metrics_port = free_port()
    daemon = Process(tmp_path, "--metrics-port", str(metrics_port))
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
    try:
        with Client(daemon.target) as c:
            c.put_tenant("chat", quota=Quota(guaranteed={"gpus": 2}, deserved={"gpus": 4}))
            c.put_tenant("search", quota=Quota(deserved={"gpus": 4}))
            c.place(Workload("llama-8b", memory_mib=20_000, tenant="chat"))
            c.admit("req-1", "chat", resources={"gpus": 1})
            c.place(Workload("llama-70b", memory_mib=70_000, gpu_count=4, tenant="search"))
            c.register_replica("vllm-0", model="llama-8b")
            c.report_load("vllm-0", waiting=3, running=7, kv_usage=0.5)
            c.route("chat", model="llama-8b")
            c.route("chat", model="llama-8b")
            yield prometheus, c
    finally:
        prometheus.stop()
        daemon.kill()


def test_prometheus_reads_the_services_series_and_values(scraped):
    prom, client = scraped
    prom.wait_value("gpuplane_workloads", 2)
    prom.wait_value("gpuplane_gpus", 16)
    prom.wait_value('gpuplane_tenant_gpus{tenant="search"}', 4)
    # the placement of llama-8b is admitted by the policy engine too, beside req-1
    prom.wait_value('gpuplane_tenant_admitted{tenant="chat"}', 2)
    prom.wait_value('gpuplane_tenant_allocated{tenant="chat",resource="gpus"}', 2)
    prom.wait_value('sum(gpuplane_gpu_memory_allocated_bytes{node="sim-0"})', (20_000 + 4 * 70_000) * MIB)
    prom.wait_value('vllm:num_requests_waiting{model_name="llama-8b"}', 3)
    prom.wait_value('vllm:kv_cache_usage_perc{replica="vllm-0"}', 0.5)
    prom.wait_value('gpuplane_decision_duration_seconds_count{rpc="Place"}', 2)
    prom.wait_value('gpuplane_replica_routed_total{replica="vllm-0"}', 2)
    prom.wait_value('up{job="gpuplane"}', 1)
    client.release("llama-70b")
    prom.wait_value("gpuplane_workloads", 1)
    prom.wait_value('sum(gpuplane_gpu_memory_allocated_bytes{node="sim-0"})', 20_000 * MIB)


# Panels over the policy engine's per-tenant figures: they have data once the service reports
# what a tenant holds of admitted requests (ListTenants' ``admitted``, ``allocated``).


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    return [e.replace("$__rate_interval", "1m") for e in exprs]


def test_every_dashboard_query_returns_data(scraped):
    prom, client = scraped
    prom.wait_value('vllm:num_requests_running{replica="vllm-0"}', 7)
    client.drain(gpu_id="sim-1/0")
    prom.wait_value("gpuplane_healthy_gpus", 15)
    time.sleep(2)  # two more scrapes, so that rate() has two points
    empty = {e for e in dashboard_queries() if not prom.query(e)}
    assert empty == set()
