"""``gpuplane agent``: runs on each GPU host and streams its NVML state to a central
``gpuplane serve`` (``TelemetryService.StreamNodeState``).

The agent discovers its GPUs once, then sends a report every ``interval_s`` (and at once after
a critical health event): per GPU the memory, utilization, the PIDs running and the external
usage, i.e. the memory of processes gpuplane did not place (see ``telemetry.pids``). The first
report of every stream carries the inventory, so a server that restarted (or never saw the
node) registers it. A GPU hit by a critical Xid stays reported unhealthy for the agent's life:
bringing it back is an admin's call. After a failure the agent reconnects with bounded,
jittered exponential backoff; a refused token stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from gpuplane._proto.v1 import telemetry_pb2 as tp
from gpuplane._proto.v1 import telemetry_pb2_grpc, types_pb2
from gpuplane.backoff import Backoff
from gpuplane.errors import GpuplaneError
from gpuplane.telemetry.nvml import Nvml
from gpuplane.telemetry.pids import PidFilter, placed_by_environ
from gpuplane.telemetry.types import GpuSample, HealthEvent, HostInventory, HostSample

log = logging.getLogger("gpuplane.agent")

FATAL_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
EVENT_POLL_MS = 500


@dataclass(frozen=True)
class AgentConfig:
    """Options of ``gpuplane agent``."""

    server: str
    interval_s: float = 5.0
    token: str | None = None
    tls_ca: Path | None = None
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass
class AgentStats:
    """What the agent has done so far (for logs and tests)."""

    sessions: int = 0
    failures: int = 0
    acks: int = 0
    last_ack: tp.NodeStateAck | None = None
    drained: list[str] = field(default_factory=list)


def node_message(inventory: HostInventory) -> types_pb2.Node:
    """The ``Node`` message of this host's inventory."""
    gpus = [
        types_pb2.GpuSpec(
            id=g.id, model=g.model, memory_mib=g.memory_mib, topology_group=g.topology_group or ""
        )
        for g in inventory.gpus
    ]
    return types_pb2.Node(name=inventory.node, gpus=gpus)


def gpu_state(gpu: GpuSample, placed: Collection[int], xids: list[int] | None) -> tp.GpuState:
    """One GPU's report; ``xids`` (critical Xids seen) makes it unhealthy."""
    return tp.GpuState(
        gpu_id=gpu.gpu_id,
        memory_total_mib=gpu.memory_total_mib,
        memory_used_mib=gpu.memory_used_mib,
        memory_external_mib=gpu.external_mib(placed),
        utilization_percent=gpu.utilization_gpu or 0,
        healthy=gpu.healthy and xids is None,
        xid_events=xids or [],
        process_pids=[p.pid for p in gpu.processes],
    )


async def stream_ended(call: Any) -> Exception:
    """The error of a stream that ended: the RPC error for a refusal, else ``ConnectionError``."""
    code, details = await call.code(), await call.details()
    if code in FATAL_CODES:
        return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)
    return ConnectionError(f"the stream ended ({code.name}: {details})")


class Agent:
    """Streams one host's NVML state to a server; see the module docs."""

    def __init__(self, config: AgentConfig, nvml: Nvml, placed_pids: PidFilter = placed_by_environ):
        self.config = config
        self.nvml = nvml
        self.placed_pids = placed_pids
        self.inventory = nvml.discover()
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.stats = AgentStats()
        self.failed: dict[str, list[int]] = {}  # GPU id -> critical Xids seen (0: unspecified)
        self._wake = asyncio.Event()

    # ---- reports ------------------------------------------------------------------------------

    def report(self, sample: HostSample, with_inventory: bool) -> tp.NodeStateReport:
        """The report of one sample (with the inventory on a stream's first report)."""
        placed = self.placed_pids(sample.pids())
        gpus = [gpu_state(g, placed, self.failed.get(g.gpu_id)) for g in sample.gpus]
        message = tp.NodeStateReport(node=self.inventory.node, gpus=gpus, timestamp=time.time())
        if with_inventory:
            message.inventory.CopyFrom(node_message(self.inventory))
        return message

    def on_event(self, event: HealthEvent) -> None:
        """Records a critical event (on the event loop) and wakes the sender."""
        if not event.critical:
            log.info("GPU %s: %s (not critical)", event.gpu_id, event.description)
            return
        targets = [event.gpu_id] if event.gpu_id else [g.id for g in self.inventory.gpus]
        for gpu_id in targets:
            self.failed.setdefault(gpu_id, []).append(event.xid or 0)
        log.warning("GPU %s: %s: reporting it unhealthy", event.gpu_id or "(all)", event.description)
        self._wake.set()

    # ---- the stream -----------------------------------------------------------------------------

    def channel(self) -> grpc.aio.Channel:
        """A channel to the server: TLS when a CA is given, else plain text."""
        if self.config.tls_ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=Path(self.config.tls_ca).read_bytes())
            return grpc.aio.secure_channel(self.config.server, creds)
        return grpc.aio.insecure_channel(self.config.server)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The bearer token, if any."""
        return (("authorization", f"Bearer {self.config.token}"),) if self.config.token else ()

    async def session(self, stop: asyncio.Event) -> None:
        """One stream: reports until ``stop`` is set; raises when the stream breaks."""
        async with self.channel() as channel:
            call = telemetry_pb2_grpc.TelemetryServiceStub(channel).StreamNodeState(metadata=self.metadata())
            self.stats.sessions += 1
            first = True
            try:
                while not stop.is_set():
                    self._wake.clear()  # an event from now on wakes the next pause
                    sample = await asyncio.to_thread(self.nvml.sample)
                    await call.write(self.report(sample, with_inventory=first))
                    self.on_ack(await call.read())
                    first = False
                    await self.pause(stop)
                await call.done_writing()
            except asyncio.InvalidStateError:  # the call ended between two reports
                raise await stream_ended(call) from None

    def on_ack(self, ack: Any) -> None:
        """Checks one ack; a healthy exchange resets the backoff."""
        if ack is grpc.aio.EOF:
            raise ConnectionError("the server ended the stream")
        self.backoff.reset()
        self.stats.acks += 1
        self.stats.last_ack = ack
        self.stats.drained += list(ack.drained_gpus)
        if ack.error:
            log.warning("server refused a report: %s", ack.error)
        if ack.displaced:
            log.warning("drained GPUs %s displaced %s", list(ack.drained_gpus), list(ack.displaced))

    async def pause(self, stop: asyncio.Event) -> None:
        """Waits for the next report: the interval, a critical event or ``stop``."""
        stopping = asyncio.ensure_future(stop.wait())
        waking = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {stopping, waking}, timeout=self.config.interval_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
            waking.cancel()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Streams until ``stop`` is set, reconnecting after failures; raises on a refused token
        (UNAUTHENTICATED / PERMISSION_DENIED). ``stop`` is set when it returns."""
        stop = stop or asyncio.Event()
        watcher = self.watch_events(asyncio.get_running_loop(), stop)
        try:
            while not stop.is_set():
                try:
                    await self.session(stop)
                except grpc.aio.AioRpcError as e:
                    if e.code() in FATAL_CODES:
                        raise
                    await self.retry_later(stop, f"{e.code().name}: {e.details()}")
                except (ConnectionError, OSError) as e:
                    await self.retry_later(stop, str(e))
        finally:
            stop.set()
            await asyncio.to_thread(watcher.join)

    async def retry_later(self, stop: asyncio.Event, why: str) -> None:
        """Waits the backoff delay (or until ``stop``) after a failure."""
        self.stats.failures += 1
        delay = self.backoff.next()
        log.warning("connection to %s failed (%s); retrying in %.1fs", self.config.server, why, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)

    def watch_events(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> threading.Thread:
        """A thread that waits for NVML health events and hands them to ``on_event``."""

        def watch() -> None:
            while not stop.is_set():
                event = self.nvml.wait_event(EVENT_POLL_MS)
                if event is not None:
                    loop.call_soon_threadsafe(self.on_event, event)

        thread = threading.Thread(target=watch, name="gpuplane-nvml-events", daemon=True)
        thread.start()
        return thread


class LocalAgent(Agent):
    """The agent of the server's own host: the same reports, handed to ``apply`` (for example
    the telemetry service's report handler) instead of a network stream. A refused report is
    logged and the next one is sent as usual."""

    def __init__(
        self,
        nvml: Nvml,
        apply: Callable[[tp.NodeStateReport], Awaitable[tp.NodeStateAck]],
        interval_s: float = 5.0,
        placed_pids: PidFilter = placed_by_environ,
    ):
        super().__init__(AgentConfig("local", interval_s), nvml, placed_pids)
        self.apply = apply

    async def session(self, stop: asyncio.Event) -> None:
        """Reports until ``stop`` is set."""
        self.stats.sessions += 1
        first = True
        while not stop.is_set():
            self._wake.clear()  # an event from now on wakes the next pause
            sample = await asyncio.to_thread(self.nvml.sample)
            try:
                self.on_ack(await self.apply(self.report(sample, with_inventory=first)))
                first = False
            except GpuplaneError as e:
                log.warning("local telemetry refused: %s", e)
            await self.pause(stop)
