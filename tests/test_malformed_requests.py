"""Malformed request bytes and unknown enum values get INVALID_ARGUMENT naming the message type
or the field, logged in one line without a traceback; authentication comes first. Against a
real server on a loopback port, with raw bytes on the wire."""

from __future__ import annotations

import logging

import grpc
import pytest
from daemon_harness import in_process, make_config
from google.protobuf import descriptor_pool
from gpuplane._proto.v1 import placement_pb2
from gpuplane.daemon.server import SERVICE_NAMES
from test_auth import ADMIN, bearer, config, tokens_file  # noqa: F401 - fixtures

GARBAGE = b"\xff\xff\xff\xff"  # field 0 with an invalid wire type: no message parses it


def methods() -> list[tuple[str, bool, bool, str]]:
    """(path, client_streaming, server_streaming, input type) of every gpuplane.v1 RPC."""
    pool = descriptor_pool.Default()
    out = []
    for name in SERVICE_NAMES:
        for m in pool.FindServiceByName(name).methods:
            path = f"/{name}/{m.name}"
            out.append((path, m.client_streaming, m.server_streaming, m.input_type.full_name))
    return out


def raw_call(channel: grpc.Channel, path: str, client_streaming: bool, server_streaming: bool, **kw):
    """Sends GARBAGE as the request (or the stream's first message); returns the RpcError."""
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    call = kinds[client_streaming, server_streaming](path)
    request = iter([GARBAGE]) if client_streaming else GARBAGE
    with pytest.raises(grpc.RpcError) as caught:
        result = call(request, timeout=10, **kw)
        if server_streaming:
            list(result)
    return caught.value


@pytest.mark.parametrize("method", methods(), ids=lambda m: m[0].rsplit("/", 1)[1])
def test_malformed_bytes_are_invalid_argument_naming_the_type(tmp_path, caplog, method):
    path, client_streaming, server_streaming, input_type = method
    with in_process(make_config(tmp_path)) as server, grpc.insecure_channel(server.target) as channel:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gpuplane.daemon"):
            error = raw_call(channel, path, client_streaming, server_streaming)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert input_type in error.details()
    refusals = [r for r in caplog.records if input_type in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert refusals[0].exc_info is None
    assert all(r.exc_info is None for r in caplog.records)


def test_an_anonymous_malformed_call_is_unauthenticated_and_not_logged(config, caplog):  # noqa: F811
    with in_process(config) as server, grpc.insecure_channel(server.target) as channel:
        with caplog.at_level(logging.WARNING, logger="gpuplane.daemon"):
            error = raw_call(channel, "/gpuplane.v1.PlacementService/Place", False, False)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            stream = raw_call(channel, "/gpuplane.v1.TelemetryService/StreamNodeState", True, False)
            assert stream.code() == grpc.StatusCode.UNAUTHENTICATED
        assert not [r for r in caplog.records if "malformed" in r.getMessage()]
        admin = raw_call(channel, "/gpuplane.v1.PlacementService/Place", False, False, metadata=bearer(ADMIN))
        assert admin.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("kinds", "says"),
    [([99], "99 is not an EventKind"), ([placement_pb2.EVENT_KIND_PLACED, 0], "EVENT_KIND_UNSPECIFIED")],
)
def test_watch_refuses_unknown_and_unspecified_kinds(stub, kinds, says):
    request = placement_pb2.WatchEventsRequest(kinds=kinds)
    with pytest.raises(grpc.RpcError) as caught:
        list(stub.WatchEvents(request, timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"kinds[{len(kinds) - 1}]" in caught.value.details()
    assert says in caught.value.details()
