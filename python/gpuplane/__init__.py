"""gpuplane: a GPU control plane.

The decisions (placement, batching, policy) are made in a Rust core; this package is its Python
face. Start with :class:`Cluster` for GPU placement and :class:`BatchScheduler` for continuous
batching of one inference engine; share one :class:`Policy` (tenants, quotas, priority classes,
fair share, admission) between them so that both decide in the same terms.
"""

from __future__ import annotations

from gpuplane._core import (
    BATCH_POLICIES,
    MAX_ID_BYTES,
    MAX_NAME_BYTES,
    POLICIES,
    PROGRAM_COMPLETION_BUCKETS_S,
    ROUTING_POLICIES,
    SNAPSHOT_VERSION,
    AdmissionDecision,
    BatchConfig,
    BatchMetrics,
    BatchScheduler,
    Cluster,
    ClusterStats,
    Explanation,
    Finished,
    FinishedRequest,
    GpuSpec,
    GpuStats,
    Placement,
    Policy,
    PolicyConfig,
    PreemptionPlan,
    PriorityClass,
    ProgramFigures,
    Quota,
    ReplicaStatus,
    Request,
    RequestProgress,
    Route,
    Router,
    StepPlan,
    Tenant,
    TenantFigures,
    TenantMetrics,
    Totals,
    Workload,
    __version__,
    check_name,
    check_policy,
    program_key,
    prompt_block_hashes,
    replay_cluster_json,
    simulate_llm_json,
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
from gpuplane.simulate.llm import simulate_llm

__all__ = [
    "BATCH_POLICIES",
    "MAX_ID_BYTES",
    "MAX_NAME_BYTES",
    "POLICIES",
    "PROGRAM_COMPLETION_BUCKETS_S",
    "ROUTING_POLICIES",
    "SNAPSHOT_VERSION",
    "AdmissionDecision",
    "BatchConfig",
    "BatchMetrics",
    "BatchScheduler",
    "CapacityError",
    "Client",
    "Cluster",
    "ClusterStats",
    "Conflict",
    "Explanation",
    "Finished",
    "FinishedRequest",
    "GpuSpec",
    "GpuStats",
    "GpuplaneError",
    "InvalidRequest",
    "NotFound",
    "Placement",
    "Policy",
    "PolicyConfig",
    "PreemptionPlan",
    "PriorityClass",
    "ProgramFigures",
    "Quota",
    "QuotaExceeded",
    "ReplicaStatus",
    "Request",
    "RequestProgress",
    "Route",
    "Router",
    "SnapshotError",
    "StepPlan",
    "Tenant",
    "TenantFigures",
    "TenantMetrics",
    "Totals",
    "Workload",
    "__version__",
    "check_name",
    "check_policy",
    "program_key",
    "prompt_block_hashes",
    "replay_cluster_json",
    "simulate_llm",
    "simulate_llm_json",
]


def __getattr__(name: str) -> object:
    """``gpuplane.Client`` is imported lazily: embedding the library does not load gRPC."""
    if name == "Client":
        from gpuplane.client import Client

        return Client
    raise AttributeError(f"module 'gpuplane' has no attribute {name!r}")
