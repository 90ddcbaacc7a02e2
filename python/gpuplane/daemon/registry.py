"""Tenants and priority classes as configured by admins (data only; decisions are the core's).

Used as the source of truth for ``AdminService`` reads and snapshotted with the cluster. When
the core's policy engine is available (``gpuplane.Policy``) every change is also applied to it,
and the engine validates it first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gpuplane.errors import Conflict, InUse, InvalidRequest, NotFound

DEFAULT_CLASSES = {
    "default": {"name": "default", "value": 0, "preemptible": True},
    "critical": {"name": "critical", "value": 1000, "preemptible": False},
}
NO_QUOTA = {
    "guaranteed": {},
    "deserved": {},
    "limit": {},
    "over_quota_priority": 0,
    "over_quota_weight": 1.0,
}
# Workloads that name no tenant run as "default": it exists from the start, without quota.
DEFAULT_TENANTS = {
    "default": {
        "name": "default",
        "parent": None,
        "quota": NO_QUOTA,
        "max_queued": None,
        "budget": None,
        "burst_tokens": None,
    }
}


@dataclass
class Registry:
    """Tenant specs by name (parents before children) and priority classes by name."""

    tenants: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_TENANTS))
    classes: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CLASSES))

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {"tenants": list(self.tenants.values()), "classes": list(self.classes.values())}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Registry:
        """The inverse of :meth:`to_json`."""
        return cls({t["name"]: t for t in doc["tenants"]}, {c["name"]: c for c in doc["classes"]})

    def tenant(self, name: str) -> dict[str, Any]:
        """A tenant's spec; ``NotFound`` if unknown."""
        if name not in self.tenants:
            raise NotFound(f"tenant {name!r} not found")
        return self.tenants[name]

    def children(self, name: str) -> list[str]:
        """Names of the tenants directly under ``name``."""
        return [t["name"] for t in self.tenants.values() if t["parent"] == name]

    def check_put(self, spec: dict[str, Any], create_only: bool) -> bool:
        """Checks a put; returns whether it creates the tenant."""
        name, parent = spec["name"], spec["parent"]
        exists = name in self.tenants
        if exists and create_only:
            raise Conflict(f"tenant {name!r} already exists")
        if parent is not None and parent not in self.tenants:
            raise InvalidRequest(f"tenant.parent: unknown tenant {parent!r}", field="tenant.parent")
        if parent == name or (parent is not None and name in self.ancestors(parent)):
            raise InvalidRequest(f"tenant.parent: {parent!r} would make a cycle", field="tenant.parent")
        return not exists

    def ancestors(self, name: str) -> list[str]:
        """``name`` and its ancestors, nearest first."""
        out = []
        while name is not None and name in self.tenants and name not in out:
            out.append(name)
            name = self.tenants[name]["parent"]
        return out

    def put(self, spec: dict[str, Any]) -> None:
        """Adds or replaces a tenant (checked by :meth:`check_put`)."""
        self.tenants[spec["name"]] = spec

    def check_delete(self, name: str, holds_work: bool) -> None:
        """Refuses to delete an unknown tenant, or one with children or work."""
        self.tenant(name)
        if self.children(name):
            raise InUse(f"tenant {name!r} has child tenants {self.children(name)}")
        if holds_work:
            raise InUse(f"tenant {name!r} still holds work; release it first")

    def delete(self, name: str) -> None:
        """Removes a tenant (checked by :meth:`check_delete`)."""
        del self.tenants[name]

    def check_delete_class(self, name: str) -> None:
        """Refuses to delete an unknown class."""
        if name not in self.classes:
            raise NotFound(f"priority class {name!r} not found")

    def quota_spec(self, tenant: str, quota: dict[str, Any]) -> dict[str, Any]:
        """The tenant's spec with ``quota`` replaced."""
        return {**self.tenant(tenant), "quota": quota}
