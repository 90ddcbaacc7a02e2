"""``gpuplane agent`` against a real in-process server on a loopback port, with the fake NVML:
registration, external usage, an Xid draining a GPU, and a server restart (reconnect)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import fake_pynvml as fake
import grpc
import pytest
from certs import CertificateAuthority
from gpuplane import cli
from gpuplane._proto.v1 import placement_pb2, placement_pb2_grpc, types_pb2
from gpuplane.agent import Agent, AgentConfig
from gpuplane.backoff import Backoff
from gpuplane.daemon import server
from gpuplane.daemon.config import ServeConfig
from gpuplane.telemetry.nvml import Nvml

MIB = 1024 * 1024
NODE = "gpu-host-7"
PLACED_PID, OTHER_PID = 4343, 4242
ADMIN = "admin-token-0123456789abcdef"


def a100(i: int) -> fake.FakeGpu:
    return fake.FakeGpu(
        uuid=f"GPU-a100-{i}",
        name="NVIDIA A100-SXM4-80GB",
        total=81920 * MIB,
        bus_id=f"00000000:{i + 1:02X}:00.0",
    )


@pytest.fixture
def gpus():
    """Two A100s: one runs a process gpuplane placed and one it did not."""
    host = [a100(0), a100(1)]
    host[0].processes = {PLACED_PID: 30_000 * MIB, OTHER_PID: 10_000 * MIB}
    fake.install(host)
    return host


def serve_config(tmp_path: Path, **kw) -> ServeConfig:
    return ServeConfig(
        listen="127.0.0.1:0",
        simulate="1x1xH100-80GB",
        use_nvml=False,
        state_dir=tmp_path / "state",
        shutdown_grace_s=0.5,
        **kw,
    )


def make_agent(port: int, host: str = "127.0.0.1", **kw) -> Agent:
    nvml = Nvml.open(fake, node=NODE)
    config = AgentConfig(f"{host}:{port}", interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2, **kw)
    return Agent(config, nvml, placed_pids=lambda pids: {PLACED_PID} & set(pids))


async def eventually(condition: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Waits until ``condition()`` holds; fails after ``limit_s`` (a liveness bound only)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


def gpu_stats(daemon: server.Daemon) -> dict[str, object]:
    return {g.id: g for g in daemon.engine.state.cluster.stats().gpus}


def test_agent_registers_reports_drains_and_reconnects(tmp_path, gpus):
    async def main() -> None:
        first = await server.start(serve_config(tmp_path))
        port = first.port
        agent = make_agent(port)
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        try:
            await eventually(lambda: NODE in first.engine.state.cluster.node_names(), "node registered")
            external = 512 + 10_000  # the driver's reservation and the process gpuplane did not place
            await eventually(
                lambda: gpu_stats(first)["GPU-a100-0"].memory_external_mib == external, "external usage"
            )
            assert gpu_stats(first)["GPU-a100-1"].memory_external_mib == 512

            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = placement_pb2_grpc.PlacementServiceStub(channel)
                w = types_pb2.Workload(id="job", memory_mib=20_000, gpu_count=2, allowed_models=["A100-80GB"])
                placed = await stub.Place(placement_pb2.PlaceRequest(workload=w))
            assert placed.placement.node == NODE

            fake.inject_event(1, fake.nvmlEventTypeXidCriticalError, 79)
            await eventually(lambda: not gpu_stats(first)["GPU-a100-1"].healthy, "GPU drained")
            assert "job" not in first.engine.state.cluster
            await eventually(lambda: "GPU-a100-1" in agent.stats.drained, "the ack named the drained GPU")

            await first.stop(grace=0.5)
            await eventually(lambda: agent.stats.failures >= 1, "the agent noticed the server left")

            second = await server.start(replace(serve_config(tmp_path), listen=f"127.0.0.1:{port}"))
            try:
                gpus[0].processes[5555] = 5_000 * MIB  # a new foreign process while it was down
                await eventually(
                    lambda: gpu_stats(second)["GPU-a100-0"].memory_external_mib == external + 5_000,
                    "the reconnected agent's report reached the new server",
                )
                assert agent.stats.sessions >= 2
                assert not gpu_stats(second)["GPU-a100-1"].healthy  # still drained after the restart
            finally:
                stop.set()
                await running
                await second.stop(grace=0.5)
        finally:
            stop.set()
            if not running.done():
                await running
            agent.nvml.close()

    asyncio.run(main())


def test_a_refused_token_stops_the_agent(tmp_path, gpus):
    async def main() -> None:
        daemon = await server.start(serve_config(tmp_path, admin_token=ADMIN))
        try:
            agent = make_agent(daemon.port, token="wrong-token-0123456789abcdef")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await agent.run()
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            agent.nvml.close()

            admitted = make_agent(daemon.port, token=ADMIN)
            stop = asyncio.Event()
            running = asyncio.create_task(admitted.run(stop))
            await eventually(lambda: NODE in daemon.engine.state.cluster.node_names(), "node registered")
            stop.set()
            await running
            admitted.nvml.close()
        finally:
            await daemon.stop(grace=0.5)

    asyncio.run(main())


def test_agent_streams_over_tls(tmp_path, gpus):
    ca = CertificateAuthority(tmp_path / "ca")
    cert = ca.issue("server", "localhost", server=True)

    async def main() -> None:
        daemon = await server.start(serve_config(tmp_path, tls_cert=cert.cert, tls_key=cert.key))
        agent = make_agent(daemon.port, host="localhost", tls_ca=ca.issued.cert)
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        try:
            await eventually(
                lambda: NODE in daemon.engine.state.cluster.node_names(), "node registered over TLS"
            )
        finally:
            stop.set()
            await running
            agent.nvml.close()
            await daemon.stop(grace=0.5)

    asyncio.run(main())


def test_backoff_grows_is_bounded_jittered_and_resets():
    backoff = Backoff(initial_s=0.5, max_s=8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(12)]
    ceilings = [min(8.0, 0.5 * 2**i) for i in range(12)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 8.0
    assert len(set(delays)) == len(delays)  # jittered: no two equal
    backoff.reset()
    assert backoff.next() <= 0.5
    with pytest.raises(ValueError):
        Backoff(initial_s=0, max_s=1)


def test_cli_agent_without_a_driver_says_so(capsys, monkeypatch):
    monkeypatch.setattr(Nvml, "open", classmethod(lambda cls, nvml=None, node=None: None))
    assert cli.main(["agent", "--server", "127.0.0.1:1"]) == 2
    assert "no NVIDIA driver" in capsys.readouterr().err


def test_reports_carry_inventory_first_and_external_usage(gpus):
    nvml = Nvml.open(fake, node=NODE)
    try:
        agent = Agent(AgentConfig("127.0.0.1:1"), nvml, placed_pids=lambda pids: {PLACED_PID} & set(pids))
        first = agent.report(nvml.sample(), with_inventory=True)
        assert [g.id for g in first.inventory.gpus] == ["GPU-a100-0", "GPU-a100-1"]
        assert {g.model for g in first.inventory.gpus} == {"A100-80GB"}
        assert first.gpus[0].memory_external_mib == 512 + 10_000
        assert sorted(first.gpus[0].process_pids) == [OTHER_PID, PLACED_PID]
        assert not agent.report(nvml.sample(), with_inventory=False).HasField("inventory")
    finally:
        nvml.close()


def test_local_agent_feeds_the_servers_own_host(tmp_path, gpus):
    from gpuplane.agent import LocalAgent
    from gpuplane.daemon.services.telemetry import TelemetryService

    async def main() -> None:
        daemon = await server.start(serve_config(tmp_path))
        nvml = Nvml.open(fake, node=NODE)
        service = TelemetryService(daemon.engine)
        local = LocalAgent(
            nvml, service.apply_report, interval_s=0.05, placed_pids=lambda pids: {PLACED_PID} & set(pids)
        )
        stop = asyncio.Event()
        running = asyncio.create_task(local.run(stop))
        try:
            await eventually(
                lambda: (
                    NODE in daemon.engine.state.cluster.node_names()
                    and gpu_stats(daemon)["GPU-a100-0"].memory_external_mib == 512 + 10_000
                ),
                "the server's own GPUs registered with their external usage",
            )
            fake.inject_event(0, fake.nvmlEventTypeDoubleBitEccError, 0)
            await eventually(lambda: not gpu_stats(daemon)["GPU-a100-0"].healthy, "GPU drained")
        finally:
            stop.set()
            await running
            nvml.close()
            await daemon.stop(grace=0.5)

    asyncio.run(main())
