from gpuplane._proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_KIND_UNSPECIFIED: _ClassVar[EventKind]
    EVENT_KIND_PLACED: _ClassVar[EventKind]
    EVENT_KIND_RELEASED: _ClassVar[EventKind]
    EVENT_KIND_PREEMPTED: _ClassVar[EventKind]
    EVENT_KIND_DRAINED: _ClassVar[EventKind]
    EVENT_KIND_UNDRAINED: _ClassVar[EventKind]
    EVENT_KIND_NODE_ADDED: _ClassVar[EventKind]
    EVENT_KIND_NODE_REMOVED: _ClassVar[EventKind]
    EVENT_KIND_DISPLACED: _ClassVar[EventKind]
EVENT_KIND_UNSPECIFIED: EventKind
EVENT_KIND_PLACED: EventKind
EVENT_KIND_RELEASED: EventKind
EVENT_KIND_PREEMPTED: EventKind
EVENT_KIND_DRAINED: EventKind
EVENT_KIND_UNDRAINED: EventKind
EVENT_KIND_NODE_ADDED: EventKind
EVENT_KIND_NODE_REMOVED: EventKind
EVENT_KIND_DISPLACED: EventKind

class PlaceRequest(_message.Message):
    __slots__ = ("workload", "policy")
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    workload: _types_pb2.Workload
    policy: str
    def __init__(self, workload: _Optional[_Union[_types_pb2.Workload, _Mapping]] = ..., policy: _Optional[str] = ...) -> None: ...

class PlaceResponse(_message.Message):
    __slots__ = ("placement",)
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    placement: _types_pb2.Placement
    def __init__(self, placement: _Optional[_Union[_types_pb2.Placement, _Mapping]] = ...) -> None: ...

class PlaceBatchRequest(_message.Message):
    __slots__ = ("workloads", "policy")
    WORKLOADS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    workloads: _containers.RepeatedCompositeFieldContainer[_types_pb2.Workload]
    policy: str
    def __init__(self, workloads: _Optional[_Iterable[_Union[_types_pb2.Workload, _Mapping]]] = ..., policy: _Optional[str] = ...) -> None: ...

class PlaceResult(_message.Message):
    __slots__ = ("workload_id", "placed", "placement", "code", "reason")
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    workload_id: str
    placed: bool
    placement: _types_pb2.Placement
    code: str
    reason: str
    def __init__(self, workload_id: _Optional[str] = ..., placed: _Optional[bool] = ..., placement: _Optional[_Union[_types_pb2.Placement, _Mapping]] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PlaceBatchResponse(_message.Message):
    __slots__ = ("results", "placed")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PlaceResult]
    placed: int
    def __init__(self, results: _Optional[_Iterable[_Union[PlaceResult, _Mapping]]] = ..., placed: _Optional[int] = ...) -> None: ...

class WorkloadColumns(_message.Message):
    __slots__ = ("ids", "memory_mib", "gpu_count", "compute_milli", "cpu_milli", "host_memory_mib", "priority", "allowed_models", "node_selector")
    IDS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MILLI_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLI_FIELD_NUMBER: _ClassVar[int]
    HOST_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    memory_mib: _containers.RepeatedScalarFieldContainer[int]
    gpu_count: _containers.RepeatedScalarFieldContainer[int]
    compute_milli: _containers.RepeatedScalarFieldContainer[int]
    cpu_milli: _containers.RepeatedScalarFieldContainer[int]
    host_memory_mib: _containers.RepeatedScalarFieldContainer[int]
    priority: _containers.RepeatedScalarFieldContainer[int]
    allowed_models: _containers.RepeatedCompositeFieldContainer[_types_pb2.ModelList]
    node_selector: _containers.RepeatedCompositeFieldContainer[_types_pb2.NodeSelector]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., memory_mib: _Optional[_Iterable[int]] = ..., gpu_count: _Optional[_Iterable[int]] = ..., compute_milli: _Optional[_Iterable[int]] = ..., cpu_milli: _Optional[_Iterable[int]] = ..., host_memory_mib: _Optional[_Iterable[int]] = ..., priority: _Optional[_Iterable[int]] = ..., allowed_models: _Optional[_Iterable[_Union[_types_pb2.ModelList, _Mapping]]] = ..., node_selector: _Optional[_Iterable[_Union[_types_pb2.NodeSelector, _Mapping]]] = ...) -> None: ...

class PlaceColumnsRequest(_message.Message):
    __slots__ = ("tenant", "columns", "policy")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    columns: WorkloadColumns
    policy: str
    def __init__(self, tenant: _Optional[str] = ..., columns: _Optional[_Union[WorkloadColumns, _Mapping]] = ..., policy: _Optional[str] = ...) -> None: ...

class PlaceColumnsResponse(_message.Message):
    __slots__ = ("placed", "node", "gpu_ids", "count")
    PLACED_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPU_IDS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    placed: _containers.RepeatedScalarFieldContainer[bool]
    node: _containers.RepeatedScalarFieldContainer[str]
    gpu_ids: _containers.RepeatedScalarFieldContainer[str]
    count: int
    def __init__(self, placed: _Optional[_Iterable[bool]] = ..., node: _Optional[_Iterable[str]] = ..., gpu_ids: _Optional[_Iterable[str]] = ..., count: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("workload_id",)
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    workload_id: str
    def __init__(self, workload_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("placement",)
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    placement: _types_pb2.Placement
    def __init__(self, placement: _Optional[_Union[_types_pb2.Placement, _Mapping]] = ...) -> None: ...

class ReleaseBatchRequest(_message.Message):
    __slots__ = ("workload_ids",)
    WORKLOAD_IDS_FIELD_NUMBER: _ClassVar[int]
    workload_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workload_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ReleaseBatchResponse(_message.Message):
    __slots__ = ("released", "count")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    released: _containers.RepeatedScalarFieldContainer[bool]
    count: int
    def __init__(self, released: _Optional[_Iterable[bool]] = ..., count: _Optional[int] = ...) -> None: ...

class PreemptionPlanRequest(_message.Message):
    __slots__ = ("workload",)
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    workload: _types_pb2.Workload
    def __init__(self, workload: _Optional[_Union[_types_pb2.Workload, _Mapping]] = ...) -> None: ...

class PreemptionPlanResponse(_message.Message):
    __slots__ = ("found", "plan")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    found: bool
    plan: _types_pb2.PreemptionPlan
    def __init__(self, found: _Optional[bool] = ..., plan: _Optional[_Union[_types_pb2.PreemptionPlan, _Mapping]] = ...) -> None: ...

class PreemptRequest(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _types_pb2.PreemptionPlan
    def __init__(self, plan: _Optional[_Union[_types_pb2.PreemptionPlan, _Mapping]] = ...) -> None: ...

class PreemptResponse(_message.Message):
    __slots__ = ("placement", "evicted")
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    placement: _types_pb2.Placement
    evicted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, placement: _Optional[_Union[_types_pb2.Placement, _Mapping]] = ..., evicted: _Optional[_Iterable[str]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("gpu_id", "node", "undrain", "reason")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    UNDRAIN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    node: str
    undrain: bool
    reason: str
    def __init__(self, gpu_id: _Optional[str] = ..., node: _Optional[str] = ..., undrain: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("displaced", "gpu_ids")
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    GPU_IDS_FIELD_NUMBER: _ClassVar[int]
    displaced: _containers.RepeatedScalarFieldContainer[str]
    gpu_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, displaced: _Optional[_Iterable[str]] = ..., gpu_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetClusterRequest(_message.Message):
    __slots__ = ("include_gpus", "include_placements")
    INCLUDE_GPUS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    include_gpus: bool
    include_placements: bool
    def __init__(self, include_gpus: _Optional[bool] = ..., include_placements: _Optional[bool] = ...) -> None: ...

class GetClusterResponse(_message.Message):
    __slots__ = ("stats", "placements", "policy", "inventory_source")
    STATS_FIELD_NUMBER: _ClassVar[int]
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    INVENTORY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    stats: _types_pb2.ClusterStats
    placements: _containers.RepeatedCompositeFieldContainer[_types_pb2.Placement]
    policy: str
    inventory_source: str
    def __init__(self, stats: _Optional[_Union[_types_pb2.ClusterStats, _Mapping]] = ..., placements: _Optional[_Iterable[_Union[_types_pb2.Placement, _Mapping]]] = ..., policy: _Optional[str] = ..., inventory_source: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[EventKind]
    def __init__(self, kinds: _Optional[_Iterable[_Union[EventKind, str]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("seq", "kind", "workload_id", "node", "gpu_ids", "tenant", "detail")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPU_IDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    kind: EventKind
    workload_id: str
    node: str
    gpu_ids: _containers.RepeatedScalarFieldContainer[str]
    tenant: str
    detail: str
    def __init__(self, seq: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., workload_id: _Optional[str] = ..., node: _Optional[str] = ..., gpu_ids: _Optional[_Iterable[str]] = ..., tenant: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...
