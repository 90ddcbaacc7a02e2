"""gpuplane's exception hierarchy. Every error raised by the core is one of these.

The binding (``rust/gpuplane-py/src/errors.rs``) maps each core error to exactly one class here;
``gpuplane.wire.status`` maps each class to one gRPC status code, for the daemon and the client.
"""

from __future__ import annotations


class GpuplaneError(Exception):
    """Base class of every gpuplane error."""


class InvalidRequest(GpuplaneError, ValueError):
    """A field of the request is malformed or out of range. ``field`` names it."""

    def __init__(self, message: str, field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.field = field
        self.reason = reason


class NotFound(GpuplaneError, KeyError):
    """An id that must exist does not."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Conflict(GpuplaneError):
    """The request collides with existing state: a duplicate id or a stale plan."""


class CapacityError(GpuplaneError):
    """Valid, but there is no room now. ``excluded`` counts GPUs ruled out per constraint.

    At most 64 distinct node states are examined; the GPUs of the rest count as
    ``not_examined``, so the counts sum to the cluster's GPUs.
    """

    def __init__(self, message: str, excluded: dict[str, int] | None = None):
        super().__init__(message)
        self.excluded = dict(excluded or {})


class QuotaExceeded(GpuplaneError):
    """Refused by a quota, limit, rate or budget."""


class Unauthenticated(GpuplaneError):
    """The caller presented no credentials, or credentials the service does not know."""


class PermissionDenied(GpuplaneError):
    """The caller is known but may not do this (another tenant's work, or an admin call)."""


class StalePlan(Conflict):
    """A preemption plan no longer matches the cluster: ask for a new one."""


class InUse(Conflict):
    """The object cannot change now: work still uses it (a tenant or class with work)."""


class NotSupported(GpuplaneError):
    """The service cannot do that."""


class Unavailable(GpuplaneError):
    """The service cannot acknowledge the call now (its journal cannot be written)."""


class SnapshotError(InvalidRequest):
    """A snapshot is damaged, foreign, or from an unsupported version."""


class TraceError(InvalidRequest):
    """A trace file cannot be read, or a row is malformed (``line`` says which)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message, field="line" if line else "path", reason=message)
        self.path = path
        self.line = line


__all__ = [
    "CapacityError",
    "Conflict",
    "GpuplaneError",
    "InUse",
    "InvalidRequest",
    "NotFound",
    "NotSupported",
    "PermissionDenied",
    "QuotaExceeded",
    "SnapshotError",
    "StalePlan",
    "TraceError",
    "Unauthenticated",
    "Unavailable",
]
