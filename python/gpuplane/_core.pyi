"""Type stubs for the Rust extension module ``gpuplane._core`` (hand-written; checked by tests)."""

from collections.abc import Mapping, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str
SNAPSHOT_VERSION: int
POLICIES: list[str]

_IntColumn = npt.ArrayLike

@final
class GpuSpec:
    """One GPU of a node."""

    def __init__(
        self,
        model: str,
        memory_mib: int,
        compute_milli: int = 1000,
        topology_group: str | None = None,
        id: str | None = None,
    ) -> None: ...
    @property
    def model(self) -> str: ...
    @property
    def memory_mib(self) -> int: ...
    @property
    def compute_milli(self) -> int: ...
    @property
    def topology_group(self) -> str | None: ...
    @property
    def id(self) -> str | None: ...

@final
class Workload:
    """A request for ``gpu_count`` GPUs on one node, each with ``memory_mib`` and ``compute_milli``."""

    def __init__(
        self,
        id: str,
        memory_mib: int = 0,
        gpu_count: int = 1,
        *,
        tenant: str = "default",
        compute_milli: int = 0,
        cpu_milli: int = 0,
        host_memory_mib: int = 0,
        allowed_models: Sequence[str] = (),
        node_selector: Mapping[str, str] | None = None,
        priority: int = 0,
        preemptible: bool = True,
    ) -> None: ...
    @property
    def id(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def memory_mib(self) -> int: ...
    @property
    def gpu_count(self) -> int: ...
    @property
    def compute_milli(self) -> int: ...
    @property
    def cpu_milli(self) -> int: ...
    @property
    def host_memory_mib(self) -> int: ...
    @property
    def allowed_models(self) -> list[str]: ...
    @property
    def node_selector(self) -> dict[str, str]: ...
    @property
    def priority(self) -> int: ...
    @property
    def preemptible(self) -> bool: ...

@final
class Placement:
    """Where a workload was placed and why."""

    @property
    def workload_id(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def gpu_ids(self) -> list[str]: ...
    @property
    def memory_mib(self) -> int: ...
    @property
    def compute_milli(self) -> int: ...
    @property
    def policy(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def reason(self) -> str: ...

@final
class PreemptionPlan:
    """Evict ``victims`` from ``node`` so that ``workload`` fits there."""

    @property
    def workload(self) -> Workload: ...
    @property
    def node(self) -> str: ...
    @property
    def victims(self) -> list[str]: ...
    @property
    def evicted_memory_mib(self) -> int: ...
    @property
    def reason(self) -> str: ...

@final
class GpuStats:
    """One GPU's capacity and usage."""

    id: str
    node: str
    model: str
    healthy: bool
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    memory_free_mib: int
    compute_total_milli: int
    compute_used_milli: int
    compute_free_milli: int
    workloads: int

@final
class Totals:
    """Capacity and usage summed over a set of GPUs."""

    gpus: int
    healthy_gpus: int
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    memory_free_mib: int
    compute_total_milli: int
    compute_used_milli: int
    compute_free_milli: int

@final
class ClusterStats:
    """Cluster-wide capacity, usage, allocation ratios and fragmentation."""

    nodes: int
    workloads: int
    totals: Totals
    allocation_ratio: float
    memory_allocation_ratio: float
    compute_allocation_ratio: float
    fragmentation_gpus: float
    fragmentation_ratio: float
    node_classes: int
    gpus: list[GpuStats]
    by_node: dict[str, Totals]
    by_model: dict[str, Totals]

@final
class Cluster:
    """A cluster of nodes and GPUs and the workloads placed on it."""

    def __init__(self, policy: str = "fgd", seed: int = 0) -> None: ...
    @property
    def policy(self) -> str: ...
    @property
    def seed(self) -> int: ...
    def add_node(
        self,
        name: str,
        gpus: Sequence[GpuSpec],
        cpu_milli: int | None = None,
        memory_mib: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None: ...
    def remove_node(self, name: str) -> list[str]: ...
    def place(self, workload: Workload, policy: str | None = None) -> Placement: ...
    def place_many(
        self,
        ids: Sequence[str],
        memory_mib: _IntColumn,
        gpu_count: _IntColumn,
        compute_milli: _IntColumn | None = None,
        cpu_milli: _IntColumn | None = None,
        host_memory_mib: _IntColumn | None = None,
        priority: _IntColumn | None = None,
        tenant: str = "default",
        policy: str | None = None,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def release_many(self, ids: Sequence[str]) -> npt.NDArray[np.bool_]: ...
    def release(self, workload_id: str) -> Placement: ...
    def preemption_plan(self, workload: Workload) -> PreemptionPlan | None: ...
    def preempt(self, plan: PreemptionPlan) -> Placement: ...
    def set_external_usage(self, gpu_id: str, memory_mib: int) -> None: ...
    def set_gpu_health(self, gpu_id: str, healthy: bool) -> list[str]: ...
    def set_workload_distribution(self, shapes: Sequence[tuple[Workload, float]] | None) -> None: ...
    def workload_distribution(self) -> list[tuple[dict[str, Any], float]]: ...
    def snapshot(self) -> bytes: ...
    @classmethod
    def restore(cls, data: bytes) -> Cluster: ...
    def stats(self) -> ClusterStats: ...
    def allocation(self, workload_id: str) -> Placement | None: ...
    def workloads(self) -> list[str]: ...
    def gpu_ids(self) -> list[str | None]: ...
    def node_names(self) -> list[str | None]: ...
    def __len__(self) -> int: ...
    def __contains__(self, workload_id: str) -> bool: ...
