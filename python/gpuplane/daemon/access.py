"""Authorization inside handlers, once a handler knows which tenant a call acts on.

Authentication (who is calling) is ``auth.py``'s interceptor, which sets the principal
(``hooks.set_principal``); without it every caller is ``hooks.ANONYMOUS`` (admin), which the
server allows only on loopback. The decision is the ``hooks.AuthPolicy`` from
``auth.policy(config)`` when that module exists, else :class:`TenantScope`.
"""

from __future__ import annotations

from gpuplane.daemon.hooks import AuthPolicy, Principal, current_principal
from gpuplane.errors import PermissionDenied


class TenantScope:
    """The default ``AuthPolicy``: admins act for everyone, a tenant only for itself, and
    cluster-wide mutations need admin."""

    def authorize(self, principal: Principal, rpc: str, tenant: str | None) -> None:
        """Raises ``PermissionDenied`` unless allowed."""
        if principal.admin:
            return
        if tenant is None or not principal.may_act_for(tenant):
            raise PermissionDenied(f"{principal.name!r} may not call {rpc} for {tenant or 'the cluster'}")


class Access:
    """Checks the current call's principal against an ``AuthPolicy``."""

    def __init__(self, policy: AuthPolicy | None = None):
        self.policy: AuthPolicy = policy or TenantScope()

    def check(self, rpc: str, tenant: str | None) -> None:
        """Refuses unless the caller may call ``rpc`` acting on ``tenant`` (None: cluster-wide)."""
        self.policy.authorize(current_principal(), rpc, tenant)

    def allows(self, rpc: str, tenant: str | None) -> bool:
        """Whether :meth:`check` would pass (for filtering batch entries and views)."""
        try:
            self.check(rpc, tenant)
        except PermissionDenied:
            return False
        return True
