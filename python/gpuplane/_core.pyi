"""Type stubs for the Rust extension module ``gpuplane._core`` (hand-written; checked by tests)."""

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack, final

import numpy as np
import numpy.typing as npt

__version__: str
SNAPSHOT_VERSION: int
POLICIES: list[str]
BATCH_POLICIES: list[str]
ROUTING_POLICIES: list[str]
MAX_ID_BYTES: int
MAX_NAME_BYTES: int

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
        priority_class: str | None = None,
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
    @property
    def priority_class(self) -> str | None:
        """A priority class of the cluster's policy engine; it then gives the priority and
        preemptibility (the two fields are ignored)."""

@final
class Placement:
    """Where a workload was placed and why (the library's and the client's result alike)."""

    def __init__(
        self,
        workload_id: str,
        node: str,
        gpu_ids: Sequence[str],
        memory_mib: int,
        compute_milli: int = 0,
        policy: str = "",
        score: float = 0.0,
        reason: str = "",
        tenant: str = "",
    ) -> None: ...
    @property
    def workload_id(self) -> str: ...
    @property
    def node(self) -> str: ...
    @property
    def gpu_ids(self) -> tuple[str, ...]: ...
    @property
    def tenant(self) -> str: ...
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
    """A cluster of nodes and GPUs and the workloads placed on it.

    With a :class:`Policy` attached (``set_policy_engine``), ``place`` admits each workload
    against its tenant's quotas first (``QuotaExceeded`` on refusal), priority classes give
    priorities, placed workloads run in the policy (usage, fair and dominant shares see them),
    and ``preemption_plan`` follows the policy's reclaim laws. ``now`` arguments are seconds on
    the policy's clock, ``time.monotonic()`` when omitted; without a policy they are unused.
    """

    def __init__(self, policy: str = "fgd", seed: int = 0, scoring: str = "native") -> None: ...
    @property
    def policy(self) -> str: ...
    @property
    def scoring(self) -> str: ...
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
    def place(self, workload: Workload, policy: str | None = None, now: float | None = None) -> Placement: ...
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
        allowed_models: Sequence[Sequence[str]] | None = None,
        node_selector: Sequence[Mapping[str, str]] | None = None,
        now: float | None = None,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def tenant_figures(self, now: float | None = None) -> list[TenantFigures]:
        """Every tenant's figures: the policy engine's tenants, then others holding placements."""
    def tenant_figure(self, tenant: str, now: float | None = None) -> TenantFigures:
        """One tenant's figures; ``NotFound`` if neither the engine nor a placement knows it."""
    def release_many(self, ids: Sequence[str]) -> npt.NDArray[np.bool_]: ...
    def release(self, workload_id: str, now: float | None = None) -> Placement: ...
    def preemption_plan(self, workload: Workload, now: float | None = None) -> PreemptionPlan | None: ...
    def preempt(self, plan: PreemptionPlan, now: float | None = None) -> Placement: ...
    def set_policy_engine(self, policy: Policy | None, now: float | None = None) -> None:
        """Attaches a policy (None detaches). Placed workloads are recorded in it as running since
        ``now``; one whose tenant or class it does not know raises and nothing changes."""
    @property
    def policy_engine(self) -> Policy | None:
        """The attached policy (the same shared state), or None."""
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
    ``workflow_fair`` (like ``fair``, accounted per workflow) or ``program_las`` (bands, then
    tenants by the weighted Virtual Token Counter, then inside a tenant the program with the
    least service attained over all its calls, never lifted, as in Autellix's PLAS; once a
    program's calls have waited more than ``A = starvation_s + starvation_ratio * S`` seconds
    in total, ``S`` the seconds its finished calls ran, its waiting call ranks as a program
    with no service (behind calls of its tenant ranked 0 that arrived before it), and past
    ``2 * A`` it goes before every other one; with ``cache_discount`` > 0 a call's rank is its
    program's service less ``cache_discount * w_in`` per token of the prefix blocks its
    program has cached, so a call whose context is still cached goes before it is evicted).
    ``workflow_fair`` and ``program_las`` remember at most ``idle_programs`` named programs
    with no call queued or running (least recently active forgotten beyond).
    ``w_in`` / ``w_out`` are the counter's charge per prefill / generated token;
    ``tenant_weights``, when not empty, is also the list of accepted tenants.
    ``kv_eviction``: which released KV blocks are kept longest, ``lru`` (blocks holding a
    prompt hash, least recently released evicted first) or ``vllm`` (vLLM's free block queue:
    every full block, as vLLM caches them; what ``gpuplane.vllm`` uses to mirror vLLM's pool).
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
        starvation_s: float = 120.0,
        starvation_ratio: float = 0.0,
        idle_programs: int = 65536,
        kv_eviction: str = "lru",
        cache_discount: float = 0.75,
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
    @property
    def starvation_s(self) -> float: ...
    @property
    def starvation_ratio(self) -> float: ...
    @property
    def idle_programs(self) -> int: ...
    @property
    def kv_eviction(self) -> str: ...
    @property
    def cache_discount(self) -> float: ...

@final
class Request:
    """One generation request (ids are in ``0..2**63``).

    Lengths and times are checked when built; the fit in the KV pool and the tenant when it is
    added. ``block_hashes`` are the hashes of the prompt's full KV blocks, in order, for
    prefix reuse (any 64-bit ints; only equality matters). ``last_call`` marks its program's
    (``workflow``'s) last call: once it leaves, the scheduler forgets the program.
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
        priority_class: str | None = None,
        last_call: bool = False,
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
    @property
    def priority_class(self) -> str | None:
        """A policy priority class; when added, its value is the priority (needs a policy)."""

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
    def computed(self) -> npt.NDArray[np.int64]:
        """Tokens each scheduled request had computed (or reused from the cache) before this step."""
    @property
    def known(self) -> npt.NDArray[np.int64]:
        """Known tokens (prompt plus generated) of each scheduled request before this step."""
    @property
    def generated(self) -> npt.NDArray[np.int64]:
        """Tokens each scheduled request had generated before this step (``expect_sampled``'s
        included)."""
    def kv_work(self, running: int, block_size: int, prefilling: _IntColumn) -> tuple[list[int], list[int]]:
        """For an engine that allocates a prompt's KV blocks chunk by chunk and caches a block
        the step it fills (vLLM's KV manager): positions among the first ``running`` entries
        whose KV it works on this step, ``(allocating, caching)``. Allocating: those given new
        blocks and those ``prefilling`` (a bool per running entry) before the step; caching:
        the others whose tokens of this step fill a block."""
    @property
    def new_block_counts(self) -> npt.NDArray[np.int64]:
        """KV blocks newly allocated to each scheduled request this step."""
    @property
    def cached_block_counts(self) -> npt.NDArray[np.int64]:
        """Cached prefix blocks each scheduled request reuses (only on the step admitting it)."""
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

    With a shared :class:`Policy` (``policy=``), tenants must be leaves of its tree, a tenant's
    fair-share weight is its over-quota weight, a request's ``priority_class`` gives its
    priority, and after each ``update`` the tokens served are charged to the policy's usage
    accounts (``Policy.charge_tokens``, at the scheduler clock).
    """

    def __init__(self, config: BatchConfig, policy: Policy | None = None) -> None: ...
    @property
    def policy_engine(self) -> Policy | None: ...
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
    def schedule(self, now: float | None = None, expect_sampled: bool = False) -> StepPlan:
        """Plans the next step. With ``now`` the clock first moves forward to it (an earlier
        ``now`` leaves it); with ``expect_sampled`` the plan's sampled tokens are then counted
        as :meth:`expect_sampled` does: an engine's whole scheduling step in one call."""
    def update(
        self,
        generated: Mapping[int, int] | _IntColumn,
        counts: _IntColumn | None = None,
        finished: _IntColumn | None = None,
    ) -> list[FinishedRequest]:
        """Applies the last step's results: ``generated`` is ``{id: tokens}`` or an id array with
        ``counts`` alongside; ``finished`` lists ids that stopped (EOS). Returns what finished."""
    def expect_sampled(self) -> None:
        """Right after ``schedule()``: counts the one token each request of that plan samples,
        as if the engine had reported it (not a request's last token: the engine finishes it
        with ``abort`` when it arrives). For engines that plan ahead of their output."""
    def abort(self, id: int) -> None: ...
    def metrics(self) -> BatchMetrics: ...
    def progress(self, id: int) -> RequestProgress:
        """Progress of a live request; raises ``NotFound`` otherwise."""
    def running_ids(self) -> list[int]: ...
    def cached_block_hashes(self) -> list[int]:
        """Hashes of the prompt blocks in the KV pool (held or cached-free), ascending: what a
        replica reports to a router as its prefix cache."""
    def known_programs(self) -> int:
        """Named programs remembered: those with a call queued or running plus at most
        ``config.idle_programs`` idle ones (the one idle the longest is forgotten beyond; if it
        returns it starts afresh, as a new program)."""
    def program_history(self, workflow: int) -> tuple[float, float, float] | None:
        """Program ``workflow``'s ``(attained, waited_s, served_s)`` on this replica under
        ``program_las`` (weighted tokens served over its calls, seconds they waited, seconds
        its finished calls ran)."""
    def set_program_history(
        self, workflow: int, attained: float, waited_s: float, served_s: float = 0.0
    ) -> None:
        """Raises the program's attained service, waiting and service time here to at least these figures
        (what the replica of its last call knew), so that its next call keeps its rank."""
    def block_refcount(self, block: int) -> int | None: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: int) -> bool: ...

_Amounts = Mapping[str, float]

class _TenantParts(TypedDict, total=False):
    """The keywords of ``Policy.add_tenant`` and ``update_tenant``: the quota's parts (instead
    of a ``Quota``) and the tenant's own settings; None is the same as omitted."""

    guaranteed: _Amounts | None
    deserved: _Amounts | None
    limit: Mapping[str, float | None] | None
    over_quota_priority: int | None
    over_quota_weight: float | None
    models: Mapping[str, Mapping[str, float | None]] | None
    max_queued: int | None
    budget: float | None
    burst_tokens: float | None

@final
class PolicyConfig:
    """Engine-wide settings of a :class:`Policy` (checked when built).

    ``half_life_s``: usage half-life; ``usage_factor`` in ``[0, 1)``: how much decayed usage
    lowers the over-quota share; ``w_in`` / ``w_out``: weighted-token charge per prompt /
    output token; ``collateral_factor``: memory a preemption may evict per MiB requested;
    ``min_runtime_s``: work younger than this is never preempted; ``default_burst_s``: token
    bucket burst in seconds of the rate limit; ``gpu_prices``: price per GPU-hour by model.
    """

    def __init__(
        self,
        *,
        half_life_s: float = 86400.0,
        usage_factor: float = 0.5,
        w_in: float = 1.0,
        w_out: float = 2.0,
        collateral_factor: float = 2.0,
        min_runtime_s: float = 60.0,
        default_burst_s: float = 1.0,
        gpu_prices: Mapping[str, float] | None = None,
    ) -> None: ...
    @property
    def half_life_s(self) -> float: ...
    @property
    def usage_factor(self) -> float: ...
    @property
    def w_in(self) -> float: ...
    @property
    def w_out(self) -> float: ...
    @property
    def collateral_factor(self) -> float: ...
    @property
    def min_runtime_s(self) -> float: ...
    @property
    def default_burst_s(self) -> float: ...
    @property
    def gpu_prices(self) -> dict[str, float]: ...

@final
class Quota:
    """The quota of one tenant-tree node, per resource (``gpus``, ``memory_mib``,
    ``tokens_per_s``, ``concurrent``): ``guaranteed`` (never lent) <= ``deserved`` (lendable,
    reclaimable) <= ``limit`` (hard cap; a missing resource is uncapped). ``models`` maps a GPU
    model to ``{"guaranteed": n, "limit": m}`` GPUs. Checked when built: negative or NaN
    amounts and a guarantee above the deserved quota or the limit raise ``InvalidRequest``
    naming the field (``quota.guaranteed.gpus``)."""

    def __init__(
        self,
        guaranteed: _Amounts | None = None,
        deserved: _Amounts | None = None,
        limit: Mapping[str, float | None] | None = None,
        *,
        over_quota_priority: int = 0,
        over_quota_weight: float = 1.0,
        models: Mapping[str, Mapping[str, float | None]] | None = None,
    ) -> None: ...
    @property
    def guaranteed(self) -> dict[str, float]: ...
    @property
    def deserved(self) -> dict[str, float]: ...
    @property
    def limit(self) -> dict[str, float]: ...
    @property
    def over_quota_priority(self) -> int: ...
    @property
    def over_quota_weight(self) -> float: ...
    @property
    def models(self) -> dict[str, dict[str, float | None]]: ...

@final
class PriorityClass:
    """A priority class: higher ``value`` preempts lower; non-preemptible work runs only within
    guaranteed quota."""

    def __init__(self, name: str, value: int, preemptible: bool = True) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    @property
    def preemptible(self) -> bool: ...

@final
class Tenant:
    """One node of the tenant tree as configured."""

    @property
    def name(self) -> str: ...
    @property
    def parent(self) -> str | None: ...
    @property
    def quota(self) -> Quota: ...
    @property
    def max_queued(self) -> int | None: ...
    @property
    def budget(self) -> float | None: ...
    @property
    def burst_tokens(self) -> float | None: ...

@final
class AdmissionDecision:
    """The outcome of ``Policy.admit``: ``outcome`` is ``admit``, ``queue`` or ``reject``;
    ``reason`` the stable code (``admitted``, ``queued_quota``, ``rejected_limit``,
    ``rejected_rate``, ``rejected_queue_cap``, ``rejected_budget``, ``rejected_deadline``,
    ``rejected_unknown_tenant``, ``rejected_class``); ``text`` says why."""

    @property
    def outcome(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def admitted(self) -> bool: ...
    @property
    def ended_program(self) -> str | None:
        """The program (workflow id) this decision ended: a rejected call aborts its program."""

@final
class Finished:
    """The outcome of ``Policy.finish``: whether the request was running (released) rather than
    queued (cancelled), and the program (workflow id) it ended, completed or aborted, if any."""

    @property
    def was_running(self) -> bool: ...
    @property
    def ended_program(self) -> str | None: ...

PROGRAM_COMPLETION_BUCKETS_S: list[float]

@final
class ProgramFigures:
    """One tenant's agent programs at admission: sums over completed programs and their
    completion counts per bucket of ``PROGRAM_COMPLETION_BUCKETS_S`` (one more for the rest)."""

    @property
    def tenant(self) -> str: ...
    @property
    def active(self) -> int: ...
    @property
    def completed(self) -> int: ...
    @property
    def aborted(self) -> int: ...
    @property
    def calls(self) -> int: ...
    @property
    def completion_s_sum(self) -> float: ...
    @property
    def waiting_s_sum(self) -> float: ...
    @property
    def running_s_sum(self) -> float: ...
    @property
    def tool_s_sum(self) -> float: ...
    @property
    def completion_buckets(self) -> list[int]: ...
    def completion_quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q`` of completion (inf in the last)."""

@final
class TenantFigures:
    """What a tenant holds on the cluster and where it stands in the attached policy engine."""

    @property
    def tenant(self) -> str: ...
    @property
    def placed_workloads(self) -> int: ...
    @property
    def placed_gpus(self) -> int: ...
    @property
    def placed_memory_mib(self) -> int: ...
    @property
    def admitted(self) -> int:
        """Work the engine runs for it: placed workloads and admitted requests."""
    @property
    def queued(self) -> int: ...
    @property
    def allocated(self) -> dict[str, float]: ...
    @property
    def usage(self) -> dict[str, float]: ...
    @property
    def fair_share(self) -> dict[str, float]: ...
    @property
    def dominant_share(self) -> float: ...

@final
class Explanation:
    """Where a tenant-tree node stands (``Policy.explain``); ``str()`` is ``summary``."""

    @property
    def tenant(self) -> str: ...
    @property
    def path(self) -> list[str]: ...
    @property
    def fair_share(self) -> dict[str, float]: ...
    @property
    def guaranteed(self) -> dict[str, float]: ...
    @property
    def deserved(self) -> dict[str, float]: ...
    @property
    def limit(self) -> dict[str, float]: ...
    @property
    def demand(self) -> dict[str, float]: ...
    @property
    def allocated(self) -> dict[str, float]: ...
    @property
    def usage(self) -> dict[str, float]: ...
    @property
    def dominant_share(self) -> float: ...
    @property
    def fair_share_ratio(self) -> float: ...
    @property
    def borrowed(self) -> dict[str, float]:
        """Held above the deserved quota."""
    @property
    def lent(self) -> dict[str, float]:
        """Deserved quota left for others (idle guarantees are never lent)."""
    @property
    def spent(self) -> float: ...
    @property
    def budget(self) -> float | None: ...
    @property
    def queued(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def last_decision(self) -> AdmissionDecision | None: ...
    @property
    def summary(self) -> str: ...
    def __str__(self) -> str: ...

@final
class Policy:
    """The policy engine: a tenant tree (only leaves hold work) with quotas, priority classes,
    hierarchical fair share, decayed usage, token buckets, cost budgets and admission with
    reasons. Share one with a :class:`Cluster` (``Cluster.set_policy_engine``) and
    :class:`BatchScheduler` s (``BatchScheduler(config, policy=...)``).

    Time: ``now`` arguments are seconds; omitted, ``time.monotonic()`` is read (the Rust core
    never reads a clock). Times earlier than the latest seen count as the latest.
    Bad input (cycles, negative or NaN quotas, a guarantee above the limit or the parent's
    guarantees, unknown tenants or classes in configuration calls, ``Cluster.place`` and
    ``BatchScheduler.add``) raises ``InvalidRequest`` naming the field and changes nothing;
    ``admit`` answers an unknown tenant or class with a rejection and its reason code.
    """

    def __init__(self, config: PolicyConfig | None = None) -> None: ...
    @property
    def config(self) -> PolicyConfig: ...
    @property
    def now(self) -> float:
        """The latest time the engine has seen."""
    def add_tenant(
        self,
        name: str,
        parent: str | None = None,
        quota: Quota | None = None,
        **parts: Unpack[_TenantParts],
    ) -> None:
        """Adds a node under ``parent`` (None: the cluster), with ``quota`` or its parts."""
    def update_tenant(
        self,
        name: str,
        parent: str | None = None,
        quota: Quota | None = None,
        **parts: Unpack[_TenantParts],
    ) -> None:
        """Replaces a node's spec; may move it (cycles are refused)."""
    def remove_tenant(self, name: str) -> None: ...
    def tenants(self) -> list[Tenant]: ...
    def upsert_class(
        self, priority_class: PriorityClass | str, value: int | None = None, preemptible: bool = True
    ) -> None:
        """Adds or replaces a class: a ``PriorityClass``, or its name, value and preemptibility."""
    def remove_class(self, name: str) -> None: ...
    def classes(self) -> list[PriorityClass]: ...
    def set_capacity(self, capacity: _Amounts | None = None, **amounts: float) -> None:
        """Sets the capacity shared by the top-level nodes (a dict or keywords; missing is 0)."""
    def set_demand(self, tenant: str, demand: _Amounts) -> None: ...
    def charge_tokens(
        self, tenant: str, prompt_tokens: int, output_tokens: int, now: float | None = None
    ) -> None:
        """Charges ``w_in * prompt_tokens + w_out * output_tokens`` to a leaf's usage."""
    def usage(self, tenant: str, now: float | None = None) -> dict[str, float]:
        """Decayed usage at ``now``."""
    def allocated(self, tenant: str) -> dict[str, float]: ...
    def fair_share(self, tenant: str) -> dict[str, float]:
        """A node's fair share, recomputed incrementally where stale."""
    def fair_shares(self) -> dict[str, dict[str, float]]:
        """Every node's fair share, recomputed from scratch."""
    def recompute_fair_shares(self) -> None:
        """Recomputes every fair share from scratch (the incremental path's baseline)."""
    def dominant_share(self, tenant: str) -> float: ...
    def fair_share_ratio(self, tenant: str) -> float: ...
    def admit(
        self,
        id: str,
        tenant: str,
        resources: _Amounts | None = None,
        *,
        priority_class: str = "default",
        gpu_model: str | None = None,
        tokens: float = 0.0,
        est_duration_s: float = 0.0,
        deadline_s: float | None = None,
        queue_ahead: float = 0.0,
        service_rate: float = 0.0,
        now: float | None = None,
        workflow: str | None = None,
        call_index: int = 0,
    ) -> AdmissionDecision:
        """Admits (holding ``resources`` until ``release``), queues or rejects, with a reason.
        An unknown tenant or class is a rejection with its own code (``rejected_unknown_tenant``,
        ``rejected_class``), never an exception; malformed fields raise ``InvalidRequest``.
        With ``workflow`` the request is call ``call_index`` of that agent program: a program
        starts at call 0 and takes its calls in order, one at a time, from one tenant
        (``InvalidRequest`` on ``program.call_index`` / ``program.workflow_id`` otherwise); a
        rejected call aborts its program."""
    def release(self, id: str, now: float | None = None, *, more_calls: bool = False) -> None:
        """Releases admitted work; a program's call completes its program unless ``more_calls``."""
    def finish(self, id: str, now: float | None = None, *, more_calls: bool = False) -> Finished:
        """Releases ``id`` if running (a program's call completes its program unless
        ``more_calls``) or cancels it if queued (aborting its program); ``NotFound`` if neither."""
    def program_figures(self) -> list[ProgramFigures]:
        """Each tenant's agent programs, in tenant order."""
    def cancel(self, id: str) -> None:
        """Drops a queued request (a program's call aborts its program)."""
    def running(self) -> list[str]: ...
    def queued(self) -> list[str]: ...
    def explain(self, tenant: str, now: float | None = None) -> Explanation: ...
    def check_leaf(self, tenant: str) -> None:
        """Raises ``InvalidRequest`` on ``tenant`` unless it is a known leaf (one that can hold
        work): the check ``BatchScheduler.add`` makes, for refusing a request before it gets there."""
    def snapshot(self) -> bytes: ...
    @classmethod
    def restore(cls, data: bytes) -> Policy: ...
    def __len__(self) -> int: ...
    def __contains__(self, tenant: str) -> bool: ...

@final
class Route:
    """The replica :meth:`Router.route` chose, its score, the leading prompt blocks it has
    cached, and the weighted score terms (also as text in ``reason``)."""

    @property
    def replica_id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def prefix_blocks(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def dispatch(self) -> int:
        """The dispatch's number, from 1 in the router's dispatch order (0: not recorded)."""
    @property
    def terms(self) -> dict[str, float]:
        """``prefix``, ``adapter``, ``queue``, ``kv``, ``fair``; they sum to ``score``."""

@final
class ReplicaStatus:
    """A registered engine replica and its last reported load."""

    @property
    def id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def tenant(self) -> str:
        """The tenant it is dedicated to; empty: shared."""
    @property
    def kv_blocks(self) -> int: ...
    @property
    def block_size(self) -> int: ...
    @property
    def max_running(self) -> int: ...
    @property
    def waiting(self) -> int: ...
    @property
    def running(self) -> int: ...
    @property
    def kv_usage(self) -> float: ...
    @property
    def waiting_blocks(self) -> int:
        """KV blocks its waiting requests still need, as reported."""
    @property
    def load_blocks(self) -> float:
        """The load the cost model charges, in KV blocks."""
    @property
    def cached_blocks(self) -> int:
        """How many KV block hashes it reported cached."""
    @property
    def resident_adapters(self) -> list[str]: ...
    @property
    def tenant_service(self) -> dict[str, float]: ...
    @property
    def tenant_waiting(self) -> dict[str, int]:
        """Requests waiting per tenant, as reported."""
    @property
    def routed(self) -> int:
        """Requests routed to it with ``record=True`` since it registered."""
    @property
    def in_flight(self) -> int:
        """Requests routed to it (``note_routed``) and not yet done (``note_done``)."""

@final
class Router:
    """Engine replicas (soft state), the choice of one per request, and fleet-wide tenant
    counters: the one router of the service, the simulator and embedded gateways.

    ``policy`` (one of ``ROUTING_POLICIES``) picks the scoring. ``cost`` (the default) is the
    cost model, in KV blocks: ``overlap_weight x`` the prompt's leading blocks the replica has
    cached, ``+64`` when the requested adapter is resident, ``-`` its load blocks (``kv_usage x
    kv_blocks`` + ``waiting_blocks`` + blocks dispatched since its last report + one per waiting
    request), and ``-`` that load times how far the tenant's share of its recent service exceeds
    an equal share (plus ``queue_weight x`` how far its share of the replica's reported waiting
    requests exceeds its share of all replicas' waiting requests, so that every backlogged
    tenant stays queued on every replica). ``least_loaded`` keeps only the load, ``prefix`` puts
    the cached prefix first, ``tenant_fair`` load and fair share, ``round_robin`` the replica
    dispatched to least often. The highest score wins, then fewer waiting, then fewer in flight,
    then the greater id. Candidates serve the model (any when ``model`` is empty) and are shared
    or dedicated to the tenant. Unknown replicas raise ``NotFound``; out-of-range loads
    ``InvalidRequest`` (nothing changes). Releases the GIL.
    Registration beyond ``max_replicas`` (default 10,000) or ``max_replicas_per_tenant``
    (1,000) raises ``CapacityError``; a load with more than ``max_load_entries`` (1,024) tenants
    or adapters ``InvalidRequest``; more than ``max_tracked_requests`` (1,000,000) recorded
    requests with an id not finished ``CapacityError``.
    """

    def __init__(
        self,
        *,
        policy: str = "cost",
        overlap_weight: float = 1.0,
        max_replicas: int | None = None,
        max_replicas_per_tenant: int | None = None,
        max_load_entries: int | None = None,
        max_tracked_requests: int | None = None,
        workflow_weight: float = 1.0,
        queue_weight: float = 2.0,
    ) -> None: ...
    @property
    def policy(self) -> str: ...
    def page(
        self, after: str = "", limit: int = 500, tenant: str | None = None
    ) -> tuple[list[ReplicaStatus], bool]:
        """Up to ``limit`` replicas with ids after ``after`` (id order) and whether more follow;
        with ``tenant``, only that tenant's and the shared ones."""
    def register(
        self,
        id: str,
        *,
        address: str = "",
        model: str = "",
        tenant: str = "",
        kv_blocks: int = 0,
        block_size: int = 0,
        max_running: int = 0,
    ) -> None:
        """Adds or replaces a replica; a re-registered replica keeps its last load."""
    def unregister(self, id: str) -> None: ...
    def report_load(
        self,
        replica_id: str,
        *,
        waiting: int = 0,
        running: int = 0,
        kv_usage: float = 0.0,
        waiting_blocks: int = 0,
        cached_block_hashes: Sequence[int] = ...,
        resident_adapters: Sequence[str] = ...,
        tenant_service: Mapping[str, float] = ...,
        reflects_dispatch: int | None = None,
        tenant_waiting: Mapping[str, int] = ...,
    ) -> None:
        """Records a replica's load, replacing the last one. With ``reflects_dispatch`` (the
        last recorded route's ``dispatch`` the figures include), only dispatches up to it stop
        counting as unreported load, and a report older than one recorded is ignored.
        ``tenant_waiting``: its waiting requests per tenant (the queue-share term's input)."""
    def last_dispatch(self) -> int:
        """The last recorded route's ``dispatch`` (0 before any)."""
    def route(
        self,
        *,
        tenant: str = "default",
        model: str = "",
        adapter: str = "",
        block_hashes: Sequence[int] = ...,
        prompt_tokens: int = 0,
        request_id: str = "",
        record: bool = False,
        workflow: int | None = None,
    ) -> Route:
        """The best replica; with ``record``, the choice is counted on it (its ``routed`` and
        prompt blocks until its next report), and a ``request_id`` is tracked until
        :meth:`finish` (``Conflict`` if it already is). With a ``workflow`` key
        (:func:`program_key` of the tenant and the program's id), a recorded call's replica is
        remembered and the program's next call scores it ``+ workflow_weight x`` the previous
        call's prompt blocks not already counted as cached prefix (the ``workflow`` term), so
        it returns there unless load says otherwise."""
    def end_program(self, workflow: int) -> None:
        """Program ``workflow`` (a key, see :func:`program_key`) has ended: forgets the replica
        of its last call."""
    def known_programs(self) -> int:
        """Programs whose last call's replica is remembered (at most 65,536 and 16,384 of one
        tenant, the least recently routed forgotten beyond)."""
    def program_replica(self, workflow: int) -> str | None:
        """The replica program ``workflow``'s last recorded call went to, if remembered."""
    def finish(self, request_id: str, *, input_tokens: int = 0, output_tokens: int = 0) -> str:
        """A recorded request is done; its tenant's fleet counter is charged the tokens its
        replica served it (at the batching weights ``w_in``, ``w_out``). Returns the replica it
        was routed to; ``NotFound`` if not tracked."""
    def tracked_tenant(self, request_id: str) -> str | None:
        """The tenant of a recorded request not finished."""
    def set_tenant_weight(self, tenant: str, weight: float) -> None:
        """The tenant's weight for the fleet counters (finite, > 0)."""
    def fleet_counters(self) -> dict[str, float]:
        """Fleet-wide tenant counters (weighted service / weight, with VTC lifts)."""
    def note_routed(self, replica_id: str) -> None:
        """Counts a request routed to the replica as in flight there."""
    def note_done(self, replica_id: str) -> None:
        """Counts one in-flight request of the replica as done (never below zero)."""
    def replica(self, id: str) -> ReplicaStatus: ...
    def replicas(self) -> list[ReplicaStatus]: ...
    def __len__(self) -> int: ...

def prompt_block_hashes(
    tokens: str | Sequence[int], block_size: int, *, parent: int | None = None
) -> list[int]:
    """Hashes of the prompt's full KV blocks of ``block_size`` tokens, in order; block ``i``'s
    hash chains block ``i - 1``'s with its tokens, and is the same in every process and
    version. With ``parent`` (a block hash), the hashes of blocks that follow that block: an
    engine's newly cached blocks, hashed after their parent. ``tokens`` are token ids
    (0..2**32), or text whose UTF-8 bytes are the tokens. Bad input: :class:`InvalidRequest`
    naming the field (``tokens[3]``, ``block_size``, ``parent``)."""

def simulate_llm_json(
    arrival: _FloatColumn,
    prompt: _IntColumn,
    output: _IntColumn,
    tenant: _IntColumn | None = None,
    priority: _IntColumn | None = None,
    workflow: _IntColumn | None = None,
    hash_offsets: _IntColumn | None = None,
    hashes: _IntColumn | None = None,
    config: str = "{}",
    tool_time: _FloatColumn | None = None,
) -> str:
    """Simulates serving the requests (one entry per column per request) on simulated replicas
    under the JSON ``config`` (``gpuplane_core::sim::SimConfig``); returns the JSON report.
    ``workflow`` is -1 for none; ``hash_offsets``/``hashes`` are prefix block hashes in CSR form;
    ``tool_time`` is the seconds between a workflow call's predecessor finishing and its arrival.
    Releases the GIL. Bad input: :class:`InvalidRequest` naming the field."""

def replay_cluster_json(
    cluster: Cluster,
    ids: Sequence[str],
    gpu_count: _IntColumn,
    compute_milli: _IntColumn,
    cpu_milli: _IntColumn,
    host_memory_mib: _IntColumn,
    arrival: _FloatColumn,
    departure: _FloatColumn,
    samples: int = 200,
) -> str:
    """Replays pods on ``cluster`` in time order (departures, NaN for never, go first at equal
    times), sampling allocation and fragmentation ratios ``samples`` times; returns JSON."""

def check_policy(name: str) -> None:
    """Checks a placement policy's name as the core parses it (one of ``POLICIES``). Raises
    :class:`InvalidRequest` naming ``policy``."""

def check_name(field: str, value: str, max_bytes: int = 128) -> None:
    """Checks ``value`` against the core's grammar for ids and names, capped at ``max_bytes``
    (``MAX_NAME_BYTES``; ids use ``MAX_ID_BYTES``): non-empty, no leading or trailing space, no
    control or invisible characters (NUL, newline, ESC, bidirectional overrides, zero-width).
    Raises :class:`InvalidRequest` naming ``field``."""

def program_key(tenant: str, workflow: str) -> int:
    """The key of program ``workflow`` of ``tenant`` for ``Router.route(workflow=)``,
    ``Router.end_program`` and ``Request(workflow=)``: a fixed 63-bit hash of both, stable
    across processes and versions (two tenants' programs of one id get different keys). Raises
    :class:`InvalidRequest` naming ``workflow`` unless the id follows the id grammar."""
