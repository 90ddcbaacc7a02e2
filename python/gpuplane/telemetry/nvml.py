"""This host's GPUs through NVML (nvidia-ml-py, imported as ``pynvml``).

``Nvml.open()`` initializes NVML and returns ``None`` when there is no driver (no library, a
driver not loaded); the caller then falls back to an inventory file or a simulated inventory.
An open ``Nvml`` discovers the GPUs (``discover``), samples their memory, utilization,
processes and health (``sample``) and waits for health events such as Xids (``wait_event``).

The module is looked up when opened (``sys.modules["pynvml"]`` may be replaced, as the tests
do), or passed explicitly.
"""

from __future__ import annotations

import importlib
import socket
from types import ModuleType
from typing import Any

from gpuplane.inventory import NodeInventory
from gpuplane.telemetry import xid
from gpuplane.telemetry.gpu_names import normalize_model
from gpuplane.telemetry.types import GpuInfo, GpuSample, HealthEvent, HostInventory, HostSample, ProcessUsage

MIB = 1024 * 1024

# NVML errors that mean "no usable driver on this host" rather than a failure.
NO_DRIVER_ERRORS = ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_Uninitialized")
# NVML errors that mean the GPU itself is gone or broken.
LOST_GPU_ERRORS = ("NVMLError_GpuIsLost", "NVMLError_ResetRequired")


def _errors(nvml: ModuleType, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    """The exception classes ``names`` as the NVML module defines them."""
    return tuple(getattr(nvml, name) for name in names if hasattr(nvml, name))


def _text(value: str | bytes) -> str:
    """NVML strings arrive as ``str`` (decoded by pynvml) or ``bytes`` (raw struct fields)."""
    return value.decode() if isinstance(value, bytes) else value


def _mib_floor(value: int) -> int:
    return int(value) // MIB


def _mib_ceil(value: int) -> int:
    return -(-int(value) // MIB)


def load_module() -> ModuleType | None:
    """The ``pynvml`` module, or ``None`` when nvidia-ml-py is not installed."""
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


class Nvml:
    """An initialized NVML session over the GPUs of this host. Use ``Nvml.open()``."""

    def __init__(self, nvml: ModuleType, node: str | None = None):
        self.nvml = nvml
        self.node = node or socket.gethostname()
        self._handles: list[Any] = [
            nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())
        ]
        self._ids = [_text(nvml.nvmlDeviceGetUUID(h)) for h in self._handles]
        self._events: Any = None

    @classmethod
    def open(cls, nvml: ModuleType | None = None, node: str | None = None) -> Nvml | None:
        """Initializes NVML; ``None`` when there is no driver (or no nvidia-ml-py)."""
        nvml = nvml if nvml is not None else load_module()
        if nvml is None:
            return None
        try:
            nvml.nvmlInit()
        except _errors(nvml, NO_DRIVER_ERRORS):
            return None
        try:
            return cls(nvml, node)
        except BaseException:
            nvml.nvmlShutdown()
            raise

    def close(self) -> None:
        """Frees the event set and shuts NVML down."""
        if self._events is not None:
            self.nvml.nvmlEventSetFree(self._events)
            self._events = None
        self.nvml.nvmlShutdown()

    def __enter__(self) -> Nvml:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def gpu_ids(self) -> list[str]:
        """The UUIDs of this host's GPUs, in NVML index order."""
        return list(self._ids)

    def discover(self) -> HostInventory:
        """This host's GPUs: UUID, normalized model, total memory and NVLink group."""
        groups = self._nvlink_groups()
        gpus = []
        for index, (handle, gpu_id) in enumerate(zip(self._handles, self._ids, strict=True)):
            name = _text(self.nvml.nvmlDeviceGetName(handle))
            memory = _mib_floor(self.nvml.nvmlDeviceGetMemoryInfo(handle).total)
            model = normalize_model(name, memory)
            gpus.append(GpuInfo(gpu_id, model, memory, groups.get(index), index, name))
        return HostInventory(self.node, tuple(gpus))

    def sample(self) -> HostSample:
        """Memory, utilization, processes and health of every GPU now."""
        return HostSample(
            self.node,
            tuple(self._sample_gpu(h, gpu_id) for h, gpu_id in zip(self._handles, self._ids, strict=True)),
        )

    def _sample_gpu(self, handle: Any, gpu_id: str) -> GpuSample:
        nvml = self.nvml
        try:
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except _errors(nvml, LOST_GPU_ERRORS):
            return GpuSample(gpu_id, 0, 0, 0, None, None, (), healthy=False)
        try:
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            utilization: tuple[int | None, int | None] = (int(util.gpu), int(util.memory))
        except nvml.NVMLError:
            utilization = (None, None)
        return GpuSample(
            gpu_id,
            _mib_floor(memory.total),
            _mib_ceil(memory.used),
            _mib_floor(memory.free),
            *utilization,
            processes=self._processes(handle),
        )

    def _processes(self, handle: Any) -> tuple[ProcessUsage, ...]:
        """Compute and graphics processes on a GPU (a process in both lists counts once)."""
        usage: dict[int, int | None] = {}
        for query in (
            self.nvml.nvmlDeviceGetComputeRunningProcesses,
            self.nvml.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            try:
                found = query(handle)
            except self.nvml.NVMLError:
                continue
            for proc in found:
                memory = None if proc.usedGpuMemory is None else _mib_ceil(proc.usedGpuMemory)
                usage[int(proc.pid)] = _max_known(usage.get(int(proc.pid)), memory)
        return tuple(ProcessUsage(pid, mem) for pid, mem in sorted(usage.items()))

    def _nvlink_groups(self) -> dict[int, str]:
        """GPU index -> NVLink group: GPUs linked to each other or to a common NVSwitch share one.

        GPUs without an active NVLink (or where NVML does not support the query) have no group.
        """
        own = [_text(self.nvml.nvmlDeviceGetPciInfo(h).busId) for h in self._handles]
        peers = [self._nvlink_peers(h) for h in self._handles]
        parent = list(range(len(own)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(len(own)):
            for j in range(i + 1, len(own)):
                if own[j] in peers[i] or own[i] in peers[j] or peers[i] & peers[j]:
                    parent[root(j)] = root(i)
        return {i: f"nvlink{root(i)}" for i in range(len(own)) if peers[i]}

    def _nvlink_peers(self, handle: Any) -> set[str]:
        """PCI bus ids at the far end of this GPU's active NVLinks (peer GPUs or NVSwitches)."""
        nvml = self.nvml
        peers: set[str] = set()
        for link in range(nvml.NVML_NVLINK_MAX_LINKS):
            try:
                if nvml.nvmlDeviceGetNvLinkState(handle, link) != nvml.NVML_FEATURE_ENABLED:
                    continue
                peers.add(_text(nvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId))
            except nvml.NVMLError:
                break
        return peers

    def watch(self) -> None:
        """Registers for critical events (Xids, double-bit ECC) on every GPU that supports them."""
        nvml = self.nvml
        if self._events is not None:
            return
        self._events = nvml.nvmlEventSetCreate()
        for handle in self._handles:
            try:
                supported = nvml.nvmlDeviceGetSupportedEventTypes(handle) & xid.WATCHED_EVENTS
                if supported:
                    nvml.nvmlDeviceRegisterEvents(handle, supported, self._events)
            except nvml.NVMLError_NotSupported:
                continue

    def wait_event(self, timeout_ms: int) -> HealthEvent | None:
        """The next health event, waiting at most ``timeout_ms``; ``None`` when none came.

        Calls ``watch()`` first if needed. A lost GPU does not raise here: ``sample`` reports it.
        """
        nvml = self.nvml
        self.watch()
        try:
            data = nvml.nvmlEventSetWait(self._events, timeout_ms)
        except (nvml.NVMLError_Timeout, *_errors(nvml, LOST_GPU_ERRORS)):
            return None
        try:
            gpu_id: str | None = _text(nvml.nvmlDeviceGetUUID(data.device))
        except nvml.NVMLError:
            gpu_id = None
        event_type, payload = int(data.eventType), int(data.eventData)
        return HealthEvent(
            gpu_id,
            event_type,
            payload if event_type & xid.XID_CRITICAL else None,
            xid.is_critical(event_type, payload),
            xid.describe(event_type, payload),
        )


def _max_known(a: int | None, b: int | None) -> int | None:
    """The larger of two usages, where ``None`` (unknown) loses to any known value."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def discover_host(nvml: ModuleType | None = None, node: str | None = None) -> HostInventory | None:
    """This host's GPU inventory through NVML, or ``None`` when there is no driver."""
    session = Nvml.open(nvml, node)
    if session is None:
        return None
    with session:
        return session.discover()


def discover(nvml: ModuleType | None = None, node: str | None = None) -> list[NodeInventory] | None:
    """This host as the daemon's start-up inventory (one node), or ``None`` without a driver."""
    host = discover_host(nvml, node)
    return None if host is None else [host.node_inventory()]
