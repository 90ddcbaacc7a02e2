from gpuplane._proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PutTenantRequest(_message.Message):
    __slots__ = ("tenant", "create_only")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    tenant: _types_pb2.Tenant
    create_only: bool
    def __init__(self, tenant: _Optional[_Union[_types_pb2.Tenant, _Mapping]] = ..., create_only: _Optional[bool] = ...) -> None: ...

class PutTenantResponse(_message.Message):
    __slots__ = ("created",)
    CREATED_FIELD_NUMBER: _ClassVar[int]
    created: bool
    def __init__(self, created: _Optional[bool] = ...) -> None: ...

class GetTenantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class TenantStatus(_message.Message):
    __slots__ = ("tenant", "placed_workloads", "placed_gpus", "admitted", "queued", "allocated", "usage", "fair_share", "placed_memory_mib", "dominant_share")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    PLACED_WORKLOADS_FIELD_NUMBER: _ClassVar[int]
    PLACED_GPUS_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FAIR_SHARE_FIELD_NUMBER: _ClassVar[int]
    PLACED_MEMORY_MIB_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_SHARE_FIELD_NUMBER: _ClassVar[int]
    tenant: _types_pb2.Tenant
    placed_workloads: int
    placed_gpus: int
    admitted: int
    queued: int
    allocated: _types_pb2.Resources
    usage: _types_pb2.Resources
    fair_share: _types_pb2.Resources
    placed_memory_mib: int
    dominant_share: float
    def __init__(self, tenant: _Optional[_Union[_types_pb2.Tenant, _Mapping]] = ..., placed_workloads: _Optional[int] = ..., placed_gpus: _Optional[int] = ..., admitted: _Optional[int] = ..., queued: _Optional[int] = ..., allocated: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., usage: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., fair_share: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., placed_memory_mib: _Optional[int] = ..., dominant_share: _Optional[float] = ...) -> None: ...

class ListTenantsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTenantsResponse(_message.Message):
    __slots__ = ("tenants",)
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    tenants: _containers.RepeatedCompositeFieldContainer[TenantStatus]
    def __init__(self, tenants: _Optional[_Iterable[_Union[TenantStatus, _Mapping]]] = ...) -> None: ...

class DeleteTenantRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteTenantResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("tenant", "quota")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    quota: _types_pb2.Quota
    def __init__(self, tenant: _Optional[str] = ..., quota: _Optional[_Union[_types_pb2.Quota, _Mapping]] = ...) -> None: ...

class SetQuotaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutClassRequest(_message.Message):
    __slots__ = ("priority_class",)
    PRIORITY_CLASS_FIELD_NUMBER: _ClassVar[int]
    priority_class: _types_pb2.PriorityClass
    def __init__(self, priority_class: _Optional[_Union[_types_pb2.PriorityClass, _Mapping]] = ...) -> None: ...

class PutClassResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClassesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClassesResponse(_message.Message):
    __slots__ = ("classes",)
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    classes: _containers.RepeatedCompositeFieldContainer[_types_pb2.PriorityClass]
    def __init__(self, classes: _Optional[_Iterable[_Union[_types_pb2.PriorityClass, _Mapping]]] = ...) -> None: ...

class DeleteClassRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteClassResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
