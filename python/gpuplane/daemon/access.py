"""Authorization inside handlers, once a handler knows which tenant a call acts on.

Authentication (who is calling) is ``auth.py``'s interceptor, which sets the principal
(``hooks.set_principal``); without it every caller is ``hooks.ANONYMOUS`` (admin), which the
server allows only on loopback. The decision is the ``hooks.AuthPolicy`` from
``auth.policy(config)`` when that module exists, else :class:`TenantScope`.
"""

from __future__ import annotations

from gpuplane.daemon.hooks import AuthPolicy, Principal, current_principal
from gpuplane.errors import NotFound, PermissionDenied


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

    def check_owner(self, rpc: str, owner: str | None, unknown: NotFound) -> None:
        """:meth:`check` for a call on an object ``owner`` holds (None: shared or cluster-wide).
        A caller that may not act for a tenant owner gets ``unknown``, the very NOT_FOUND an
        unknown id gets, so that no tenant learns which ids other tenants use."""
        if owner is not None and not self.allows(rpc, owner):
            raise unknown
        self.check(rpc, owner)

    def viewer(self) -> str | None:
        """Whose view of shared soft state the caller gets: None (all of it) for an admin, else
        its tenant's ("" for a principal without one: the shared part only)."""
        principal = current_principal()
        return None if principal.admin else (principal.tenant or "")

    def allows(self, rpc: str, tenant: str | None) -> bool:
        """Whether :meth:`check` would pass (for filtering batch entries and views)."""
        try:
            self.check(rpc, tenant)
        except PermissionDenied:
            return False
        return True
