from gpuplane._proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GpuState(_message.Message):
    __slots__ = ("gpu_id", "memory_total_mib", "memory_used_mib", "memory_external_mib", "utilization_percent", "healthy", "xid_events", "process_pids")
    GPU_ID_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MIB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_EXTERNAL_MIB_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    XID_EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_PIDS_FIELD_NUMBER: _ClassVar[int]
    gpu_id: str
    memory_total_mib: int
    memory_used_mib: int
    memory_external_mib: int
    utilization_percent: int
    healthy: bool
    xid_events: _containers.RepeatedScalarFieldContainer[int]
    process_pids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, gpu_id: _Optional[str] = ..., memory_total_mib: _Optional[int] = ..., memory_used_mib: _Optional[int] = ..., memory_external_mib: _Optional[int] = ..., utilization_percent: _Optional[int] = ..., healthy: _Optional[bool] = ..., xid_events: _Optional[_Iterable[int]] = ..., process_pids: _Optional[_Iterable[int]] = ...) -> None: ...

class NodeStateReport(_message.Message):
    __slots__ = ("node", "inventory", "gpus", "timestamp")
    NODE_FIELD_NUMBER: _ClassVar[int]
    INVENTORY_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    node: str
    inventory: _types_pb2.Node
    gpus: _containers.RepeatedCompositeFieldContainer[GpuState]
    timestamp: float
    def __init__(self, node: _Optional[str] = ..., inventory: _Optional[_Union[_types_pb2.Node, _Mapping]] = ..., gpus: _Optional[_Iterable[_Union[GpuState, _Mapping]]] = ..., timestamp: _Optional[float] = ...) -> None: ...

class NodeStateAck(_message.Message):
    __slots__ = ("seq", "drained_gpus", "displaced", "error")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    DRAINED_GPUS_FIELD_NUMBER: _ClassVar[int]
    DISPLACED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    seq: int
    drained_gpus: _containers.RepeatedScalarFieldContainer[str]
    displaced: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, seq: _Optional[int] = ..., drained_gpus: _Optional[_Iterable[str]] = ..., displaced: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...
