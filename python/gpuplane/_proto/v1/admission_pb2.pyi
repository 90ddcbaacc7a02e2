from gpuplane._proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ADMIT: _ClassVar[Verdict]
    VERDICT_QUEUE: _ClassVar[Verdict]
    VERDICT_REJECT: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
VERDICT_ADMIT: Verdict
VERDICT_QUEUE: Verdict
VERDICT_REJECT: Verdict

class AdmitRequest(_message.Message):
    __slots__ = ("request_id", "tenant", "priority_class", "resources", "gpu_model", "tokens", "est_duration_s", "deadline_s", "queue_ahead", "service_rate", "program")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_CLASS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    GPU_MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    EST_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    QUEUE_AHEAD_FIELD_NUMBER: _ClassVar[int]
    SERVICE_RATE_FIELD_NUMBER: _ClassVar[int]
    PROGRAM_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    priority_class: str
    resources: _types_pb2.Resources
    gpu_model: str
    tokens: float
    est_duration_s: float
    deadline_s: float
    queue_ahead: float
    service_rate: float
    program: ProgramCall
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., priority_class: _Optional[str] = ..., resources: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., gpu_model: _Optional[str] = ..., tokens: _Optional[float] = ..., est_duration_s: _Optional[float] = ..., deadline_s: _Optional[float] = ..., queue_ahead: _Optional[float] = ..., service_rate: _Optional[float] = ..., program: _Optional[_Union[ProgramCall, _Mapping]] = ...) -> None: ...

class ProgramCall(_message.Message):
    __slots__ = ("workflow_id", "call_index")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_INDEX_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    call_index: int
    def __init__(self, workflow_id: _Optional[str] = ..., call_index: _Optional[int] = ...) -> None: ...

class AdmitResponse(_message.Message):
    __slots__ = ("verdict", "reason_code", "reason", "at")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    reason_code: str
    reason: str
    at: float
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., reason_code: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[float] = ...) -> None: ...

class FinishRequest(_message.Message):
    __slots__ = ("request_id", "more_calls")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MORE_CALLS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    more_calls: bool
    def __init__(self, request_id: _Optional[str] = ..., more_calls: _Optional[bool] = ...) -> None: ...

class FinishResponse(_message.Message):
    __slots__ = ("was_running",)
    WAS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    was_running: bool
    def __init__(self, was_running: _Optional[bool] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("id", "address", "model", "tenant", "kv_blocks", "block_size", "max_running")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    KV_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_RUNNING_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    model: str
    tenant: str
    kv_blocks: int
    block_size: int
    max_running: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., model: _Optional[str] = ..., tenant: _Optional[str] = ..., kv_blocks: _Optional[int] = ..., block_size: _Optional[int] = ..., max_running: _Optional[int] = ...) -> None: ...

class ReplicaLoad(_message.Message):
    __slots__ = ("replica_id", "waiting", "running", "kv_usage", "cached_block_hashes", "resident_adapters", "tenant_service", "waiting_blocks", "reflects_dispatch", "tenant_waiting")
    class TenantServiceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TenantWaitingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    KV_USAGE_FIELD_NUMBER: _ClassVar[int]
    CACHED_BLOCK_HASHES_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    TENANT_SERVICE_FIELD_NUMBER: _ClassVar[int]
    WAITING_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    REFLECTS_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    TENANT_WAITING_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    waiting: int
    running: int
    kv_usage: float
    cached_block_hashes: _containers.RepeatedScalarFieldContainer[int]
    resident_adapters: _containers.RepeatedScalarFieldContainer[str]
    tenant_service: _containers.ScalarMap[str, float]
    waiting_blocks: int
    reflects_dispatch: int
    tenant_waiting: _containers.ScalarMap[str, int]
    def __init__(self, replica_id: _Optional[str] = ..., waiting: _Optional[int] = ..., running: _Optional[int] = ..., kv_usage: _Optional[float] = ..., cached_block_hashes: _Optional[_Iterable[int]] = ..., resident_adapters: _Optional[_Iterable[str]] = ..., tenant_service: _Optional[_Mapping[str, float]] = ..., waiting_blocks: _Optional[int] = ..., reflects_dispatch: _Optional[int] = ..., tenant_waiting: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RouteRequest(_message.Message):
    __slots__ = ("request_id", "tenant", "model", "adapter", "block_hashes", "prompt_tokens", "workflow_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASHES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    model: str
    adapter: str
    block_hashes: _containers.RepeatedScalarFieldContainer[int]
    prompt_tokens: int
    workflow_id: str
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., model: _Optional[str] = ..., adapter: _Optional[str] = ..., block_hashes: _Optional[_Iterable[int]] = ..., prompt_tokens: _Optional[int] = ..., workflow_id: _Optional[str] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("replica_id", "address", "score", "reason", "prefix_blocks", "dispatch")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PREFIX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    address: str
    score: float
    reason: str
    prefix_blocks: int
    dispatch: int
    def __init__(self, replica_id: _Optional[str] = ..., address: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., prefix_blocks: _Optional[int] = ..., dispatch: _Optional[int] = ...) -> None: ...

class FinishRouteRequest(_message.Message):
    __slots__ = ("request_id", "input_tokens", "output_tokens")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    input_tokens: int
    output_tokens: int
    def __init__(self, request_id: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class FinishRouteResponse(_message.Message):
    __slots__ = ("replica_id",)
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    def __init__(self, replica_id: _Optional[str] = ...) -> None: ...

class RouteStreamRequest(_message.Message):
    __slots__ = ("routes", "finishes")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    FINISHES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteRequest]
    finishes: _containers.RepeatedCompositeFieldContainer[FinishRouteRequest]
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteRequest, _Mapping]]] = ..., finishes: _Optional[_Iterable[_Union[FinishRouteRequest, _Mapping]]] = ...) -> None: ...

class CallError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RouteResult(_message.Message):
    __slots__ = ("route", "error")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    route: RouteResponse
    error: CallError
    def __init__(self, route: _Optional[_Union[RouteResponse, _Mapping]] = ..., error: _Optional[_Union[CallError, _Mapping]] = ...) -> None: ...

class FinishRouteResult(_message.Message):
    __slots__ = ("finish", "error")
    FINISH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    finish: FinishRouteResponse
    error: CallError
    def __init__(self, finish: _Optional[_Union[FinishRouteResponse, _Mapping]] = ..., error: _Optional[_Union[CallError, _Mapping]] = ...) -> None: ...

class RouteStreamResponse(_message.Message):
    __slots__ = ("routes", "finishes")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    FINISHES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[RouteResult]
    finishes: _containers.RepeatedCompositeFieldContainer[FinishRouteResult]
    def __init__(self, routes: _Optional[_Iterable[_Union[RouteResult, _Mapping]]] = ..., finishes: _Optional[_Iterable[_Union[FinishRouteResult, _Mapping]]] = ...) -> None: ...

class RegisterReplicaRequest(_message.Message):
    __slots__ = ("replica",)
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    replica: Replica
    def __init__(self, replica: _Optional[_Union[Replica, _Mapping]] = ...) -> None: ...

class RegisterReplicaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReportLoadRequest(_message.Message):
    __slots__ = ("load",)
    LOAD_FIELD_NUMBER: _ClassVar[int]
    load: ReplicaLoad
    def __init__(self, load: _Optional[_Union[ReplicaLoad, _Mapping]] = ...) -> None: ...

class ReportLoadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListReplicasRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ReplicaStatus(_message.Message):
    __slots__ = ("replica", "load", "routed")
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    ROUTED_FIELD_NUMBER: _ClassVar[int]
    replica: Replica
    load: ReplicaLoad
    routed: int
    def __init__(self, replica: _Optional[_Union[Replica, _Mapping]] = ..., load: _Optional[_Union[ReplicaLoad, _Mapping]] = ..., routed: _Optional[int] = ...) -> None: ...

class ListReplicasResponse(_message.Message):
    __slots__ = ("replicas", "next_page_token")
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaStatus]
    next_page_token: str
    def __init__(self, replicas: _Optional[_Iterable[_Union[ReplicaStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
