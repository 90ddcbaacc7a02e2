"""gpuplane: a GPU control plane.

The decisions (placement, batching, policy) are made in a Rust core; this package is its Python
face. Start with :class:`Cluster` for GPU placement.
"""

from __future__ import annotations

from gpuplane._core import (
    POLICIES,
    SNAPSHOT_VERSION,
    Cluster,
    ClusterStats,
    GpuSpec,
    GpuStats,
    Placement,
    PreemptionPlan,
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
    "POLICIES",
    "SNAPSHOT_VERSION",
    "CapacityError",
    "Cluster",
    "ClusterStats",
    "Conflict",
    "GpuSpec",
    "GpuStats",
    "GpuplaneError",
    "InvalidRequest",
    "NotFound",
    "Placement",
    "PreemptionPlan",
    "QuotaExceeded",
    "SnapshotError",
    "Totals",
    "Workload",
    "__version__",
]
