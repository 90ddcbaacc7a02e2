from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Workload(_message.Message):
    __slots__ = ("id", "tenant", "memory_mib", "gpu_count", "compute_milli", "cpu_milli", "host_memory_mib", "allowed_models", "node_selector", "priority", "preemptible", "priority_class")
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MILLI_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLI_FIELD_NUMBER: _ClassVar[int]
    HOST_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIBLE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_CLASS_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    memory_mib: int
    gpu_count: int
    compute_milli: int
    cpu_milli: int
    host_memory_mib: int
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    node_selector: _containers.ScalarMap[str, str]
    priority: int
    preemptible: bool
    priority_class: str
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., memory_mib: _Optional[int] = ..., gpu_count: _Optional[int] = ..., compute_milli: _Optional[int] = ..., cpu_milli: _Optional[int] = ..., host_memory_mib: _Optional[int] = ..., allowed_models: _Optional[_Iterable[str]] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., priority: _Optional[int] = ..., preemptible: _Optional[bool] = ..., priority_class: _Optional[str] = ...) -> None: ...

class ModelList(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[str]] = ...) -> None: ...

class NodeSelector(_message.Message):
    __slots__ = ("labels",)
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("workload_id", "node", "gpu_ids", "memory_mib", "compute_milli", "policy", "score", "reason", "tenant")
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPU_IDS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MILLI_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    workload_id: str
    node: str
    gpu_ids: _containers.RepeatedScalarFieldContainer[str]
    memory_mib: int
    compute_milli: int
    policy: str
    score: float
    reason: str
    tenant: str
    def __init__(self, workload_id: _Optional[str] = ..., node: _Optional[str] = ..., gpu_ids: _Optional[_Iterable[str]] = ..., memory_mib: _Optional[int] = ..., compute_milli: _Optional[int] = ..., policy: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class PreemptionPlan(_message.Message):
    __slots__ = ("workload", "node", "victims", "evicted_memory_mib", "reason")
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    VICTIMS_FIELD_NUMBER: _ClassVar[int]
    EVICTED_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workload: Workload
    node: str
    victims: _containers.RepeatedScalarFieldContainer[str]
    evicted_memory_mib: int
    reason: str
    def __init__(self, workload: _Optional[_Union[Workload, _Mapping]] = ..., node: _Optional[str] = ..., victims: _Optional[_Iterable[str]] = ..., evicted_memory_mib: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GpuSpec(_message.Message):
    __slots__ = ("id", "model", "memory_mib", "compute_milli", "topology_group")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MILLI_FIELD_NUMBER: _ClassVar[int]
    TOPOLOGY_GROUP_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    memory_mib: int
    compute_milli: int
    topology_group: str
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., memory_mib: _Optional[int] = ..., compute_milli: _Optional[int] = ..., topology_group: _Optional[str] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("name", "gpus", "cpu_milli", "memory_mib", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLI_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    gpus: _containers.RepeatedCompositeFieldContainer[GpuSpec]
    cpu_milli: int
    memory_mib: int
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., gpus: _Optional[_Iterable[_Union[GpuSpec, _Mapping]]] = ..., cpu_milli: _Optional[int] = ..., memory_mib: _Optional[int] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Totals(_message.Message):
    __slots__ = ("gpus", "healthy_gpus", "memory_total_mib", "memory_used_mib", "memory_external_mib", "memory_free_mib", "compute_total_milli", "compute_used_milli", "compute_free_milli")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_GPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_EXTERNAL_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_MIB_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TOTAL_MILLI_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_USED_MILLI_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FREE_MILLI_FIELD_NUMBER: _ClassVar[int]
    gpus: int
    healthy_gpus: int
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    memory_free_mib: int
    compute_total_milli: int
    compute_used_milli: int
    compute_free_milli: int
    def __init__(self, gpus: _Optional[int] = ..., healthy_gpus: _Optional[int] = ..., memory_total_mib: _Optional[int] = ..., memory_used_mib: _Optional[int] = ..., memory_external_mib: _Optional[int] = ..., memory_free_mib: _Optional[int] = ..., compute_total_milli: _Optional[int] = ..., compute_used_milli: _Optional[int] = ..., compute_free_milli: _Optional[int] = ...) -> None: ...

class GpuStats(_message.Message):
    __slots__ = ("id", "node", "model", "healthy", "memory_total_mib", "memory_used_mib", "memory_external_mib", "memory_free_mib", "compute_total_milli", "compute_used_milli", "compute_free_milli", "workloads")
    ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_EXTERNAL_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_MIB_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TOTAL_MILLI_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_USED_MILLI_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_FREE_MILLI_FIELD_NUMBER: _ClassVar[int]
    WORKLOADS_FIELD_NUMBER: _ClassVar[int]
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
    def __init__(self, id: _Optional[str] = ..., node: _Optional[str] = ..., model: _Optional[str] = ..., healthy: _Optional[bool] = ..., memory_total_mib: _Optional[int] = ..., memory_used_mib: _Optional[int] = ..., memory_external_mib: _Optional[int] = ..., memory_free_mib: _Optional[int] = ..., compute_total_milli: _Optional[int] = ..., compute_used_milli: _Optional[int] = ..., compute_free_milli: _Optional[int] = ..., workloads: _Optional[int] = ...) -> None: ...

class ClusterStats(_message.Message):
    __slots__ = ("nodes", "workloads", "totals", "allocation_ratio", "memory_allocation_ratio", "compute_allocation_ratio", "fragmentation_gpus", "fragmentation_ratio", "gpus")
    NODES_FIELD_NUMBER: _ClassVar[int]
    WORKLOADS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    FRAGMENTATION_GPUS_FIELD_NUMBER: _ClassVar[int]
    FRAGMENTATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    nodes: int
    workloads: int
    totals: Totals
    allocation_ratio: float
    memory_allocation_ratio: float
    compute_allocation_ratio: float
    fragmentation_gpus: float
    fragmentation_ratio: float
    gpus: _containers.RepeatedCompositeFieldContainer[GpuStats]
    def __init__(self, nodes: _Optional[int] = ..., workloads: _Optional[int] = ..., totals: _Optional[_Union[Totals, _Mapping]] = ..., allocation_ratio: _Optional[float] = ..., memory_allocation_ratio: _Optional[float] = ..., compute_allocation_ratio: _Optional[float] = ..., fragmentation_gpus: _Optional[float] = ..., fragmentation_ratio: _Optional[float] = ..., gpus: _Optional[_Iterable[_Union[GpuStats, _Mapping]]] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("gpus", "memory_mib", "tokens_per_s", "concurrent")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    gpus: float
    memory_mib: float
    tokens_per_s: float
    concurrent: float
    def __init__(self, gpus: _Optional[float] = ..., memory_mib: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., concurrent: _Optional[float] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("gpus", "memory_mib", "tokens_per_s", "concurrent")
    GPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    gpus: float
    memory_mib: float
    tokens_per_s: float
    concurrent: float
    def __init__(self, gpus: _Optional[float] = ..., memory_mib: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., concurrent: _Optional[float] = ...) -> None: ...

class Quota(_message.Message):
    __slots__ = ("guaranteed", "deserved", "limit", "over_quota_priority", "over_quota_weight")
    GUARANTEED_FIELD_NUMBER: _ClassVar[int]
    DESERVED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OVER_QUOTA_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    OVER_QUOTA_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    guaranteed: Resources
    deserved: Resources
    limit: Limits
    over_quota_priority: int
    over_quota_weight: float
    def __init__(self, guaranteed: _Optional[_Union[Resources, _Mapping]] = ..., deserved: _Optional[_Union[Resources, _Mapping]] = ..., limit: _Optional[_Union[Limits, _Mapping]] = ..., over_quota_priority: _Optional[int] = ..., over_quota_weight: _Optional[float] = ...) -> None: ...

class Tenant(_message.Message):
    __slots__ = ("name", "parent", "quota", "max_queued", "budget", "burst_tokens")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    BURST_TOKENS_FIELD_NUMBER: _ClassVar[int]
    name: str
    parent: str
    quota: Quota
    max_queued: int
    budget: float
    burst_tokens: float
    def __init__(self, name: _Optional[str] = ..., parent: _Optional[str] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ..., max_queued: _Optional[int] = ..., budget: _Optional[float] = ..., burst_tokens: _Optional[float] = ...) -> None: ...

class PriorityClass(_message.Message):
    __slots__ = ("name", "value", "preemptible")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIBLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    preemptible: bool
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ..., preemptible: _Optional[bool] = ...) -> None: ...
