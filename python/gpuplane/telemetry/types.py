"""Values read from the GPUs of one host: inventory, samples and health events."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gpuplane._core import GpuSpec
from gpuplane.inventory import NodeInventory


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as discovered: its UUID (the GPU id in the core), normalized model, memory and
    NVLink group (``None`` when it has no active NVLink or NVML cannot tell)."""

    id: str
    model: str
    memory_mib: int
    topology_group: str | None = None
    index: int = 0
    name: str = ""

    def spec(self) -> GpuSpec:
        """The core's ``GpuSpec`` of this GPU."""
        return GpuSpec(self.model, self.memory_mib, topology_group=self.topology_group, id=self.id)


@dataclass(frozen=True)
class HostInventory:
    """This host's GPUs; ``node`` is the host name, the node's name in the core."""

    node: str
    gpus: tuple[GpuInfo, ...]

    def specs(self) -> list[GpuSpec]:
        """The core's ``GpuSpec`` of every GPU, in NVML index order."""
        return [gpu.spec() for gpu in self.gpus]

    def node_inventory(self) -> NodeInventory:
        """This host as the daemon's ``NodeInventory``."""
        return NodeInventory(self.node, tuple(self.specs()))


@dataclass(frozen=True)
class ProcessUsage:
    """A process running on a GPU; ``memory_mib`` is ``None`` when NVML cannot tell."""

    pid: int
    memory_mib: int | None


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment. ``healthy`` is False when NVML reports the GPU lost or failing."""

    gpu_id: str
    memory_total_mib: int
    memory_used_mib: int
    memory_free_mib: int
    utilization_gpu: int | None
    utilization_memory: int | None
    processes: tuple[ProcessUsage, ...]
    healthy: bool = True

    def external_mib(self, placed_pids: Collection[int] = ()) -> int:
        """Memory used by processes gpuplane did not place, in MiB (the core's external usage).

        It is the used memory (which includes the driver's own reservation and processes NVML
        cannot see, such as those of other containers) minus what the processes with a PID in
        ``placed_pids`` use; a placed process whose usage NVML cannot report counts as external,
        so that the core never sees more free memory than there is.
        """
        placed = sum(p.memory_mib or 0 for p in self.processes if p.pid in placed_pids)
        return min(self.memory_total_mib, max(0, self.memory_used_mib - placed))


@dataclass(frozen=True)
class HostSample:
    """Every GPU of a host at one moment."""

    node: str
    gpus: tuple[GpuSample, ...]

    def pids(self) -> set[int]:
        """Every PID running on any of the host's GPUs."""
        return {p.pid for gpu in self.gpus for p in gpu.processes}


@dataclass(frozen=True)
class HealthEvent:
    """A health event of one GPU (``gpu_id=None``: NVML did not say which, so all of them).

    ``xid`` is the Xid number of an Xid event (else ``None``); ``critical`` says whether the GPU
    must be drained.
    """

    gpu_id: str | None
    event_type: int
    xid: int | None
    critical: bool
    description: str = ""
