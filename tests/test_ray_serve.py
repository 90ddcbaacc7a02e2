"""gpuplane.ray.Router in a real Ray Serve app on a local Ray cluster, fake (CPU) engines."""

from __future__ import annotations

import concurrent.futures

import gpuplane
import pytest
from gpuplane.errors import InvalidRequest
from gpuplane.ray import Request, RouterSettings, router_config
from gpuplane.ray.sim_deployment import SimulatedLLM
from gpuplane.ray.state import state_actor_name
from ray import serve
from ray_cluster import listeners, ray, ray_cluster, wait_until

APP = "sim"
REPLICAS = 3
# Long prompts, distinct from the first token: each has its own prefix blocks.
# Generous: a replica busy with a request on a starved CPU must not be taken for dead.
HEALTH_CHECK_TIMEOUT_S = 120
PROMPTS = [f"{chr(65 + i)} " + "shared system prompt " * 12 for i in range(6)]


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster([(4, 81_559)]) as c:
        yield c


@pytest.fixture(scope="module")
def app(cluster):
    # Handles only: no HTTP proxy, which a loaded machine can fail to start in time.
    serve.start(proxy_location="Disabled")
    deployment = serve.deployment(SimulatedLLM).options(
        num_replicas=REPLICAS,
        max_ongoing_requests=16,
        ray_actor_options={"num_cpus": 0},
        request_router_config=router_config(block_size=16, request_routing_stats_period_s=0.2),
        health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S,
    )
    handle = serve.run(deployment.bind(max_running=4), name=APP)
    yield handle
    serve.shutdown()


def state():
    return ray.get_actor(state_actor_name("", APP, "SimulatedLLM"), namespace="gpuplane")


def call(handle, prompt: str, tenant: str = "a") -> dict:
    return handle.remote(Request(prompt, tenant=tenant, max_tokens=4)).result(timeout_s=60)


def cached_on_state() -> dict[str, int]:
    return {r.id: r.cached_blocks for r in ray.get(state().replicas.remote())}


def wait_for_idle_reports() -> None:
    """Waits for two more reports, and for every replica to be reported idle with all the
    prompts' blocks cached."""
    blocks = sum(len(gpuplane.prompt_block_hashes(p, 16)) for p in PROMPTS)
    seen = ray.get(state().staleness.remote()).reports

    def settled() -> bool:
        rs = ray.get(state().replicas.remote())
        # No load at all: each replica's last report came after its last request (the prompt
        # blocks dispatched since a report count as load until the next one).
        idle = all(r.running == 0 and r.waiting == 0 and r.load_blocks == 0 for r in rs)
        fresh = ray.get(state().staleness.remote()).reports >= seen + 2 * REPLICAS
        return fresh and idle and sum(r.cached_blocks for r in rs) >= blocks

    wait_until(settled, what="fresh reports of idle replicas with every prompt's blocks")


def test_concurrent_requests_spread_then_each_prompt_returns_to_its_replica(app):
    with concurrent.futures.ThreadPoolExecutor(len(PROMPTS)) as pool:
        first = list(pool.map(lambda p: call(app, p)["replica"], PROMPTS))
    # In flight is counted fleet-wide in the shared state, so six at once do not pile up.
    assert len(set(first)) == REPLICAS, first
    wait_until(
        lambda: sum(cached_on_state().values()) > 0 and len(cached_on_state()) == REPLICAS, what="reports"
    )
    # Each request of the second round sees reports taken after the previous one ended, so
    # that locality is tested on idle replicas: a report taken while a request still runs
    # rightly counts its blocks as load, and the cost model may then send a prompt elsewhere.
    again = []
    for p in PROMPTS:
        wait_for_idle_reports()
        again.append(call(app, p))
    why = [d.choice.reason for d in ray.get(state().recent_decisions.remote())[-len(PROMPTS) :]]
    assert [r["replica"] for r in again] == first, (why, ray.get(state().replicas.remote()))
    assert all(r["cached_tokens"] > 0 for r in again)


def test_routing_follows_the_core_choice(app):
    # Each request is served by the replica the core chose for it: the state's own record of
    # the decision, made with the reports as they were at that moment (a snapshot asked for
    # before the call can differ: reports and completions arrive between the two).
    s = state()
    for i, prompt in enumerate(PROMPTS * 2):
        tenant = f"t{i % 2}"
        got = call(app, prompt, tenant=tenant)
        last = ray.get(s.recent_decisions.remote())[-1]
        assert (last.tenant, last.prompt_blocks) == (tenant, len(gpuplane.prompt_block_hashes(prompt, 16)))
        assert got["replica"] == last.choice.replica_id, (i, last.choice.reason)
    # Serve tells the router each request completed: none stays counted in flight.
    wait_until(
        lambda: all(r.in_flight == 0 for r in ray.get(s.replicas.remote())),
        what="every completed request off its replica's in-flight count",
    )


def test_tenant_travels_with_the_request_into_replica_reports(app):
    call(app, "tenant check " * 20, tenant="blue")
    wait_until(
        lambda: any("blue" in r.tenant_service for r in ray.get(state().replicas.remote())),
        what="tenant blue in a replica report",
    )


def test_requests_for_a_lora_adapter_go_where_serve_reports_it_loaded(app):
    lora = app.options(multiplexed_model_id="lora-x")
    home = lora.remote(Request("x", max_tokens=2)).result(timeout_s=60)["replica"]
    wait_until(
        lambda: any("lora-x" in r.adapters for r in ray.get(state().replicas.remote())),
        what="Serve's multiplexed model ids reaching the state",
    )
    served = {lora.remote(Request("x", max_tokens=2)).result(timeout_s=60)["replica"] for _ in range(4)}
    assert served == {home}


def test_a_dead_replica_is_routed_around(app, tmp_path):
    note = tmp_path / "victim"
    with pytest.raises(ray.exceptions.RayActorError):  # the replica it reaches exits
        app.options(method_name="crash").remote(str(note)).result(timeout_s=30)
    victim = note.read_text()
    # Six more requests with no prompt blocks, like crash(): each is served, none by the dead
    # replica (Serve starts a new one, with a new id), and the shared state drops it.
    served = [call(app, "x")["replica"] for _ in range(6)]
    assert victim not in served
    wait_until(lambda: victim not in cached_on_state(), what="the dead replica leaving the state")


def test_the_cluster_listens_on_loopback_only_but_for_serves_replica_grpc(cluster, app):
    call(app, "loopback")  # a replica and the router's state actor are up
    found = listeners(cluster)
    assert {x.process for x in found if x.process.startswith("gcs_server")}, found
    # Ray Serve's replica starts its inter-deployment gRPC server on "[::]:0", hard-coded in
    # ray/serve/_private/replica.py (Ray 2.60): the one socket not on loopback.
    outside = [x for x in found if not x.loopback]
    assert all(x.process == "ray::ServeRepli" and x.address in ("*", "[::]") for x in outside), outside
    assert any(x.loopback and x.process == "raylet" for x in found), found


def test_bad_router_settings_name_the_field():
    with pytest.raises(InvalidRequest, match="block_size"):
        router_config(block_size=0)
    with pytest.raises(InvalidRequest, match="colour"):
        router_config(colour="blue")
    with pytest.raises(InvalidRequest, match="state"):
        RouterSettings.parse({"state": "global"})
