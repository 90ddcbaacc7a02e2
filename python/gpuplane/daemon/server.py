"""``gpuplane serve``: builds the ``grpc.aio`` server around an :class:`Engine` and runs it
until SIGTERM/SIGINT, then shuts down gracefully.

Start-up: recover the journal, add the inventory (NVML, file or simulation; one log line names
the source), start the journal writer, bind. Shutdown: refuse new calls (UNAVAILABLE), report
NOT_SERVING, stop accepting connections, let the calls that started finish (up to
``shutdown_grace_s``), cancel the calls no handler took (CANCELLED), then write a final snapshot
and close the journal.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gpuplane._proto.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    admission_pb2,
    admission_pb2_grpc,
    placement_pb2,
    placement_pb2_grpc,
    telemetry_pb2,
    telemetry_pb2_grpc,
)
from gpuplane.daemon.calls import Calls
from gpuplane.daemon.config import DEFAULT_SIMULATE, ServeConfig
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.hooks import AuthPolicy, MetricsSink, NullMetrics
from gpuplane.daemon.inventory import resolve
from gpuplane.daemon.services.admin import AdminService
from gpuplane.daemon.services.admission import AdmissionService
from gpuplane.daemon.services.placement import PlacementService
from gpuplane.daemon.services.telemetry import TelemetryService
from gpuplane.daemon.status import DecodeGuard, map_errors
from gpuplane.daemon.web import start_web
from gpuplane.daemon.web.http import HttpServer

log = logging.getLogger("gpuplane.daemon")

SERVICE_NAMES = (
    placement_pb2.DESCRIPTOR.services_by_name["PlacementService"].full_name,
    admission_pb2.DESCRIPTOR.services_by_name["AdmissionService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"].full_name,
)
STATE_PUSH_S = 5.0


def optional_module(name: str) -> ModuleType | None:
    """``gpuplane.daemon.<name>`` if it is installed (auth and metrics are optional parts)."""
    try:
        return importlib.import_module(f"gpuplane.daemon.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"gpuplane.daemon.{name}":
            raise
        return None


def make_metrics(config: ServeConfig) -> MetricsSink:
    """``metrics.Metrics(config)`` when a metrics port is set and the module exists."""
    module = optional_module("metrics")
    if module is None or config.metrics_port is None:
        return NullMetrics()
    return module.Metrics(config)


@dataclass(frozen=True)
class Security:
    """What ``auth.py`` contributes: interceptors, TLS credentials and the handlers' policy."""

    interceptors: list[Any]
    credentials: grpc.ServerCredentials | None
    policy: AuthPolicy | None


def security(config: ServeConfig) -> Security:
    """Security from ``auth.py`` (which refuses unsafe binds); without it, loopback only."""
    auth = optional_module("auth")
    if auth is None:
        if not config.loopback and not config.insecure:
            raise ValueError(f"refusing to listen on {config.listen} without TLS and tokens; use --insecure")
        return Security([], None, None)
    auth.check_startup(config)
    policy = auth.policy(config) if hasattr(auth, "policy") else None
    return Security(list(auth.interceptors(config)), auth.server_credentials(config), policy)


@dataclass
class Daemon:
    """A running server: the grpc server, its engine, health servicer and bound port."""

    server: grpc.aio.Server
    engine: Engine
    health: health.aio.HealthServicer
    port: int
    calls: Calls
    _pusher: asyncio.Task[None] | None = None
    _local_agent: LocalTelemetry | None = None
    web: HttpServer | None = None

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: refuse new calls, NOT_SERVING, answer the calls that started (up to
        ``grace`` seconds), cancel the rest, flush the journal. See :mod:`calls` for why."""
        grace = self.engine.config.shutdown_grace_s if grace is None else grace
        until = asyncio.get_running_loop().time() + grace
        self.calls.close()
        await self.health.enter_graceful_shutdown()
        if self.web is not None:
            await self.web.stop()
        closing = asyncio.create_task(self.server.stop(grace))  # no new connections; GOAWAY
        if not await self.calls.drained(until):
            log.warning("%d call(s) outlived the %.1fs grace: cancelled", self.calls.running, grace)
        self.engine.bus.close()  # watch streams end
        await self.server.stop(None)  # cancels the streams and the calls no handler took
        await closing
        if self._pusher is not None:
            self._pusher.cancel()
        if self._local_agent is not None:
            await self._local_agent.stop()
        self.engine.close()
        self.engine.metrics.stop()
        await leftover_tasks_ended()

    async def push_state(self) -> None:
        """Hands a fresh view of the state to the metrics sink every few seconds."""
        while True:
            state = self.engine.state
            replicas = list(self.engine.router.replicas.values())
            tenants = state.tenant_figures(time.time())
            programs = state.policy.engine.program_figures()
            known = self.engine.router.known_programs()
            self.engine.metrics.on_state(state.cluster.stats(), tenants, replicas, programs, known)
            await asyncio.sleep(STATE_PUSH_S)


async def leftover_tasks_ended(timeout_s: float = 1.0) -> None:
    """Lets the tasks grpc left for the cancelled calls end before the loop does: at exit the loop
    would cancel them, and grpc logs each such cancellation as an unhandled error."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=timeout_s)


def add_services(server: grpc.aio.Server, engine: Engine, calls: Calls) -> health.aio.HealthServicer:
    """Registers the gpuplane.v1 services (their calls counted by ``calls``), health and
    reflection; returns the health servicer."""
    placement = map_errors(PlacementService(engine), calls)
    placement_pb2_grpc.add_PlacementServiceServicer_to_server(placement, server)
    admission = map_errors(AdmissionService(engine, engine.router), calls)
    admission_pb2_grpc.add_AdmissionServiceServicer_to_server(admission, server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(map_errors(AdminService(engine), calls), server)
    telemetry = map_errors(TelemetryService(engine), calls)
    telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server(telemetry, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return health_servicer


def server_options(config: ServeConfig) -> list[tuple[str, Any]]:
    """Channel options: message size limits and keepalive."""
    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", 4 * config.max_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_time_ms", 60_000),
    ]


@dataclass
class LocalTelemetry:
    """NVML samples and Xid events of the server's own host, applied like a remote agent's."""

    task: asyncio.Task[None]
    stopping: asyncio.Event
    nvml: Any

    @classmethod
    def start(cls, engine: Engine) -> LocalTelemetry | None:
        """Starts feeding the engine; None if the driver went away since discovery."""
        from gpuplane.agent import LocalAgent
        from gpuplane.telemetry.nvml import Nvml

        nvml = Nvml.open()
        if nvml is None:
            log.warning("NVML no longer answers: the local GPUs will not be refreshed")
            return None
        stopping = asyncio.Event()
        agent = LocalAgent(nvml, TelemetryService(engine).apply_report)
        return cls(asyncio.create_task(agent.run(stopping)), stopping, nvml)

    async def stop(self) -> None:
        """Stops sampling and closes NVML."""
        self.stopping.set()
        await self.task
        self.nvml.close()


async def start(config: ServeConfig) -> Daemon:
    """Recovers state, adds the inventory, binds and starts serving; returns the daemon."""
    sec = security(config)
    creds = sec.credentials
    metrics = make_metrics(config)
    engine = Engine(config, metrics, sec.policy)
    engine.recover()
    source = resolve(config.inventory, config.simulate, config.use_nvml, DEFAULT_SIMULATE)
    engine.add_inventory(source)
    engine.start(asyncio.get_running_loop())
    interceptors = [*sec.interceptors, DecodeGuard()]  # decoding after authentication
    server = grpc.aio.server(interceptors=interceptors, options=server_options(config))
    calls = Calls()
    health_servicer = add_services(server, engine, calls)
    port = server.add_secure_port(config.listen, creds) if creds else server.add_insecure_port(config.listen)
    await server.start()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    metrics.start()
    daemon = Daemon(server, engine, health_servicer, port, calls)
    if not isinstance(metrics, NullMetrics):
        daemon._pusher = asyncio.create_task(daemon.push_state())
    daemon.web = await start_web(config, engine)
    if source.kind == "nvml":
        daemon._local_agent = LocalTelemetry.start(engine)
    log.info("gpuplane serving on %s (port %d, %s)", config.listen, port, "TLS" if creds else "plain text")
    return daemon


async def serve(config: ServeConfig) -> None:
    """Runs until SIGTERM or SIGINT, then stops gracefully."""
    daemon = await start(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    print(f"gpuplane: listening on {config.listen.rsplit(':', 1)[0]}:{daemon.port}", flush=True)
    await stopping.wait()
    log.info("signal received: draining in-flight calls (grace %.1fs)", config.shutdown_grace_s)
    await daemon.stop()
    log.info("gpuplane stopped")
