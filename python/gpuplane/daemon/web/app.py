"""The read-only web page of ``gpuplane serve``: the packing map, tenants, replicas and recent
decisions, refreshed live by polling ``/api/view``.

The page reads the same service calls as ``gpuplane status`` (``GetCluster``, ``ListTenants``,
``ListReplicas``), answered in-process by the daemon's own servicers, and turns their answers
into the same :class:`~gpuplane.status_view.StatusView`. Authentication is the gRPC
interceptor's (``auth.TokenInterceptor.authenticate``) on each call's method name, and the
servicers then authorize as they do for gRPC: a tenant's token sees its own placements and no
tenant list. The token comes as ``Authorization: Bearer``, or once as ``/?token=`` (which sets
an HttpOnly cookie and redirects, so a browser can open the page). Assets ship in the package.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TypeVar

from gpuplane._proto.v1 import admin_pb2 as am
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane.client_values import ClusterView, ReplicaView, TenantStatus
from gpuplane.daemon.auth import TokenInterceptor
from gpuplane.daemon.decisions import Decision
from gpuplane.daemon.engine import Engine
from gpuplane.daemon.hooks import Principal, current_principal, set_principal
from gpuplane.daemon.services.admin import AdminService
from gpuplane.daemon.services.admission import AdmissionService
from gpuplane.daemon.services.placement import PlacementService
from gpuplane.daemon.status import code_of, message_of
from gpuplane.daemon.web.http import Request, Response
from gpuplane.errors import GpuplaneError, PermissionDenied
from gpuplane.status_view import cluster_part, empty_cluster, status_view, to_json

T = TypeVar("T")
COOKIE = "gpuplane_token"
DECISIONS_SHOWN = 50
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
EMPTY_CLUSTER = empty_cluster()
GET_CLUSTER = "/gpuplane.v1.PlacementService/GetCluster"
LIST_TENANTS = "/gpuplane.v1.AdminService/ListTenants"
LIST_REPLICAS = "/gpuplane.v1.AdmissionService/ListReplicas"
HTTP_STATUS = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def asset(name: str) -> bytes:
    """A file shipped in ``gpuplane/daemon/web/static``."""
    return resources.files("gpuplane.daemon.web").joinpath("static", name).read_bytes()


def error_response(error: BaseException) -> Response:
    """The HTTP status of a domain error (by its gRPC code, mapped in ``daemon/status.py``)."""
    status = HTTP_STATUS.get(code_of(error).name, 500)
    return Response(status, f"{message_of(error)}\n".encode())


class WebApp:
    """Routes of the page: the assets and ``/api/view``; every route needs a token when the
    daemon has tokens."""

    def __init__(self, engine: Engine, tokens: TokenInterceptor | None, secure_cookie: bool):
        self.engine = engine
        self.tokens = tokens
        self.secure_cookie = secure_cookie
        self.placement = PlacementService(engine)
        self.admission = AdmissionService(engine, engine.router)
        self.admin = AdminService(engine)
        self._cluster_json: dict[tuple[int, Principal], str] = {}

    async def __call__(self, request: Request) -> Response:
        """Answers one request."""
        try:
            if "token" in request.query and request.path == "/":
                return self.login(request.query["token"][0])
            self.authenticate(request, GET_CLUSTER)
            if request.path == "/api/view":
                return await self.api_view(request)
            if request.path in ASSETS:
                name, content_type = ASSETS[request.path]
                return Response(200, asset(name), content_type, {**SECURITY_HEADERS})
            return Response(404, b"not found\n")
        except GpuplaneError as e:
            return error_response(e)

    def authenticate(self, request: Request, method: str, token: str | None = None) -> Principal:
        """The caller of ``method`` (the interceptor's rule), made the current principal."""
        if self.tokens is None:
            return current_principal()
        header = request.headers.get("authorization")
        if token is not None:
            header = f"Bearer {token}"
        elif header is None and request.cookie(COOKIE):
            header = f"Bearer {request.cookie(COOKIE)}"
        principal = self.tokens.authenticate(method, [("authorization", header)] if header else [])
        set_principal(principal)
        return principal

    def login(self, token: str) -> Response:
        """Checks ``?token=``, keeps it in a cookie and redirects to the page without it."""
        if self.tokens is not None:
            self.authenticate(Request("GET", "/", {}, {}), GET_CLUSTER, token)
        cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        if self.secure_cookie:
            cookie += "; Secure"
        return Response(303, b"", headers={"Location": "/", "Set-Cookie": cookie})

    async def api_view(self, request: Request) -> Response:
        """The view as JSON, with an ETag so an unchanged view costs a 304."""
        started = time.perf_counter()
        body = (await self.view_json(request)).encode()
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        timing = f"view;dur={(time.perf_counter() - started) * 1000:.2f}"
        headers = {"ETag": etag, "Cache-Control": "no-cache", "Server-Timing": timing}
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", headers=headers)
        return Response(200, body, "application/json", headers)

    async def view_json(self, request: Request) -> str:
        """The :class:`StatusView` of the caller's answers as JSON, with the recent decisions
        it may see. The cluster part comes from :meth:`cluster_json`."""
        cluster = await self.cluster_json()
        tenants = await self.permitted(request, LIST_TENANTS, self.list_tenants)
        replicas = await self.permitted(request, LIST_REPLICAS, self.list_replicas)
        view = status_view(request.headers.get("host", ""), EMPTY_CLUSTER, tenants, replicas)
        rest = to_json({**view.__dict__, "cluster": None, "decisions": self.decisions()})
        return rest.replace('"cluster":null', f'"cluster":{cluster}', 1)

    async def cluster_json(self) -> str:
        """JSON of the ``GetCluster`` view for the current caller. Kept until the next
        mutation: every change of the cluster is an operation that moves ``engine.next_seq``."""
        key = (self.engine.next_seq, current_principal())
        cached = self._cluster_json.get(key)
        if cached is None:
            req = pp.GetClusterRequest(include_gpus=True, include_placements=True)
            cached = to_json(cluster_part(ClusterView.from_pb(await self.placement.GetCluster(req, None))))
            self._cluster_json = {k: v for k, v in self._cluster_json.items() if k[0] == key[0]}
            self._cluster_json[key] = cached
        return cached

    async def permitted(self, request: Request, method: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()`` as ``method``'s caller, or None when that caller may not make it."""
        try:
            self.authenticate(request, method)
            return await call()
        except PermissionDenied:
            return None

    async def list_tenants(self) -> list[TenantStatus]:
        response = await self.admin.ListTenants(am.ListTenantsRequest(), None)
        return [TenantStatus.from_pb(t) for t in response.tenants]

    async def list_replicas(self) -> list[ReplicaView]:
        response = await self.admission.ListReplicas(ap.ListReplicasRequest(), None)
        return [ReplicaView.from_pb(r) for r in response.replicas]

    def decisions(self) -> list[Decision]:
        """Recent decisions the caller may see (a tenant: its own and cluster-wide ones)."""
        access = self.engine.access
        return [
            d
            for d in self.engine.decisions.recent(DECISIONS_SHOWN)
            if access.allows("WatchEvents", d.tenant or None)
        ]
