"""Type stubs for the Rust extension module ``gpuplane._core`` (hand-written; checked by tests)."""

from collections.abc import Mapping, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str
SNAPSHOT_VERSION: int
POLICIES: list[str]
BATCH_POLICIES: list[str]

_IntColumn = npt.ArrayLike
_FloatColumn = npt.ArrayLike

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

@final
class BatchConfig:
    """Configuration of one engine replica's batching scheduler (checked when built).

    ``policy`` is one of ``BATCH_POLICIES``: ``fcfs`` (arrival order, priorities ignored),
    ``priority`` (strict bands, FCFS inside), ``fair`` (bands, then the weighted Virtual Token
    Counter per tenant), ``deadline`` (bands, then earliest ``ttft_deadline``) or
    ``workflow_fair`` (like ``fair``, accounted per workflow). ``w_in`` / ``w_out`` are the
    counter's charge per prefill / generated token; ``tenant_weights``, when not empty, is also
    the list of accepted tenants.
    """

    def __init__(
        self,
        *,
        token_budget: int = 8192,
        max_running: int = 256,
        kv_blocks: int = 4096,
        block_size: int = 16,
        watermark: float = 0.01,
        long_prefill_token_threshold: int = 0,
        chunked_prefill: bool = True,
        preempt_priority_gap: int | None = None,
        policy: str = "fcfs",
        w_in: float = 1.0,
        w_out: float = 2.0,
        tenant_weights: Mapping[str, float] | None = None,
    ) -> None: ...
    @property
    def token_budget(self) -> int: ...
    @property
    def max_running(self) -> int: ...
    @property
    def kv_blocks(self) -> int: ...
    @property
    def block_size(self) -> int: ...
    @property
    def watermark(self) -> float: ...
    @property
    def long_prefill_token_threshold(self) -> int: ...
    @property
    def chunked_prefill(self) -> bool: ...
    @property
    def preempt_priority_gap(self) -> int | None: ...
    @property
    def policy(self) -> str: ...
    @property
    def w_in(self) -> float: ...
    @property
    def w_out(self) -> float: ...
    @property
    def tenant_weights(self) -> dict[str, float]: ...

@final
class Request:
    """One generation request (ids are in ``0..2**63``).

    Lengths and times are checked when built; the fit in the KV pool and the tenant when it is
    added. ``block_hashes`` are the hashes of the prompt's full KV blocks, in order, for
    prefix reuse (any 64-bit ints; only equality matters).
    """

    def __init__(
        self,
        id: int,
        tenant: str,
        prompt_len: int,
        max_new_tokens: int,
        *,
        priority: int = 0,
        arrival: float = 0.0,
        ttft_deadline: float | None = None,
        workflow: int | None = None,
        block_hashes: Sequence[int] = (),
    ) -> None: ...
    @property
    def id(self) -> int: ...
    @property
    def tenant(self) -> str: ...
    @property
    def prompt_len(self) -> int: ...
    @property
    def max_new_tokens(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def arrival(self) -> float: ...
    @property
    def ttft_deadline(self) -> float | None: ...
    @property
    def workflow(self) -> int | None: ...
    @property
    def block_hashes(self) -> list[int]: ...

@final
class StepPlan:
    """One step's plan: per scheduled request (running ones first, then newly admitted) the
    tokens to compute, whether a token is sampled, and its KV blocks."""

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        """Ids of the scheduled requests, in plan order."""
    @property
    def num_tokens(self) -> npt.NDArray[np.int64]:
        """Tokens each scheduled request computes this step (>= 1)."""
    @property
    def samples(self) -> npt.NDArray[np.bool_]:
        """Whether a token is sampled for each (False for a prefill chunk that is not the last)."""
    @property
    def admitted(self) -> npt.NDArray[np.int64]:
        """Ids admitted this step (also scheduled)."""
    @property
    def preempted(self) -> npt.NDArray[np.int64]:
        """Ids preempted this step (KV freed; they wait for recompute)."""
    @property
    def total_tokens(self) -> int: ...
    def blocks(self, id: int) -> tuple[list[int], list[int]]:
        """``(new_blocks, cached_blocks)`` of a scheduled request; raises ``NotFound`` otherwise."""
    def __len__(self) -> int: ...
    def __contains__(self, id: int) -> bool: ...

@final
class FinishedRequest:
    """A request that finished in ``BatchScheduler.update``; ``reason`` is ``stop`` or ``length``."""

    id: int
    generated: int
    queue_time: float
    reason: str

@final
class RequestProgress:
    """Progress of a live request: computed, generated and known (prompt + generated) tokens."""

    computed: int
    generated: int
    known: int
    running: bool

@final
class TenantMetrics:
    """Service and virtual counter of one tenant (``service = w_in * input + w_out * output``)."""

    tenant: str
    weight: float
    service: float
    normalized_service: float
    input_tokens: int
    output_tokens: int
    counter: float
    waiting: int
    backlogged: bool

@final
class BatchMetrics:
    """A snapshot of a batching scheduler. KV blocks: total = used + free + cached."""

    running: int
    waiting: int
    kv_total_blocks: int
    kv_used_blocks: int
    kv_free_blocks: int
    kv_cached_blocks: int
    kv_usage: float
    total_preemptions: int
    steps: int
    admitted_total: int
    finished_total: int
    mean_queue_time: float
    max_queue_time: float
    max_service_diff: float
    mean_service_diff: float
    tenants: dict[str, TenantMetrics]

@final
class BatchScheduler:
    """Continuous batching for one engine replica.

    Each ``schedule()`` hands out tokens per request so that computed tokens catch up with
    known tokens (prompt plus generated), within the token budget, the sequence cap and the KV
    block pool; ``update()`` applies what the engine generated. Bad input raises
    ``InvalidRequest`` / ``NotFound`` / ``Conflict`` and changes nothing.
    """

    def __init__(self, config: BatchConfig) -> None: ...
    @property
    def config(self) -> BatchConfig: ...
    @property
    def now(self) -> float: ...
    def set_time(self, now: float) -> None:
        """Sets the clock (seconds, not earlier than now); used for queue times."""
    def add(self, request: Request) -> None: ...
    def add_many(
        self,
        ids: _IntColumn,
        prompt_len: _IntColumn,
        max_new_tokens: _IntColumn,
        *,
        tenants: Sequence[str] | str | None = None,
        priority: _IntColumn | None = None,
        arrival: _FloatColumn | None = None,
        ttft_deadline: _FloatColumn | None = None,
        workflow: _IntColumn | None = None,
    ) -> None:
        """Adds requests from columns, all or none. Tenant defaults to ``"default"``; NaN in
        ``ttft_deadline`` and -1 in ``workflow`` mean none. A bad entry raises naming its
        column and index (``prompt_len[3]``)."""
    def schedule(self) -> StepPlan: ...
    def update(
        self,
        generated: Mapping[int, int] | _IntColumn,
        counts: _IntColumn | None = None,
        finished: _IntColumn | None = None,
    ) -> list[FinishedRequest]:
        """Applies the last step's results: ``generated`` is ``{id: tokens}`` or an id array with
        ``counts`` alongside; ``finished`` lists ids that stopped (EOS). Returns what finished."""
    def abort(self, id: int) -> None: ...
    def metrics(self) -> BatchMetrics: ...
    def progress(self, id: int) -> RequestProgress:
        """Progress of a live request; raises ``NotFound`` otherwise."""
    def running_ids(self) -> list[int]: ...
    def block_refcount(self, block: int) -> int | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: int) -> bool: ...
