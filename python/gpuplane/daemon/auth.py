"""Security of ``gpuplane serve``: where it may bind, TLS, bearer tokens and who may call what.

* ``check_startup(config)``: a loopback bind may run open; any other bind needs TLS and tokens,
  unless ``insecure`` says otherwise explicitly.
* ``server_credentials(config)``: TLS with the server certificate, and mutual TLS when a client
  CA is configured (clients without a certificate from that CA are refused in the handshake).
* ``interceptors(config)``: with tokens configured, every call must carry
  ``authorization: Bearer TOKEN``: missing or unknown -> UNAUTHENTICATED; admin-only methods
  for a non-admin, or any method outside an agent's telemetry -> PERMISSION_DENIED. The caller's
  ``Principal`` reaches handlers through ``hooks.current_principal()``.
* ``RolePolicy``: the ``AuthPolicy`` handlers call once they know which tenant a call acts on:
  a tenant's token acts only on that tenant's workloads and requests.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.hooks import Principal, set_principal
from gpuplane.daemon.status import abort_with
from gpuplane.daemon.tokens import AGENT, Tokens
from gpuplane.errors import PermissionDenied, Unauthenticated

log = logging.getLogger("gpuplane.daemon")

# Calls anyone may make without a token (load balancers and orchestrators probe health).
OPEN_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
ADMIN_SERVICES = frozenset({"gpuplane.v1.AdminService"})
# Drain moves whole GPUs; Preempt evicts other tenants' work with a caller-chosen priority.
ADMIN_RPCS = frozenset({"Drain", "Preempt"})
AGENT_SERVICES = frozenset({"gpuplane.v1.TelemetryService"})
# Cluster-wide calls a tenant may make (reads); any other call with no tenant needs admin.
CLUSTER_READS = frozenset(
    {"GetCluster", "WatchEvents", "ListReplicas", "Route", "RouteStream", "ServerReflectionInfo"}
)


def _split(method: str) -> tuple[str, str]:
    """``/gpuplane.v1.AdminService/PutTenant`` -> (``gpuplane.v1.AdminService``, ``PutTenant``)."""
    service, _, rpc = method.lstrip("/").rpartition("/")
    return service, rpc


def has_tokens(config: ServeConfig) -> bool:
    """Whether the server authenticates callers with bearer tokens."""
    return bool(config.admin_token) or config.tokens_file is not None


# ---- start-up ---------------------------------------------------------------------------------


def check_startup(config: ServeConfig) -> None:
    """Raises ``ValueError`` (saying what is missing) when the server must not start this way."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    if config.tls_client_ca is not None and not config.tls:
        raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    for path in (config.tls_cert, config.tls_key, config.tls_client_ca, config.tokens_file):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{path}: no such file")
    if has_tokens(config):
        Tokens.load(config.tokens_file, config.admin_token)  # raises ValueError if malformed
    if config.loopback:
        return
    if config.insecure:
        log.warning("listening on %s without %s (--insecure)", config.listen, _missing(config) or "nothing")
        return
    missing = _missing(config)
    if missing:
        raise ValueError(
            f"refusing to listen on {config.listen} without {missing}: a non-loopback address needs "
            "--tls-cert/--tls-key and tokens (--admin-token or --tokens-file), or an explicit --insecure"
        )


def _missing(config: ServeConfig) -> str:
    """What a non-loopback server lacks: ``TLS``, ``tokens``, both, or nothing (``""``)."""
    lacks = [name for name, ok in (("TLS", config.tls), ("tokens", has_tokens(config))) if not ok]
    return " and ".join(lacks)


def server_credentials(config: ServeConfig) -> grpc.ServerCredentials | None:
    """TLS credentials (mutual when a client CA is set), or ``None`` for plain text."""
    if not config.tls:
        return None
    assert config.tls_cert is not None and config.tls_key is not None
    pair = (Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())
    client_ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def interceptors(config: ServeConfig) -> list[grpc.aio.ServerInterceptor]:
    """The authentication interceptor when tokens are configured; none for an open server."""
    if not has_tokens(config):
        return []
    return [TokenInterceptor(Tokens.load(config.tokens_file, config.admin_token))]


def policy(config: ServeConfig) -> RolePolicy:
    """The ``AuthPolicy`` the handlers call."""
    return RolePolicy()


# ---- who may call what ---------------------------------------------------------------------


def method_allowed(principal: Principal, method: str) -> None:
    """Raises ``PermissionDenied`` if ``principal`` may not call ``method`` at all."""
    service, rpc = _split(method)
    if principal.admin:
        return
    if principal.name == AGENT and principal.tenant is None:
        if service not in AGENT_SERVICES:
            raise PermissionDenied(f"an agent token may only report node telemetry, not call {rpc}")
        return
    if service in ADMIN_SERVICES or service in AGENT_SERVICES or rpc in ADMIN_RPCS:
        raise PermissionDenied(f"{rpc} needs the admin token")


class RolePolicy:
    """``hooks.AuthPolicy``: admins act for everyone; a tenant only for itself."""

    def authorize(self, principal: Principal, rpc: str, tenant: str | None) -> None:
        """Raises ``PermissionDenied`` unless ``principal`` may call ``rpc`` acting on ``tenant``
        (``None``: a cluster-wide call)."""
        if principal.admin:
            return
        if rpc in ADMIN_RPCS:
            raise PermissionDenied(f"{rpc} needs the admin token")
        if tenant is None:
            if rpc not in CLUSTER_READS:
                raise PermissionDenied(f"{rpc} acts on the whole cluster and needs the admin token")
            return
        if not principal.may_act_for(tenant):
            raise PermissionDenied(f"{principal.name!r} may not act on tenant {tenant!r}'s work")


# ---- the interceptor ----------------------------------------------------------------------------


def bearer_token(metadata: Any) -> str | None:
    """The token of an ``authorization: Bearer TOKEN`` header, or ``None``."""
    for key, value in metadata or ():
        if key.lower() == "authorization":
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call by its bearer token and sets its ``Principal``."""

    def __init__(self, tokens: Tokens):
        self.tokens = tokens

    def authenticate(self, method: str, metadata: Any) -> Principal:
        """The caller of ``method``; raises ``Unauthenticated`` / ``PermissionDenied``."""
        token = bearer_token(metadata)
        if token is None:
            raise Unauthenticated("missing bearer token (metadata 'authorization: Bearer TOKEN')")
        principal = self.tokens.lookup(token)
        if principal is None:
            raise Unauthenticated("unknown bearer token")
        method_allowed(principal, method)
        return principal

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Wraps the handler so that it first authenticates the call (or ends it)."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in OPEN_METHODS:
            return handler
        try:
            outcome: Principal | Exception = self.authenticate(
                method, handler_call_details.invocation_metadata
            )
        except (Unauthenticated, PermissionDenied) as e:
            outcome = e
        return _with_principal(handler, outcome)


def _with_principal(handler: grpc.RpcMethodHandler, outcome: Principal | Exception) -> grpc.RpcMethodHandler:
    """A copy of ``handler`` that runs as ``outcome``'s principal, or ends with its error."""
    ser, de = handler.response_serializer, handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_guard(handler.unary_unary, outcome), de, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_guard(handler.stream_unary, outcome), de, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_guard(handler.unary_stream, outcome), de, ser)
    return grpc.stream_stream_rpc_method_handler(_guard(handler.stream_stream, outcome), de, ser)


async def _enter(context: grpc.aio.ServicerContext, outcome: Principal | Exception) -> None:
    """Ends the call with the refusal, or makes the principal the current one."""
    if isinstance(outcome, Exception):
        await abort_with(context, outcome)
    else:
        set_principal(outcome)


def _guard(behavior: Callable[..., Any], outcome: Principal | Exception) -> Callable[..., Any]:
    """``behavior`` behind the authentication outcome; an async generator stays one."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await _enter(context, outcome)
            async for item in behavior(request, context):
                yield item

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _enter(context, outcome)
        result = behavior(request, context)
        return await result if inspect.isawaitable(result) else result

    return call
