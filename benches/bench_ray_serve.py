"""Ray Serve routing: gpuplane.ray.Router beside Ray's own routers, in the same run.

A Serve app of N fake-engine replicas (``gpuplane.ray.sim_deployment.SimulatedLLM``: the core
``BatchScheduler`` with a 16-token-block prefix cache, fair policy, steps slept by a linear
model: 4 ms + 20 us per token) replays the head of the Azure LLM 2023 conversation trace,
rescaled to ``--rate`` requests/s, with 4 tenants split 50/25/15/10 by the traces module's
row rule. Prompts are text (one byte one token, so Ray's PrefixCacheAffinityRouter reads them
too; it runs here without a GPU, imported from its defining module since ``ray.serve.llm``
needs vLLM or SGLang): the tenant's 512-byte system prompt, then bytes unique to the request,
ContextTokens long (capped at ``--max-prompt``); GeneratedTokens capped at ``--max-output``.

Each router first serves one 1-token request (timed: it starts the router, and the shared
state's actor), then 20 more unmeasured, so that the replay measures routing, not start-up.
Per router: prefix hit rate (prompt tokens found cached / prompt tokens), client-side TTFT
p50/p99 (send to first token), per-tenant mean TTFT and its max/min spread. Then the routing
overhead: the core call in-process, through the shared state actor, and the end-to-end latency
of a 1-token request per router; and the staleness of the replica reports the state received.
Ray binds loopback only; Serve runs without its HTTP proxy (the replay uses handles).

Usage: python benches/bench_ray_serve.py [--replicas 4] [--requests 300] [--rate 30]
[--routers "gpuplane,Ray PowerOfTwoChoices"]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

import gpuplane
import numpy as np
import ray
from gpuplane.ray import Request, router_config
from gpuplane.ray.sim_deployment import SimulatedLLM
from gpuplane.ray.state import ReplicaView, RoutingState, state_actor_name
from gpuplane.traces.azure import read_azure
from gpuplane.traces.llm import TenantShare, assign_tenants
from ray import serve
from ray.serve.config import RequestRouterConfig

TRACE = Path("/work/shared/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv")
TENANTS = [TenantShare("a", 50), TenantShare("b", 25), TenantShare("c", 15), TenantShare("d", 10)]
SYSTEM_BYTES = 512
PERIOD_S = 0.5
PREFIX_AFFINITY = (
    "ray.llm._internal.serve.routing_policies.prefix_aware.prefix_aware_router:PrefixCacheAffinityRouter"
)


def routers() -> dict[str, RequestRouterConfig]:
    return {
        "gpuplane (shared state)": router_config(block_size=16, request_routing_stats_period_s=PERIOD_S),
        "gpuplane (local state)": router_config(
            block_size=16, state="local", request_routing_stats_period_s=PERIOD_S
        ),
        "Ray PowerOfTwoChoices": RequestRouterConfig(request_routing_stats_period_s=PERIOD_S),
        "Ray PrefixCacheAffinityRouter": RequestRouterConfig(
            # ray.serve.llm.request_router's PrefixCacheAffinityRouter is an empty subclass of
            # this class; importing ray.serve.llm needs vLLM or SGLang, this module does not.
            request_router_class=PREFIX_AFFINITY,
            request_routing_stats_period_s=PERIOD_S,
        ),
    }


def words(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(n))


def workload(n: int, rate: float, max_prompt: int, max_output: int) -> list[tuple[float, Request]]:
    trace = assign_tenants(read_azure(TRACE).head(n), TENANTS)
    trace = trace.scaled(rate * max(trace.arrival[-1], 1e-9) / len(trace))
    rng = random.Random(0)
    system = {t.name: f"[{t.name}] " + words(random.Random(t.name), SYSTEM_BYTES - 4) for t in TENANTS}
    out = []
    for i in range(len(trace)):
        tenant = trace.tenant_names[int(trace.tenant[i])]
        size = max(SYSTEM_BYTES + 16, min(int(trace.prompt[i]), max_prompt))
        prompt = system[tenant] + words(rng, size - SYSTEM_BYTES)
        out.append(
            (float(trace.arrival[i]), Request(prompt, tenant, max(1, min(int(trace.output[i]), max_output))))
        )
    return out


async def replay(handle, requests: list[tuple[float, Request]]) -> list[dict]:
    start = time.monotonic()

    async def one(at: float, req: Request) -> dict:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        sent = time.monotonic()
        r = await handle.remote(req)
        r["client_ttft_s"] = time.monotonic() - sent - (r["e2e_s"] - r["ttft_s"])
        return r

    return await asyncio.gather(*(one(at, req) for at, req in requests))


def summarize(results: list[dict]) -> dict:
    ttft = np.array([r["client_ttft_s"] for r in results])
    by_tenant = {}
    for t in TENANTS:
        mine = [r["client_ttft_s"] for r in results if r["tenant"] == t.name]
        by_tenant[t.name] = float(np.mean(mine)) if mine else float("nan")
    means = [v for v in by_tenant.values() if v == v]
    return {
        "prefix_hit_rate": sum(r["cached_tokens"] for r in results)
        / sum(r["prompt_tokens"] for r in results),
        "ttft_p50_ms": 1000 * float(np.percentile(ttft, 50)),
        "ttft_p99_ms": 1000 * float(np.percentile(ttft, 99)),
        "tenant_mean_ttft_ms": {k: round(1000 * v, 1) for k, v in by_tenant.items()},
        "tenant_ttft_spread": max(means) / min(means),
        "replicas_used": len({r["replica"] for r in results}),
    }


def deploy(name: str, config: RequestRouterConfig, replicas: int):
    d = serve.deployment(SimulatedLLM, name="llm").options(
        num_replicas=replicas,
        max_ongoing_requests=64,
        ray_actor_options={"num_cpus": 0},
        request_router_config=config,
    )
    return serve.run(d.bind(max_running=8, kv_blocks=384, block_size=16), name=name, route_prefix=None)


async def tiny_latency(handle, n: int, warm: bool = True) -> float:
    """Mean latency of ``n`` sequential 1-token requests (after one unmeasured, when ``warm``)."""
    req = Request("x" * 40, "a", 1)
    if warm:
        await handle.remote(req)
    start = time.perf_counter()
    for _ in range(n):
        await handle.remote(req)
    return (time.perf_counter() - start) / n


def core_call_us(replicas: int, n: int = 2000) -> float:
    st = RoutingState(16)
    views = [ReplicaView(f"r{i}", 8) for i in range(replicas)]
    st.route(views, "a", "", [])
    views = [ReplicaView(v.id, 8) for v in views]
    hashes = gpuplane.prompt_block_hashes("y" * 1024, 16)
    start = time.perf_counter()
    for i in range(n):  # one request's routing: its decision, then its completion
        st.route(views, "a", "", hashes, f"q{i}", 1024)
        st.done(f"q{i}")
    return 1e6 * (time.perf_counter() - start) / n


def actor_call_ms(app: str, replicas: int, n: int = 300) -> float:
    actor = ray.get_actor(state_actor_name("", app, "llm"), namespace="gpuplane")
    members = ray.get(actor.replicas.remote())
    views = [ReplicaView(r.id, 8) for r in members][:replicas]
    hashes = gpuplane.prompt_block_hashes("y" * 1024, 16)
    ray.get(actor.choose.remote("a", "", hashes))
    start = time.perf_counter()
    for _ in range(n):
        ray.get(actor.choose.remote("a", "", hashes))
    assert views
    return 1000 * (time.perf_counter() - start) / n


def start_ray(attempts: int = 3) -> None:
    """A local Ray instance on loopback (started with this node address, every process binds
    127.0.0.1); Ray gives its raylet 30 s to register, which a loaded machine can miss."""
    for attempt in range(attempts):
        try:
            ray.init(
                address="local",  # a new instance: not the machine's latest (another session's)
                num_cpus=8,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
            )
            return
        except Exception as e:  # Ray raises a bare Exception for the startup timeout
            ray.shutdown()
            if "timed out during startup" not in str(e) or attempt == attempts - 1:
                raise


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--max-prompt", type=int, default=1536)
    ap.add_argument("--max-output", type=int, default=48)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--routers", default="", help="comma-separated label prefixes (default: all)")
    args = ap.parse_args()
    start_ray()
    serve.start(proxy_location="Disabled")  # handles only
    reqs = workload(args.requests, args.rate, args.max_prompt, args.max_output)
    report: dict = {"routers": {}, "overhead": {}}
    wanted = [w for w in args.routers.split(",") if w]
    for i, (label, config) in enumerate(routers().items()):
        if wanted and not any(label.startswith(w) for w in wanted):
            continue
        app = f"bench{i}"
        handle = deploy(app, config, args.replicas)
        first_ms = 1000 * asyncio.run(tiny_latency(handle, 1, warm=False))
        asyncio.run(tiny_latency(handle, 20))  # warm: every router instance and actor started
        results = asyncio.run(replay(handle, reqs))
        row = summarize(results)
        row["first_request_ms"] = first_ms
        row["tiny_request_ms"] = 1000 * asyncio.run(tiny_latency(handle, 200))
        if label.startswith("gpuplane (shared"):
            actor = ray.get_actor(state_actor_name("", app, "llm"), namespace="gpuplane")
            row["report_staleness"] = ray.get(actor.staleness.remote()).__dict__
            report["overhead"]["state_actor_call_ms"] = actor_call_ms(app, args.replicas)
        report["routers"][label] = row
        print(label, json.dumps(row), flush=True)
        serve.delete(app)
    report["overhead"]["core_route_in_process_us"] = {n: core_call_us(n) for n in (4, 16, 64)}
    print(json.dumps(report["overhead"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
