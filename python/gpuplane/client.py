"""``gpuplane.Client``: a typed, synchronous client of ``gpuplane serve``.

Each method is one RPC; results are frozen values (``gpuplane.client_values``) and failures
raise the same exception classes the core raises in-process (``InvalidRequest`` with its
``field``, ``NotFound``, ``Conflict``, ``CapacityError``, ``QuotaExceeded``, ...), rebuilt from
the status code and the ``gpuplane-error`` trailer.

>>> with gpuplane.Client("127.0.0.1:50151") as c:           # doctest: +SKIP
...     c.place(gpuplane.Workload("llama-70b", memory_mib=40_000, gpu_count=2))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from gpuplane import errors as gerrors
from gpuplane._core import Placement, Workload
from gpuplane._proto.v1 import admin_pb2 as am
from gpuplane._proto.v1 import admin_pb2_grpc, admission_pb2_grpc, placement_pb2_grpc
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane._proto.v1 import types_pb2 as pb
from gpuplane.client_values import (
    ClusterView,
    ColumnsOutcome,
    Decision,
    Event,
    PlaceOutcome,
    PreemptionPlan,
    Quota,
    ReplicaView,
    Route,
    RouteStreamResult,
    TenantStatus,
)
from gpuplane.wire.messages import placement_from_pb, plan_to_pb, workload_to_pb
from gpuplane.wire.status import error_from

DEFAULT_TARGET = "127.0.0.1:50151"


def _ints(values: Sequence[int] | Any) -> Sequence[int]:
    """A numpy array as a list of Python ints (what protobuf takes); other sequences as they are."""
    return values.tolist() if hasattr(values, "tolist") else values


class ServiceError(gerrors.GpuplaneError):
    """A failure that is not one of gpuplane's errors (transport, deadline, server bug)."""

    def __init__(self, message: str, code: grpc.StatusCode):
        super().__init__(message)
        self.code = code


def from_rpc_error(e: grpc.RpcError) -> gerrors.GpuplaneError:
    """The gpuplane exception an RPC failed with (``ServiceError`` when it is none of them)."""
    code, details = e.code(), e.details() or ""
    error = error_from(code, details, dict(e.trailing_metadata() or ()))
    return error if error is not None else ServiceError(f"{code.name}: {details}", code)


def channel_credentials(
    tls_ca: str | Path | None, tls_cert: str | Path | None, tls_key: str | Path | None
) -> grpc.ChannelCredentials:
    """TLS credentials from PEM files (client certificate optional)."""

    def read(p: str | Path | None) -> bytes | None:
        return Path(p).read_bytes() if p else None

    return grpc.ssl_channel_credentials(read(tls_ca), read(tls_key), read(tls_cert))


class Client:
    """A connection to a gpuplane daemon. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        tls: bool = False,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        server_name: str | None = None,
        timeout: float | None = 10.0,
        max_message_bytes: int = 64 * 1024 * 1024,
    ):
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or tls_ca or tls_cert:
            creds = channel_credentials(tls_ca, tls_cert, tls_key)
            self.channel = grpc.secure_channel(target, creds, options)
        else:
            self.channel = grpc.insecure_channel(target, options)
        self.timeout = timeout
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.placement = placement_pb2_grpc.PlacementServiceStub(self.channel)
        self.admission = admission_pb2_grpc.AdmissionServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel."""
        self.channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    # ---- placement -------------------------------------------------------------------------

    def place(self, workload: Workload, policy: str | None = None) -> Placement:
        """Places a workload; raises ``CapacityError`` when nothing fits."""
        request = pp.PlaceRequest(workload=workload_to_pb(workload), policy=policy or "")
        return placement_from_pb(self._call(self.placement.Place, request).placement)

    def place_batch(self, workloads: Iterable[Workload], policy: str | None = None) -> list[PlaceOutcome]:
        """Places each workload independently in one call."""
        request = pp.PlaceBatchRequest(workloads=[workload_to_pb(w) for w in workloads], policy=policy or "")
        return [
            PlaceOutcome(
                r.workload_id, placement_from_pb(r.placement) if r.placed else None, r.code, r.reason
            )
            for r in self._call(self.placement.PlaceBatch, request).results
        ]

    def place_columns(
        self,
        ids: Sequence[str],
        memory_mib: Sequence[int],
        gpu_count: Sequence[int],
        *,
        tenant: str = "default",
        compute_milli: Sequence[int] | None = None,
        cpu_milli: Sequence[int] | None = None,
        host_memory_mib: Sequence[int] | None = None,
        priority: Sequence[int] | None = None,
        allowed_models: Sequence[Sequence[str]] | None = None,
        node_selector: Sequence[Mapping[str, str]] | None = None,
        policy: str | None = None,
    ) -> ColumnsOutcome:
        """The bulk fast path: places ``ids[i]`` with ``memory_mib[i]`` per GPU on
        ``gpu_count[i]`` GPUs, in order, all for ``tenant``. Columns are sequences or numpy
        integer arrays; ``allowed_models[i]`` and ``node_selector[i]`` constrain entry i. Bad
        input refuses the whole call (``InvalidRequest`` naming ``columns.<name>[i]``);
        workloads that do not fit, or that the tenant's quota refuses, come back not placed."""
        columns = pp.WorkloadColumns(ids=ids, memory_mib=_ints(memory_mib), gpu_count=_ints(gpu_count))
        for models in allowed_models or ():
            columns.allowed_models.add(models=models)
        for labels in node_selector or ():
            columns.node_selector.add(labels=labels)
        for name, values in (
            ("compute_milli", compute_milli),
            ("cpu_milli", cpu_milli),
            ("host_memory_mib", host_memory_mib),
            ("priority", priority),
        ):
            if values is not None:
                getattr(columns, name).extend(_ints(values))
        request = pp.PlaceColumnsRequest(tenant=tenant, columns=columns, policy=policy or "")
        response = self._call(self.placement.PlaceColumns, request)
        return ColumnsOutcome.from_pb(ids, columns.gpu_count, response)

    def release(self, workload_id: str) -> Placement:
        """Frees what a workload holds; returns where it was."""
        response = self._call(self.placement.Release, pp.ReleaseRequest(workload_id=workload_id))
        return placement_from_pb(response.placement)

    def release_batch(self, workload_ids: Sequence[str]) -> list[bool]:
        """Releases many workloads; False where an id was not placed."""
        response = self._call(self.placement.ReleaseBatch, pp.ReleaseBatchRequest(workload_ids=workload_ids))
        return list(response.released)

    def preemption_plan(self, workload: Workload) -> PreemptionPlan | None:
        """The cheapest victims that let ``workload`` fit, or None."""
        request = pp.PreemptionPlanRequest(workload=workload_to_pb(workload))
        response = self._call(self.placement.PreemptionPlan, request)
        return PreemptionPlan.from_pb(response.plan) if response.found else None

    def preempt(self, plan: PreemptionPlan) -> tuple[Placement, list[str]]:
        """Executes a plan; raises ``StalePlan`` if the cluster changed since."""
        response = self._call(self.placement.Preempt, pp.PreemptRequest(plan=plan_to_pb(plan)))
        return placement_from_pb(response.placement), list(response.evicted)

    def drain(
        self, *, gpu_id: str | None = None, node: str | None = None, undrain: bool = False
    ) -> list[str]:
        """Marks a GPU or a node's GPUs unhealthy (or healthy again); returns displaced ids."""
        request = pp.DrainRequest(undrain=undrain)
        if gpu_id is not None:
            request.gpu_id = gpu_id
        if node is not None:
            request.node = node
        return list(self._call(self.placement.Drain, request).displaced)

    def cluster(self, *, gpus: bool = True, placements: bool = True) -> ClusterView:
        """Capacity, usage, GPUs and placements."""
        request = pp.GetClusterRequest(include_gpus=gpus, include_placements=placements)
        return ClusterView.from_pb(self._call(self.placement.GetCluster, request))

    def watch(self, kinds: Sequence[str] = (), timeout: float | None = None) -> Iterator[Event]:
        """Acknowledged events as they happen (``placed``, ``released``, ``drained``...)."""
        request = pp.WatchEventsRequest(kinds=[pp.EventKind.Value(f"EVENT_KIND_{k.upper()}") for k in kinds])
        stream = self.placement.WatchEvents(request, timeout=timeout, metadata=self.metadata)
        try:
            for m in stream:
                yield Event.from_pb(m)
        except grpc.RpcError as e:
            if e.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
                raise from_rpc_error(e) from None
        finally:
            stream.cancel()

    # ---- admission and routing -------------------------------------------------------------

    def admit(
        self,
        request_id: str,
        tenant: str,
        *,
        resources: Mapping[str, float] | None = None,
        priority_class: str = "default",
        gpu_model: str = "",
        tokens: float = 0.0,
        est_duration_s: float = 0.0,
        deadline_s: float | None = None,
        queue_ahead: float = 0.0,
        service_rate: float = 0.0,
        workflow: str | None = None,
        call_index: int = 0,
    ) -> Decision:
        """Admit, queue or reject a request (decided by the core policy engine). With
        ``workflow`` it is call ``call_index`` of that agent program (calls in order from 0)."""
        program = None if workflow is None else ap.ProgramCall(workflow_id=workflow, call_index=call_index)
        request = ap.AdmitRequest(
            program=program,
            request_id=request_id,
            tenant=tenant,
            priority_class=priority_class,
            resources=pb.Resources(**(resources or {})),
            gpu_model=gpu_model,
            tokens=tokens,
            est_duration_s=est_duration_s,
            deadline_s=deadline_s,
            queue_ahead=queue_ahead,
            service_rate=service_rate,
        )
        return Decision.from_pb(self._call(self.admission.Admit, request))

    def finish(self, request_id: str, *, more_calls: bool = False) -> bool:
        """Releases an admitted request (True) or cancels a queued one (False). A program's call
        completes its program unless ``more_calls``."""
        request = ap.FinishRequest(request_id=request_id, more_calls=more_calls)
        return self._call(self.admission.Finish, request).was_running

    def register_replica(
        self, replica_id: str, *, address: str = "", model: str = "", tenant: str = "", max_running: int = 0
    ) -> None:
        """Registers an engine replica."""
        replica = ap.Replica(
            id=replica_id, address=address, model=model, tenant=tenant, max_running=max_running
        )
        self._call(self.admission.RegisterReplica, ap.RegisterReplicaRequest(replica=replica))

    def report_load(
        self,
        replica_id: str,
        *,
        waiting: int = 0,
        running: int = 0,
        kv_usage: float = 0.0,
        cached_block_hashes: Sequence[int] = (),
        resident_adapters: Sequence[str] = (),
        tenant_service: Mapping[str, float] | None = None,
        waiting_blocks: int = 0,
        reflects_dispatch: int | None = None,
        tenant_waiting: Mapping[str, int] | None = None,
    ) -> None:
        """Reports a replica's load; ``reflects_dispatch``: the last routed ``dispatch`` it
        includes (later dispatches keep counting as its load); ``tenant_waiting``: its waiting
        requests per tenant (the router's queue-share term)."""
        load = ap.ReplicaLoad(
            replica_id=replica_id,
            waiting=waiting,
            running=running,
            kv_usage=kv_usage,
            waiting_blocks=waiting_blocks,
            cached_block_hashes=cached_block_hashes,
            resident_adapters=resident_adapters,
            tenant_service=tenant_service or {},
            reflects_dispatch=reflects_dispatch,
            tenant_waiting=tenant_waiting or {},
        )
        self._call(self.admission.ReportLoad, ap.ReportLoadRequest(load=load))

    def route(
        self,
        tenant: str = "default",
        *,
        model: str = "",
        adapter: str = "",
        block_hashes: Sequence[int] = (),
        prompt_tokens: int = 0,
        request_id: str = "",
        workflow: str | None = None,
    ) -> Route:
        """The best registered replica for a request (tracked until :meth:`finish_route` when it
        has a ``request_id``). With a ``workflow`` id (agent program: the id given to
        :meth:`admit`), the program's next call prefers this call's replica unless load says
        otherwise, until :meth:`finish` of its last call."""
        request = ap.RouteRequest(
            request_id=request_id,
            tenant=tenant,
            model=model,
            adapter=adapter,
            block_hashes=block_hashes,
            prompt_tokens=prompt_tokens,
            workflow_id=workflow,
        )
        return Route.from_pb(self._call(self.admission.Route, request))

    def finish_route(self, request_id: str, *, input_tokens: int = 0, output_tokens: int = 0) -> str:
        """A routed request is done; its tenant is charged what it was served. Returns the replica."""
        request = ap.FinishRouteRequest(
            request_id=request_id, input_tokens=input_tokens, output_tokens=output_tokens
        )
        return self._call(self.admission.FinishRoute, request).replica_id

    def route_stream(self, messages: Iterable[ap.RouteStreamRequest]) -> Iterator[RouteStreamResult]:
        """The RouteStream RPC: many Route and FinishRoute calls per message, one result per
        message in order; each call's outcome holds its :class:`Route` (the type unary
        :meth:`route` returns) or finished replica, or the code and reason it was refused."""
        try:
            for response in self.admission.RouteStream(iter(messages), metadata=self.metadata):
                yield RouteStreamResult.from_pb(response)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def replicas(self) -> list[ReplicaView]:
        """Registered replicas and their last load."""
        views, token = [], ""
        while True:
            response = self._call(self.admission.ListReplicas, ap.ListReplicasRequest(page_token=token))
            views += [ReplicaView.from_pb(r) for r in response.replicas]
            token = response.next_page_token
            if not token:
                return views

    # ---- admin -----------------------------------------------------------------------------

    def put_tenant(
        self,
        name: str,
        *,
        parent: str | None = None,
        quota: Quota | None = None,
        max_queued: int | None = None,
        budget: float | None = None,
        create_only: bool = False,
    ) -> bool:
        """Creates or replaces a tenant; True when created."""
        tenant = pb.Tenant(name=name, parent=parent or "", quota=(quota or Quota()).to_pb())
        if max_queued is not None:
            tenant.max_queued = max_queued
        if budget is not None:
            tenant.budget = budget
        request = am.PutTenantRequest(tenant=tenant, create_only=create_only)
        return self._call(self.admin.PutTenant, request).created

    def set_quota(self, tenant: str, quota: Quota) -> None:
        """Replaces a tenant's quota."""
        self._call(self.admin.SetQuota, am.SetQuotaRequest(tenant=tenant, quota=quota.to_pb()))

    def tenant(self, name: str) -> TenantStatus:
        """One tenant and what it holds."""
        return TenantStatus.from_pb(self._call(self.admin.GetTenant, am.GetTenantRequest(name=name)))

    def tenants(self) -> list[TenantStatus]:
        """Every tenant and what it holds."""
        return [
            TenantStatus.from_pb(t)
            for t in self._call(self.admin.ListTenants, am.ListTenantsRequest()).tenants
        ]

    def delete_tenant(self, name: str) -> None:
        """Deletes a tenant without children or work."""
        self._call(self.admin.DeleteTenant, am.DeleteTenantRequest(name=name))

    def put_class(self, name: str, value: int, preemptible: bool = True) -> None:
        """Adds or replaces a priority class."""
        cls = pb.PriorityClass(name=name, value=value, preemptible=preemptible)
        self._call(self.admin.PutClass, am.PutClassRequest(priority_class=cls))

    def classes(self) -> dict[str, tuple[int, bool]]:
        """Priority classes: name -> (value, preemptible)."""
        response = self._call(self.admin.ListClasses, am.ListClassesRequest())
        return {c.name: (c.value, c.preemptible) for c in response.classes}

    def delete_class(self, name: str) -> None:
        """Deletes a priority class."""
        self._call(self.admin.DeleteClass, am.DeleteClassRequest(name=name))

    # ---- health ----------------------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """``SERVING``, ``NOT_SERVING`` or ``UNKNOWN`` from the standard health service."""
        # Imported here: the engines that only report to the service (gpuplane.vllm in vLLM's
        # environment) need no health package.
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        response = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Waits until the channel connects (raises ``ServiceError`` after ``timeout``)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceError(f"no server answered within {timeout}s", grpc.StatusCode.UNAVAILABLE) from None
