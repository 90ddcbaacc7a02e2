"""The tenants and priority classes of a running gpuplane service (``gpuplane serve``), for
``gpuplane.vllm.Scheduler``: with ``GPUPLANE_SERVICE=host:port`` (and ``GPUPLANE_TOKEN`` where
the service needs one) the engine's policy engine is built from the service's tenant tree,
quotas (fair-share weights, ``tokens_per_s`` rate limits) and classes when the engine starts,
so one policy governs the service and the engine. The policy file's ``[batching]`` table still
chooses the batching policy; tenants or classes in both places are refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gpuplane
from gpuplane.errors import InvalidRequest
from gpuplane.vllm.policy_file import PolicyFile

if TYPE_CHECKING:
    from gpuplane.client_values import TenantStatus

SERVICE_ENV = "GPUPLANE_SERVICE"
TOKEN_ENV = "GPUPLANE_TOKEN"


def parents_first(tenants: Sequence[TenantStatus]) -> list[TenantStatus]:
    """The tenants ordered so that each comes after its parent."""
    by_name = {t.name: t for t in tenants}

    def depth(t: TenantStatus) -> int:
        n = 0
        while t.parent is not None and t.parent in by_name:
            t, n = by_name[t.parent], n + 1
        return n

    return sorted(tenants, key=lambda t: (depth(t), t.name))


def policy_from_service(target: str, token: str | None = None) -> gpuplane.Policy:
    """A ``gpuplane.Policy`` holding the service's tenants (tree and quotas) and classes."""
    from gpuplane.client import Client  # the gRPC client only where a service is named

    with Client(target, token=token) as client:
        tenants, classes = client.tenants(), client.classes()
    policy = gpuplane.Policy()
    for t in parents_first(tenants):
        q = t.quota
        policy.add_tenant(
            t.name,
            t.parent,
            guaranteed=q.guaranteed,
            deserved=q.deserved,
            limit=q.limit,
            over_quota_priority=q.over_quota_priority,
            over_quota_weight=q.over_quota_weight,
        )
    for name, (value, preemptible) in classes.items():
        policy.upsert_class(name, value, preemptible)
    return policy


def engine_policy(policy_file: PolicyFile) -> gpuplane.Policy | None:
    """The engine's policy engine: the service's (``GPUPLANE_SERVICE``) or the policy file's."""
    target = os.environ.get(SERVICE_ENV)
    if not target:
        return policy_file.engine()
    if policy_file.tenants or policy_file.classes:
        raise InvalidRequest(
            f"policy: tenants and classes come from the service ({SERVICE_ENV}={target}); "
            "remove them from the policy file",
            "policy",
        )
    return policy_from_service(target, os.environ.get(TOKEN_ENV))
