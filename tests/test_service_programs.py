"""Agent programs through the service: Admit marks a call of a program (workflow id, call
index), Finish says whether more calls follow; the core's ledger checks the order of calls and
its figures reach the Prometheus endpoint; programs in flight survive a restart."""

from __future__ import annotations

import time
import urllib.request

import gpuplane
import pytest
from daemon_harness import in_process, make_config
from gpuplane import Client, program_key
from gpuplane.client_values import Quota
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


def routed_call(c: Client, tenant: str, rid: str, k: int) -> tuple[str, str]:
    """Admits call ``k`` of program ``task-42`` and routes it with the same id; its reason."""
    d = c.admit(rid, tenant, resources={"gpus": 1}, workflow="task-42", call_index=k)
    assert d.verdict == "admit", d
    route = c.route(tenant, model="llama", prompt_tokens=512, request_id=rid, workflow="task-42")
    assert c.finish_route(rid) == route.replica_id
    return route.replica_id, route.reason


def test_one_program_id_keeps_its_calls_on_a_replica_until_its_last_finish(tmp_path):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        c.register_replica("r1", model="llama", max_running=8)
        c.register_replica("r2", model="llama", max_running=8)
        router = server.daemon.engine.router
        home, _ = routed_call(c, "agents", "call-0", 0)
        c.finish("call-0", more_calls=True)
        assert router.known_programs() == 1
        # call-0's 32 blocks count as load at home until it reports: only the program's
        # workflow term brings call 1 back there.
        again, reason = routed_call(c, "agents", "call-1", 1)
        assert again == home and "workflow +32.000" in reason
        c.finish("call-1", more_calls=False)
        assert router.known_programs() == 0
        assert router.core.program_replica(program_key("agents", "task-42")) is None
        # The id starts a new program: nothing draws it home against 64 blocks of load.
        fresh, reason = routed_call(c, "agents", "call-2", 0)
        assert fresh != home and "workflow" not in reason


def test_the_router_program_count_reaches_the_metrics(tmp_path):
    with in_process(make_config(tmp_path, metrics_port=0)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        c.register_replica("r1", model="llama", max_running=8)
        port = server.daemon.engine.metrics.port
        routed_call(c, "agents", "call-0", 0)
        c.finish("call-0", more_calls=True)
        wait_sample(port, "gpuplane_router_programs", {}, 1.0)
        routed_call(c, "agents", "call-1", 1)
        c.finish("call-1", more_calls=False)
        wait_sample(port, "gpuplane_router_programs", {}, 0.0)


def test_a_cancelled_call_ends_its_program_in_the_router(tmp_path):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.put_tenant("agents", quota=Quota(deserved={"gpus": 1}, limit={"gpus": 1}))
        c.register_replica("r1", model="llama", max_running=8)
        routed_call(c, "agents", "call-0", 0)
        c.finish("call-0", more_calls=True)
        assert c.admit("hog", "agents", resources={"gpus": 1}).verdict == "admit"
        d = c.admit("call-1", "agents", resources={"gpus": 1}, workflow="task-42", call_index=1)
        assert d.verdict == "queue", d
        assert server.daemon.engine.router.known_programs() == 1
        assert not c.finish("call-1", more_calls=True)
        assert server.daemon.engine.router.known_programs() == 0


def test_a_rejected_call_ends_its_program_in_the_router(tmp_path):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        c.register_replica("r1", model="llama", max_running=8)
        routed_call(c, "agents", "call-0", 0)
        c.finish("call-0", more_calls=True)
        assert server.daemon.engine.router.known_programs() == 1
        d = c.admit("call-1", "agents", resources={"gpus": 10_000}, workflow="task-42", call_index=1)
        assert d.verdict == "reject"
        assert server.daemon.engine.router.known_programs() == 0


def test_program_ids_are_scoped_by_tenant_in_the_router(tmp_path):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.register_replica("r1", model="llama", max_running=8)
        c.register_replica("r2", model="llama", max_running=8)
        home = c.route("a", model="llama", prompt_tokens=512, workflow="task-42").replica_id
        theirs = c.route("b", model="llama", prompt_tokens=512, workflow="task-42")
        assert theirs.replica_id != home and "workflow" not in theirs.reason
        assert server.daemon.engine.router.known_programs() == 2


@pytest.mark.parametrize(
    ("workflow", "why"),
    [("", "is required"), ("w" * 254, "254 bytes"), ("a\nb", "control"), ("a\u202eb", "invisible")],
)
def test_bad_program_ids_are_refused_naming_the_field(tmp_path, workflow, why):
    with in_process(make_config(tmp_path)) as server, Client(server.target) as c:
        c.put_tenant("agents")
        c.register_replica("r1", model="llama", max_running=8)
        with pytest.raises(InvalidRequest, match=why) as e:
            c.route("agents", model="llama", workflow=workflow)
        assert e.value.field == "workflow_id"
        with pytest.raises(InvalidRequest, match=why) as e:
            c.admit("r0", "agents", resources={"gpus": 1}, workflow=workflow, call_index=0)
        assert e.value.field == "program.workflow_id"
        assert server.daemon.engine.router.known_programs() == 0
