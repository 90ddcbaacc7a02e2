"""Interfaces between the server and its pluggable parts (security, metrics).

The server depends only on these Protocols; ``auth.py`` and ``metrics.py`` implement them.
Both are optional: without them the server runs open (loopback only, see ``ServeConfig``) and
records no metrics (``NullMetrics``).

Contracts:

* Refusals raise ``gpuplane.errors.Unauthenticated`` or ``PermissionDenied``; the error
  ``daemon/status.py`` maps them to UNAUTHENTICATED / PERMISSION_DENIED (``abort_with``).
* ``auth.interceptors(config: ServeConfig) -> list[grpc.aio.ServerInterceptor]`` builds the
  interceptors that authenticate each call; ``auth.server_credentials(config)`` returns
  ``grpc.ServerCredentials | None`` (None: plain text); ``auth.check_startup(config)`` raises
  ``ValueError`` when the bind is not allowed (non-loopback without TLS and tokens, no
  ``--insecure``). The authenticated identity reaches handlers through ``current_principal()``
  below, which the interceptor sets with ``set_principal``.
* ``auth.policy(config)`` (optional) returns the ``AuthPolicy`` handlers call with the tenant
  a call acts on; without it ``access.TenantScope`` applies.
* ``metrics.Metrics(config)`` implements ``MetricsSink``; the server calls ``start()`` once,
  ``observe_decision`` after each decision and ``on_state`` every few seconds.
* ``telemetry.nvml.discover()`` returns ``list[inventory.NodeInventory]`` or None (no driver).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``admin`` (every tenant and admin calls), a tenant, or ``anonymous``
    (an open loopback server without tokens: treated as admin)."""

    name: str
    tenant: str | None = None
    admin: bool = False

    def may_act_for(self, tenant: str) -> bool:
        """Whether this principal may act on ``tenant``'s workloads and requests."""
        return self.admin or self.tenant == tenant


ANONYMOUS = Principal(name="anonymous", admin=True)

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "gpuplane_principal", default=ANONYMOUS
)


def set_principal(principal: Principal) -> contextvars.Token[Principal]:
    """Sets the principal of the current call (called by the auth interceptor)."""
    return _principal.set(principal)


def current_principal() -> Principal:
    """The principal of the current call (``ANONYMOUS`` when no auth is configured)."""
    return _principal.get()


@runtime_checkable
class AuthPolicy(Protocol):
    """Decides whether a principal may call an RPC on a tenant's behalf.

    The server calls ``authorize`` in each handler once it knows the tenant a call acts on
    (``tenant=None`` for cluster-wide calls); it raises ``gpuplane.errors.PermissionDenied`` to refuse.
    """

    def authorize(self, principal: Principal, rpc: str, tenant: str | None) -> None: ...


@runtime_checkable
class MetricsSink(Protocol):
    """Receives what the daemon observes; implemented by ``metrics.Metrics``."""

    def start(self) -> None:
        """Starts exporting (for example an HTTP endpoint on ``config.metrics_port``)."""

    def observe_decision(self, rpc: str, seconds: float) -> None:
        """One decision RPC (``Place``, ``Admit``, ``Route``...) took ``seconds`` in the core."""

    def on_state(
        self,
        cluster_stats: Any,
        tenants: Any = None,
        replicas: Any = None,
        programs: Any = None,
        router_programs: int | None = None,
    ) -> None:
        """A fresh view of the state: ``gpuplane.ClusterStats``, the tenants (a list of
        ``gpuplane.TenantFigures``), the registered replicas (list of ``ReplicaView``), the
        tenants' agent programs (a list of ``gpuplane.ProgramFigures``) and how many programs
        the router remembers a replica for."""

    def on_preemption(self, victims: int) -> None:
        """A preemption evicted ``victims`` workloads."""

    def stop(self) -> None:
        """Stops exporting."""


class NullMetrics:
    """A ``MetricsSink`` that records nothing (used when ``metrics.py`` is absent or no port)."""

    def start(self) -> None:
        """Does nothing."""

    def observe_decision(self, rpc: str, seconds: float) -> None:
        """Does nothing."""

    def on_state(
        self,
        cluster_stats: Any,
        tenants: Any = None,
        replicas: Any = None,
        programs: Any = None,
        router_programs: int | None = None,
    ) -> None:
        """Does nothing."""

    def on_preemption(self, victims: int) -> None:
        """Does nothing."""

    def stop(self) -> None:
        """Does nothing."""
