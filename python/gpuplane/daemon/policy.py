"""Adapter between the daemon's operations and the core policy engine (``gpuplane.Policy``).

The engine makes every admission decision (quotas, limits, rates, budgets, deadlines, fair
share), for Admit and, attached to the cluster, for every placement; this module only converts
the daemon's dicts to its arguments.
"""

from __future__ import annotations

from typing import Any

import gpuplane


class PolicyEngine:
    """Thin calls into ``gpuplane.Policy`` with the daemon's JSON-able dicts."""

    def __init__(self, engine: Any):
        self.engine = engine

    @classmethod
    def with_registry(cls, registry: Any, config: Any) -> PolicyEngine:
        """A new engine (with ``gpuplane.PolicyConfig`` ``config``) holding the registry's
        tenants and classes."""
        engine = cls(gpuplane.Policy(config))
        engine.rebuild(registry)
        return engine

    def snapshot(self) -> bytes:
        """The engine's snapshot (tree, usage history, buckets, running and queued work)."""
        return bytes(self.engine.snapshot())

    def restore(self, data: bytes) -> None:
        """Replaces the engine with a restored snapshot."""
        self.engine = type(self.engine).restore(data)

    def rebuild(self, registry: Any) -> None:
        """Re-creates the engine's tenants and classes from the registry (no snapshot stored)."""
        self.engine = type(self.engine)(self.engine.config)
        for spec in registry.tenants.values():
            self.put_tenant(spec, True)
        for cls in registry.classes.values():
            self.put_class(cls)

    def set_capacity(self, totals: Any) -> None:
        """Sets the cluster capacity shared by the top-level tenants from the cluster's totals."""
        self.engine.set_capacity(gpus=float(totals.healthy_gpus), memory_mib=float(totals.memory_free_mib))

    def put_tenant(self, spec: dict[str, Any], created: bool) -> None:
        """Adds (``created``) or updates a tenant."""
        kwargs = {
            "parent": spec["parent"],
            "guaranteed": spec["quota"]["guaranteed"],
            "deserved": spec["quota"]["deserved"],
            "limit": {k: v for k, v in spec["quota"]["limit"].items() if v is not None},
            "over_quota_priority": spec["quota"]["over_quota_priority"],
            "over_quota_weight": spec["quota"]["over_quota_weight"],
            "max_queued": spec["max_queued"],
            "budget": spec["budget"],
            "burst_tokens": spec["burst_tokens"],
        }
        if created:
            self.engine.add_tenant(spec["name"], **kwargs)
        else:
            self.engine.update_tenant(spec["name"], **kwargs)

    def delete_tenant(self, name: str) -> None:
        """Removes a tenant (its past usage stays charged to its ancestors)."""
        self.engine.remove_tenant(name)

    def put_class(self, cls: dict[str, Any]) -> None:
        """Adds or replaces a priority class."""
        self.engine.upsert_class(cls["name"], cls["value"], cls["preemptible"])

    def delete_class(self, name: str) -> None:
        """Removes a priority class."""
        self.engine.remove_class(name)

    def admit(self, req: dict[str, Any], now: float) -> dict[str, Any]:
        """Admits, queues or rejects; returns ``{verdict, reason_code, reason, at,
        ended_program}`` (the program a rejected call aborted, else None)."""
        d = self.engine.admit(
            req["request_id"],
            req["tenant"],
            req["resources"],
            now=now,
            priority_class=req["priority_class"],
            gpu_model=req["gpu_model"],
            tokens=req["tokens"],
            est_duration_s=req["est_duration_s"],
            deadline_s=req["deadline_s"],
            queue_ahead=req["queue_ahead"],
            service_rate=req["service_rate"],
            **_program_kwargs(req.get("program")),
        )
        return {
            "verdict": d.outcome,
            "reason_code": str(d.reason),
            "reason": d.text,
            "at": d.at,
            "ended_program": d.ended_program,
        }

    def finish(self, request_id: str, now: float, more_calls: bool = False) -> gpuplane.Finished:
        """Releases an admitted request (charging its usage; a program's call completes its
        program unless ``more_calls``) or cancels a queued one; says which program it ended."""
        return self.engine.finish(request_id, now=now, more_calls=more_calls)


def _program_kwargs(program: dict[str, Any] | None) -> dict[str, Any]:
    """``Policy.admit``'s program arguments for a request's program call (none: not a program)."""
    if program is None:
        return {}
    return {"workflow": program["workflow_id"], "call_index": program["call_index"]}
