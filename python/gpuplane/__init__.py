"""gpuplane: a GPU control plane.

The decisions (placement, batching, policy) are made in a Rust core; this package is its Python
face. Start with :class:`Cluster` for GPU placement and :class:`BatchScheduler` for continuous
batching of one inference engine.
"""

from __future__ import annotations

from gpuplane._core import (
    BATCH_POLICIES,
    POLICIES,
    SNAPSHOT_VERSION,
    BatchConfig,
    BatchMetrics,
    BatchScheduler,
    Cluster,
    ClusterStats,
    FinishedRequest,
    GpuSpec,
    GpuStats,
    Placement,
    PreemptionPlan,
    Request,
    RequestProgress,
    StepPlan,
    TenantMetrics,
    Totals,
    Workload,
    __version__,
)
from gpuplane.errors import (
    CapacityError,
    Conflict,
    GpuplaneError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    SnapshotError,
)

__all__ = [
    "BATCH_POLICIES",
    "POLICIES",
    "SNAPSHOT_VERSION",
    "BatchConfig",
    "BatchMetrics",
    "BatchScheduler",
    "CapacityError",
    "Client",
    "Cluster",
    "ClusterStats",
    "Conflict",
    "FinishedRequest",
    "GpuSpec",
    "GpuStats",
    "GpuplaneError",
    "InvalidRequest",
    "NotFound",
    "Placement",
    "PreemptionPlan",
    "QuotaExceeded",
    "Request",
    "RequestProgress",
    "SnapshotError",
    "StepPlan",
    "TenantMetrics",
    "Totals",
    "Workload",
    "__version__",
]


def __getattr__(name: str) -> object:
    """``gpuplane.Client`` is imported lazily: embedding the library does not load gRPC."""
    if name == "Client":
        from gpuplane.client import Client

        return Client
    raise AttributeError(f"module 'gpuplane' has no attribute {name!r}")
