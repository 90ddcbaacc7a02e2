""":func:`map_errors` applies the one error <-> status mapping (``gpuplane.wire.status``) to
every RPC of a servicer (unary and streaming), counts the call for a graceful stop
(:mod:`calls`) and refuses calls whose deadline already passed.

Domain errors get a precise code with the field or reason in the message; only an exception
outside gpuplane's hierarchy (a bug) is INTERNAL, and it is logged with its traceback.

Request bytes that do not parse: :class:`DecodeGuard` (the innermost interceptor) decodes them
into a :class:`Malformed` instead of failing inside grpc (UNKNOWN or INTERNAL with a traceback),
so authentication still runs first, and :func:`map_errors` then ends the call with
INVALID_ARGUMENT naming the message type, logged in one line.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gpuplane.daemon.calls import Calls
from gpuplane.errors import InvalidRequest
from gpuplane.wire.status import code_of, message_of, trailers_of

log = logging.getLogger("gpuplane.daemon")


async def abort_with(context: grpc.aio.ServicerContext, error: BaseException) -> None:
    """Ends the call with the error's code and message (raises, as ``context.abort`` does)."""
    code = code_of(error)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unexpected error", exc_info=error)
    await context.abort(code, message_of(error), trailing_metadata=trailers_of(error))


@dataclass(frozen=True)
class Malformed:
    """Request bytes that are not a valid ``message_type`` (what the decoder said in ``reason``)."""

    message_type: str
    reason: str

    def error(self) -> InvalidRequest:
        """The refusal: INVALID_ARGUMENT naming the message type."""
        text = f"request: the bytes are not a valid {self.message_type} message ({self.reason})"
        return InvalidRequest(text, field="request", reason=self.reason)


def tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``deserializer`` (a message class's ``FromString``) returning :class:`Malformed` on bad bytes."""
    message_type = deserializer.__self__.DESCRIPTOR.full_name  # type: ignore[attr-defined]

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as e:  # DecodeError, or a RuntimeError from the upb parser
            return Malformed(message_type, str(e) or type(e).__name__)

    return decode


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Decodes gpuplane.v1 requests with :func:`tolerant` deserializers (health and reflection
    keep theirs)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """The handler with its request deserializer made tolerant."""
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith("/gpuplane.v1."):
            return handler
        return handler._replace(request_deserializer=tolerant(handler.request_deserializer))


def _refuse_malformed(request: Malformed, context: grpc.aio.ServicerContext) -> InvalidRequest:
    log.warning("refused a malformed %s from %s: %s", request.message_type, context.peer(), request.reason)
    return request.error()


async def _checked_stream(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    """A request stream that raises on its first malformed message."""
    async for request in requests:
        if isinstance(request, Malformed):
            raise _refuse_malformed(request, context)
        yield request


def _checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
    """The request (or request stream), refusing a malformed one."""
    if isinstance(request, Malformed):
        raise _refuse_malformed(request, context)
    if hasattr(request, "__aiter__"):
        return _checked_stream(request, context)
    return request


def _deadline_passed(context: grpc.aio.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], calls: Calls) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request_or_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        if _deadline_passed(context):
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the call ran")
        try:
            calls.admit(context)
            return await behavior(_checked(request_or_iterator, context), context)
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
            async for item in behavior(_checked(request_or_iterator, context), context):
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
