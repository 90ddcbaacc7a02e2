"""``Feeder``: applies NVML samples and health events to a cluster. Glue only: what is free and
what runs where is decided by the core."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from gpuplane.telemetry.pids import PidFilter, placed_by_environ
from gpuplane.telemetry.types import GpuSample, HealthEvent, HostSample


class ClusterTarget(Protocol):
    """What the feeder needs of a cluster: ``gpuplane.Cluster`` or the daemon's journaled state."""

    def set_external_usage(self, gpu_id: str, memory_mib: int) -> None: ...

    def set_gpu_health(self, gpu_id: str, healthy: bool) -> list[str]: ...


class Feeder:
    """Feeds one host's telemetry into ``cluster``.

    ``placed_pids`` picks, among the PIDs running on the GPUs, those of processes gpuplane placed
    (their memory is already accounted for by their placements; by default, those carrying
    ``GPUPLANE_WORKLOAD_ID``, see ``pids.py``); the memory of every other process, and the
    driver's own, becomes the GPU's external usage. ``node_gpus`` lists the GPU ids of the node (used when a
    health event does not say which GPU it concerns). Health only ever goes down here: a drained
    GPU comes back by an explicit (admin) call, never by a sample that looks fine again.
    """

    def __init__(
        self,
        cluster: ClusterTarget,
        placed_pids: PidFilter = placed_by_environ,
        node_gpus: Collection[str] = (),
    ):
        self.cluster = cluster
        self.placed_pids = placed_pids
        self.node_gpus = tuple(node_gpus)

    def apply_sample(self, sample: HostSample) -> list[str]:
        """Sets each GPU's external usage and drains GPUs found lost. Returns displaced workloads."""
        pids = self.placed_pids(sample.pids())
        displaced: list[str] = []
        for gpu in sample.gpus:
            if gpu.healthy:
                self.cluster.set_external_usage(gpu.gpu_id, self.external_mib(gpu, pids))
            else:
                displaced += self.cluster.set_gpu_health(gpu.gpu_id, False)
        return displaced

    @staticmethod
    def external_mib(gpu: GpuSample, placed_pids: Collection[int]) -> int:
        """The external usage of one sampled GPU (see ``GpuSample.external_mib``)."""
        return gpu.external_mib(placed_pids)

    def apply_event(self, event: HealthEvent) -> list[str]:
        """Drains the GPU of a critical event (every GPU of the node when it names none).
        Returns the displaced workloads."""
        if not event.critical:
            return []
        targets = [event.gpu_id] if event.gpu_id is not None else list(self.node_gpus)
        displaced: list[str] = []
        for gpu_id in targets:
            displaced += self.cluster.set_gpu_health(gpu_id, False)
        return displaced
