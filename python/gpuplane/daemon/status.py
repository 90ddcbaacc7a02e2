"""The one place that maps gpuplane errors to gRPC status codes, and :func:`map_errors`, which
applies it to every RPC of a servicer (unary and streaming), counts the call for a graceful
stop (:mod:`calls`) and refuses calls whose deadline already passed.

Domain errors get a precise code with the field or reason in the message; only an exception
outside gpuplane's hierarchy (a bug) is INTERNAL, and it is logged with its traceback.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gpuplane.daemon.calls import Calls
from gpuplane.daemon.errors import InUse, NotSupported, StalePlan, Unavailable
from gpuplane.errors import (
    CapacityError,
    Conflict,
    GpuplaneError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
)

log = logging.getLogger("gpuplane.daemon")

ERROR_KEY = "gpuplane-error"
FIELD_KEY = "gpuplane-field"

# Most specific first: the first class an error is an instance of decides.
CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
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
    """Trailing metadata naming the error class and field, so clients can raise the same class."""
    if not isinstance(error, GpuplaneError):
        return ()
    out = [(ERROR_KEY, type(error).__name__)]
    field = getattr(error, "field", None)
    if field:
        out.append((FIELD_KEY, str(field)))
    return tuple(out)


async def abort_with(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    """Ends the call with the error's code and message (raises, as ``context.abort`` does)."""
    code = code_of(error)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unexpected error", exc_info=error)
    await context.abort(code, message_of(error), trailing_metadata=trailers_of(error))


def _deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], calls: Calls) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        if _deadline_passed(context):
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the call ran")
        try:
            calls.admit(context)
            return await behavior(request_or_iterator, context)
        except Exception as e:
            if isinstance(e, grpc.aio.AbortError):
                raise
            await abort_with(context, e)

    return wrapper


def _wrap_stream(
    behavior: Callable[..., AsyncIterator[Any]], calls: Calls
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            calls.check_open()
            async for item in behavior(request_or_iterator, context):
                yield item
        except Exception as e:
            if isinstance(e, grpc.aio.AbortError):
                raise
            await abort_with(context, e)

    return wrapper


def map_errors(servicer: object, calls: Calls) -> object:
    """Wraps every RPC method of a gpuplane.v1 servicer instance (in place) so its errors are
    mapped by :func:`code_of` and each call is counted by ``calls`` (refused once it is closed);
    returns the servicer. Cheaper than an interceptor: the wrapping happens once, not per call.
    Methods that are async generators stay streams."""
    for name in dir(servicer):
        method = getattr(servicer, name)
        if name.startswith("_") or not name[0].isupper() or not callable(method):
            continue
        if inspect.isasyncgenfunction(method):
            setattr(servicer, name, _wrap_stream(method, calls))
        elif inspect.iscoroutinefunction(method):
            setattr(servicer, name, _wrap_unary(method, calls))
    return servicer
