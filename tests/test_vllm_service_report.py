"""One policy for the engine and the service: a real vLLM engine (the vLLM stack's python, the
tiny Llama) started with ``GPUPLANE_SERVICE`` pointing at a real gpuplane daemon on loopback
pulls its tenants from the daemon (a tenant the daemon lacks is refused) and pushes back, by
``ReportLoad``, the weighted tokens its core served each tenant and the requests waiting in
its core per tenant, which the daemon's replica view then holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gpuplane
import pytest
from daemon_harness import in_process, make_config
from gpuplane.client import Client

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness

REPLICA = "vllm-under-test"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[dict[str, Any], list[Any]]:
    """What the engine's core served and the daemon's replicas after the engine shut down."""
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    out = tmp_path_factory.mktemp("vllm-report") / "report.json"
    config = make_config(tmp_path_factory.mktemp("daemon"))
    with in_process(config) as server, Client(server.target) as client:
        client.put_tenant("alice")
        client.put_tenant("bob")
        env = {"GPUPLANE_SERVICE": server.target, "GPUPLANE_REPLICA_ID": REPLICA}
        harness.run("service_report.py", str(model), str(out), env={**env, "GPUPLANE_REPORT_S": "0.2"})
        return json.loads(out.read_text()), client.replicas()


def test_the_engine_serves_the_services_tenants_only(served):
    engine, _ = served
    assert engine["alice_tokens"] == [12, 12, 12]
    assert engine["bob_tokens"] == [6]
    assert engine["mallory_finish"] == "error"


def test_the_service_holds_each_tenants_requests_waiting_in_the_engine(served):
    engine, replicas = served
    # Reported with 2 of alice's and 1 of bob's requests enqueued and no step taken.
    assert engine["queued_view"] == {"alice": 2, "bob": 1}
    view = next(r for r in replicas if r.id == REPLICA)
    assert view.tenant_waiting == {}  # the last report, at shutdown: none waiting


def test_the_service_holds_the_tokens_the_engine_served_each_tenant(served):
    engine, replicas = served
    view = next(r for r in replicas if r.id == REPLICA)
    assert (view.running, view.waiting) == (0, 0)
    core = engine["core"]
    assert view.tenant_service == pytest.approx({t: service for t, (_, _, service) in core.items()})
    defaults = gpuplane.BatchConfig()
    # (prompt tokens, tokens generated) of the queued phase plus the sequential one.
    for tenant, (prompt_tokens, generated) in {
        "alice": (2 * 16 + 3 * 40, 2 * 2 + 3 * 12),
        "bob": (16 + 24, 2 + 6),
    }.items():
        input_tokens, output_tokens, _ = core[tenant]
        assert input_tokens == prompt_tokens
        # The core charges each sampled token when it plans it (expect_sampled), each
        # request's last one too (vLLM finishes that request; the core then drops it).
        assert output_tokens == generated
        expected = defaults.w_in * input_tokens + defaults.w_out * output_tokens
        assert view.tenant_service[tenant] == pytest.approx(expected)
