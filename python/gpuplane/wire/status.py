"""gpuplane errors <-> gRPC status codes, messages and trailing metadata, for both ends.

The server sends an error's code (:data:`CODES`), its message (``field: reason`` for invalid
requests) and trailers naming its class, field and, for capacity errors, the GPUs ruled out per
constraint; the client rebuilds the same exception from them (:func:`error_from`).
"""

from __future__ import annotations

import json

import grpc

from gpuplane import errors as gerrors
from gpuplane.errors import (
    CapacityError,
    Conflict,
    GpuplaneError,
    InUse,
    InvalidRequest,
    NotFound,
    NotSupported,
    PermissionDenied,
    QuotaExceeded,
    StalePlan,
    Unauthenticated,
    Unavailable,
)

ERROR_KEY = "gpuplane-error"
FIELD_KEY = "gpuplane-field"
EXCLUDED_KEY = "gpuplane-excluded"

# Most specific first: the first class an error is an instance of decides.
CODES: tuple[tuple[type[GpuplaneError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (StalePlan, grpc.StatusCode.FAILED_PRECONDITION),
    (InUse, grpc.StatusCode.FAILED_PRECONDITION),
    (Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (CapacityError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (NotSupported, grpc.StatusCode.FAILED_PRECONDITION),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)
# The class a client raises for a code when the trailers name none (the first listed wins).
BY_CODE: dict[grpc.StatusCode, type[GpuplaneError]] = {}
for _cls, _code in reversed(CODES):
    BY_CODE[_code] = _cls


def code_of(error: BaseException) -> grpc.StatusCode:
    """The status code of an error (INTERNAL only outside gpuplane's hierarchy)."""
    for cls, code in CODES:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.UNKNOWN if isinstance(error, GpuplaneError) else grpc.StatusCode.INTERNAL


def message_of(error: BaseException) -> str:
    """The status message: ``field: message`` for invalid requests, with capacity exclusions."""
    text = str(error)
    if isinstance(error, InvalidRequest) and error.field and not text.startswith(error.field):
        text = f"{error.field}: {text}"
    if isinstance(error, CapacityError) and error.excluded and "excluded" not in text:
        ruled_out = ", ".join(f"{k}={v}" for k, v in sorted(error.excluded.items()))
        text = f"{text} (GPUs ruled out: {ruled_out})"
    return text


def trailers_of(error: BaseException) -> tuple[tuple[str, str], ...]:
    """Trailing metadata naming the error's class, field and exclusions."""
    if not isinstance(error, GpuplaneError):
        return ()
    out = [(ERROR_KEY, type(error).__name__)]
    field = getattr(error, "field", None)
    if field:
        out.append((FIELD_KEY, str(field)))
    if isinstance(error, CapacityError) and error.excluded:
        out.append((EXCLUDED_KEY, json.dumps(error.excluded, sort_keys=True)))
    return tuple(out)


def error_class(name: str) -> type[GpuplaneError] | None:
    """A class of ``gpuplane.errors`` by name, or None."""
    cls = getattr(gerrors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, GpuplaneError) else None


def error_from(code: grpc.StatusCode, details: str, trailers: dict[str, str]) -> GpuplaneError | None:
    """The gpuplane error a call failed with, rebuilt from its status; None if it is not one."""
    cls = error_class(str(trailers.get(ERROR_KEY, ""))) or BY_CODE.get(code)
    if cls is None:
        return None
    if issubclass(cls, InvalidRequest) and cls is not gerrors.TraceError:
        return cls(details, field=trailers.get(FIELD_KEY))
    if issubclass(cls, CapacityError):
        return cls(details, excluded=json.loads(trailers.get(EXCLUDED_KEY) or "{}"))
    return cls(details)
