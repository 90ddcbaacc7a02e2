"""Agent programs through the service: Admit marks a call of a program (workflow id, call
index), Finish says whether more calls follow; the core's ledger checks the order of calls and
its figures reach the Prometheus endpoint; programs in flight survive a restart."""

from __future__ import annotations

import time
import urllib.request

import gpuplane
import pytest
from daemon_harness import in_process, make_config
from gpuplane import Client
from gpuplane.errors import InvalidRequest
from prometheus_client.parser import text_string_to_metric_families

WAIT_S = 30.0


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_sample(port: int, name: str, labels: dict[str, str], expected: float) -> dict:
    """Polls the endpoint until the sample has the value (the server pushes state every 5 s)."""
    key = (name, tuple(sorted(labels.items())))
    deadline = time.monotonic() + WAIT_S
    samples: dict = {}
    while time.monotonic() < deadline:
        samples = scrape(port)
        if samples.get(key) == expected:
            return samples
        time.sleep(0.5)
    raise AssertionError(f"{key}: wanted {expected}, got {samples.get(key)}")


def run_call(c: Client, rid: str, wf: str, k: int, more: bool) -> None:
    d = c.admit(rid, "agents", resources={"gpus": 1}, workflow=wf, call_index=k)
    assert d.verdict == "admit", d
    assert c.finish(rid, more_calls=more)


def test_program_calls_are_checked_and_counted_in_the_metrics(tmp_path):
    with in_process(make_config(tmp_path, metrics_port=0)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        run_call(c, "r0", "wf-1", 0, True)
        with pytest.raises(InvalidRequest) as e:
            c.admit("r-bad", "agents", resources={"gpus": 1}, workflow="wf-1", call_index=3)
        assert e.value.field == "program.call_index" and "expected call 1" in str(e.value)
        with pytest.raises(InvalidRequest) as e:
            c.admit("r-new", "agents", resources={"gpus": 1}, workflow="wf-2", call_index=1)
        assert e.value.field == "program.call_index"
        run_call(c, "r1", "wf-1", 1, True)
        run_call(c, "r2", "wf-1", 2, False)
        run_call(c, "s0", "wf-2", 0, True)
        port = server.daemon.engine.metrics.port
        samples = wait_sample(port, "gpuplane_programs_completed_total", {"tenant": "agents"}, 1.0)
        assert samples[("gpuplane_program_calls_total", (("tenant", "agents"),))] == 3.0
        assert samples[("gpuplane_programs_active", (("tenant", "agents"),))] == 1.0
        assert samples[("gpuplane_program_completion_seconds_count", (("tenant", "agents"),))] == 1.0
        bounds = [("le", "+Inf"), ("tenant", "agents")]
        assert samples[("gpuplane_program_completion_seconds_bucket", tuple(bounds))] == 1.0
        q50 = ("gpuplane_program_completion_quantile_seconds", (("quantile", "0.5"), ("tenant", "agents")))
        assert samples[q50] == gpuplane.PROGRAM_COMPLETION_BUCKETS_S[0]
        phases = {
            p: samples[("gpuplane_program_phase_seconds_total", (("phase", p), ("tenant", "agents")))]
            for p in ("waiting", "running", "tool")
        }
        total = samples[("gpuplane_program_completion_seconds_sum", (("tenant", "agents"),))]
        assert sum(phases.values()) == pytest.approx(total)


def test_a_program_in_flight_survives_a_restart(tmp_path):
    config = make_config(tmp_path)
    with in_process(config) as server, Client(server.target) as c:
        c.put_tenant("agents")
        run_call(c, "r0", "wf-1", 0, True)
    with in_process(config) as server, Client(server.target) as c:
        with pytest.raises(InvalidRequest):
            c.admit("r-bad", "agents", resources={"gpus": 1}, workflow="wf-1", call_index=0)
        run_call(c, "r1", "wf-1", 1, False)
        figures = server.daemon.engine.state.policy.engine.program_figures()
        assert [(f.tenant, f.completed, f.calls, f.active) for f in figures] == [("agents", 1, 2, 0)]


def test_a_rejected_call_aborts_its_program(tmp_path):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        run_call(c, "r0", "wf-1", 0, True)
        d = c.admit("r1", "agents", resources={"gpus": 10_000}, workflow="wf-1", call_index=1)
        assert d.verdict == "reject"
        [f] = server.daemon.engine.state.policy.engine.program_figures()
        assert (f.aborted, f.active, f.completed) == (1, 0, 0)
        run_call(c, "r2", "wf-1", 0, False)
