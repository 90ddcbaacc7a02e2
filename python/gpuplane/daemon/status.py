""":func:`map_errors` applies the one error <-> status mapping (``gpuplane.wire.status``) to
every RPC of a servicer (unary and streaming) and refuses calls whose deadline already passed.

Domain errors get a precise code with the field or reason in the message; only an exception
outside gpuplane's hierarchy (a bug) is INTERNAL, and it is logged with its traceback.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gpuplane.wire.status import code_of, message_of, trailers_of

log = logging.getLogger("gpuplane.daemon")


async def abort_with(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    """Ends the call with the error's code and message (raises, as ``context.abort`` does)."""
    code = code_of(error)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unexpected error", exc_info=error)
    await context.abort(code, message_of(error), trailing_metadata=trailers_of(error))


def _deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _wrap_unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        if _deadline_passed(context):
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the call ran")
        try:
            return await behavior(request_or_iterator, context)
        except Exception as e:
            if isinstance(e, grpc.aio.AbortError):
                raise
            await abort_with(context, e)

    return wrapper


def _wrap_stream(behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request_or_iterator, context):
                yield item
        except Exception as e:
            if isinstance(e, grpc.aio.AbortError):
                raise
            await abort_with(context, e)

    return wrapper


def map_errors(servicer: object) -> object:
    """Wraps every RPC method of a gpuplane.v1 servicer instance (in place) so its errors are
    mapped by :func:`code_of`; returns the servicer. Cheaper than an interceptor: the wrapping
    happens once, not per call. Methods that are async generators stay streams."""
    for name in dir(servicer):
        method = getattr(servicer, name)
        if name.startswith("_") or not name[0].isupper() or not callable(method):
            continue
        if inspect.isasyncgenfunction(method):
            setattr(servicer, name, _wrap_stream(method))
        elif inspect.iscoroutinefunction(method):
            setattr(servicer, name, _wrap_unary(method))
    return servicer
