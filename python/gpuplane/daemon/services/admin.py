"""``AdminService``: tenants, priority classes and quotas (admin token required)."""

from __future__ import annotations

import time

import grpc

from gpuplane._proto.v1 import admin_pb2 as am
from gpuplane._proto.v1 import admin_pb2_grpc
from gpuplane.daemon import convert
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.state import TenantView


def view_to_pb(v: TenantView) -> am.TenantStatus:
    """A tenant view (its spec and the core's figures) as a message."""
    tenant = convert.tenant_to_pb(v.spec) if "quota" in v.spec else convert.pb.Tenant(name=v.spec["name"])
    f = v.figures
    return am.TenantStatus(
        tenant=tenant,
        placed_workloads=f.placed_workloads,
        placed_gpus=f.placed_gpus,
        placed_memory_mib=f.placed_memory_mib,
        admitted=f.admitted,
        queued=f.queued,
        allocated=convert.resources_to_pb(f.allocated),
        usage=convert.resources_to_pb(f.usage),
        fair_share=convert.resources_to_pb(f.fair_share),
        dominant_share=f.dominant_share,
    )


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """Admin RPCs over one :class:`Engine`; every call needs the admin principal."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def PutTenant(
        self, request: am.PutTenantRequest, context: grpc.aio.ServicerContext
    ) -> am.PutTenantResponse:
        """Creates or replaces a tenant."""
        self.engine.access.check("PutTenant", None)
        op = {
            "op": "put_tenant",
            "tenant": convert.tenant_dict(convert.required(request, "tenant")),
            "create_only": request.create_only,
        }
        return am.PutTenantResponse(created=await self.engine.mutate(op, "PutTenant"))

    async def GetTenant(
        self, request: am.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> am.TenantStatus:
        """One tenant and what it holds."""
        self.engine.access.check("GetTenant", None)
        name = convert.text(request.name, "name")
        return view_to_pb(self.engine.state.tenant_view(name, time.time()))

    async def ListTenants(
        self, request: am.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> am.ListTenantsResponse:
        """Every tenant and what it holds."""
        self.engine.access.check("ListTenants", None)
        views = self.engine.state.tenant_views(time.time())
        return am.ListTenantsResponse(tenants=[view_to_pb(v) for v in views])

    async def DeleteTenant(
        self, request: am.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> am.DeleteTenantResponse:
        """Deletes a tenant without children or work (else FAILED_PRECONDITION)."""
        self.engine.access.check("DeleteTenant", None)
        await self.engine.mutate({"op": "delete_tenant", "name": convert.text(request.name, "name")})
        return am.DeleteTenantResponse()

    async def SetQuota(
        self, request: am.SetQuotaRequest, context: grpc.aio.ServicerContext
    ) -> am.SetQuotaResponse:
        """Replaces a tenant's quota."""
        self.engine.access.check("SetQuota", None)
        name = convert.text(request.tenant, "tenant")
        quota = convert.quota_dict(convert.required(request, "quota"))
        spec = self.engine.state.registry.quota_spec(name, quota)
        await self.engine.mutate({"op": "put_tenant", "tenant": spec, "create_only": False}, "SetQuota")
        return am.SetQuotaResponse()

    async def PutClass(
        self, request: am.PutClassRequest, context: grpc.aio.ServicerContext
    ) -> am.PutClassResponse:
        """Adds or replaces a priority class."""
        self.engine.access.check("PutClass", None)
        spec = convert.class_dict(convert.required(request, "priority_class"))
        await self.engine.mutate({"op": "put_class", "class": spec})
        return am.PutClassResponse()

    async def ListClasses(
        self, request: am.ListClassesRequest, context: grpc.aio.ServicerContext
    ) -> am.ListClassesResponse:
        """Every priority class."""
        self.engine.access.check("ListClasses", None)
        classes = self.engine.state.registry.classes.values()
        return am.ListClassesResponse(classes=[convert.class_to_pb(c) for c in classes])

    async def DeleteClass(
        self, request: am.DeleteClassRequest, context: grpc.aio.ServicerContext
    ) -> am.DeleteClassResponse:
        """Deletes a priority class."""
        self.engine.access.check("DeleteClass", None)
        await self.engine.mutate({"op": "delete_class", "name": convert.text(request.name, "name")})
        return am.DeleteClassResponse()
