"""Errors the daemon adds to gpuplane's hierarchy (``gpuplane.errors``).

Each has exactly one gRPC status code in ``status.py``.
"""

from __future__ import annotations

from gpuplane.errors import Conflict, GpuplaneError


class StalePlan(Conflict):
    """A preemption plan no longer matches the cluster: ask for a new one."""


class InUse(Conflict):
    """The object cannot change now: work still uses it (a tenant or class with work)."""


class NotSupported(GpuplaneError):
    """This server cannot do that (for example admission without the policy engine)."""


class Unavailable(GpuplaneError):
    """The journal cannot be written: the mutation was not acknowledged."""
