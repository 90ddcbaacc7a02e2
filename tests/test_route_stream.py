"""The service routes with the core router: loads from ReportLoad (with waiting blocks), tokens
served back through FinishRoute into the fleet-wide tenant counters, and the bidirectional
RouteStream (many decisions per message, per-call errors), on a real in-process daemon."""

from __future__ import annotations

import grpc
import pytest
from gpuplane import Conflict, NotFound, program_key
from gpuplane._proto.v1 import admission_pb2 as ap
from gpuplane._proto.v1 import admission_pb2_grpc
from gpuplane.client_values import FinishOutcome, Route, RouteOutcome, RouteStreamResult


def test_route_tracks_a_request_until_finish_route(client, server):
    client.register_replica("r1", model="llama", max_running=8)
    client.register_replica("r2", model="llama", max_running=8)
    client.report_load("r1", waiting=0, waiting_blocks=40)
    first = client.route(model="llama", prompt_tokens=160, request_id="q1")
    assert first.replica_id == "r2"
    # q1's 10 blocks now count on r2 until r2 reports again: q2 goes to r2 still (10 < 41).
    assert client.route(model="llama", prompt_tokens=160, request_id="q2").replica_id == "r2"
    with pytest.raises(Conflict):
        client.route(model="llama", request_id="q1")
    assert client.finish_route("q1", input_tokens=160, output_tokens=20) == "r2"
    with pytest.raises(NotFound):
        client.finish_route("q1")
    counters = server.daemon.engine.router.core.fleet_counters()
    assert counters["default"] == pytest.approx(160 + 2 * 20)


def _message(n: int, finish: list[str] = ()) -> ap.RouteStreamRequest:
    msg = ap.RouteStreamRequest()
    for i in range(n):
        msg.routes.add(tenant="default", model="llama", block_hashes=[i % 3])
    for rid in finish:
        msg.finishes.add(request_id=rid, output_tokens=5)
    return msg


def test_route_stream_answers_each_message_in_order_with_per_call_errors(client):
    client.register_replica("r1", model="llama", max_running=8)
    client.report_load("r1", cached_block_hashes=[0])
    msgs = [_message(3), _message(2, finish=["nope"])]
    bad = msgs[1].routes.add(tenant="default", model="mistral")
    assert bad.model == "mistral"
    tracked = msgs[0].routes.add(tenant="default", model="llama", request_id="s1")
    assert tracked.request_id == "s1"
    msgs.append(_message(0, finish=["s1"]))
    out = list(client.route_stream(msgs))
    assert [len(o.routes) for o in out] == [4, 3, 0]
    assert [r.route.replica_id for r in out[0].routes] == ["r1"] * 4
    assert out[0].routes[0].route.prefix_blocks == 1
    assert not out[1].routes[2].routed
    assert (out[1].routes[2].route, out[1].routes[2].code) == (None, "NOT_FOUND")
    assert (out[1].finishes[0].replica_id, out[1].finishes[0].code) == (None, "NOT_FOUND")
    assert out[2].finishes[0] == FinishOutcome("r1")


def test_route_stream_gives_the_value_classes_unary_route_gives(client):
    client.register_replica("r1", model="llama", max_running=8)
    client.report_load("r1", cached_block_hashes=[0, 1])
    unary = client.route(model="llama", block_hashes=[0, 1, 2])
    (out,) = list(client.route_stream([_message(1)]))
    assert isinstance(out, RouteStreamResult)
    (streamed,) = out.routes
    assert streamed == RouteOutcome(route=streamed.route)
    assert type(streamed.route) is type(unary) is Route
    assert (streamed.route.replica_id, streamed.route.prefix_blocks) == ("r1", 1)
    assert streamed.route.reason and "prefix" in streamed.route.reason
    assert "RouteOutcome(route=Route(replica_id='r1'" in repr(streamed)


def test_route_stream_refuses_malformed_input_per_call(server):
    with grpc.insecure_channel(server.target) as channel:
        stub = admission_pb2_grpc.AdmissionServiceStub(channel)
        msg = ap.RouteStreamRequest()
        msg.routes.add(tenant="bad\nname")
        msg.routes.add(tenant="a", workflow_id="task\x1b42")
        (out,) = list(stub.RouteStream(iter([msg])))
        assert [r.error.code for r in out.routes] == ["INVALID_ARGUMENT"] * 2
        assert "tenant" in out.routes[0].error.message
        assert "workflow_id" in out.routes[1].error.message


def test_route_stream_takes_the_program_id_admit_takes(client, server):
    client.register_replica("r1", model="llama", max_running=8)
    client.register_replica("r2", model="llama", max_running=8)
    msg = ap.RouteStreamRequest()
    for k in range(2):
        msg.routes.add(tenant="a", model="llama", prompt_tokens=512, request_id=f"c{k}", workflow_id="task-7")
    (out,) = list(client.route_stream([msg]))
    first, again = (r.route for r in out.routes)
    assert again.replica_id == first.replica_id and "workflow +32.000" in again.reason
    assert server.daemon.engine.router.core.program_replica(program_key("a", "task-7")) == first.replica_id


def test_route_carries_the_workflow_id_to_the_core_router(client, server):
    client.register_replica("r1", model="llama", max_running=8)
    client.register_replica("r2", model="llama", max_running=8)
    first = client.route(model="llama", prompt_tokens=512, request_id="c0", workflow="task-7")
    # c0's 32 blocks count as load on its replica; the workflow term brings call 1 back there,
    # while a call of another program goes to the idle replica.
    again = client.route(model="llama", prompt_tokens=512, request_id="c1", workflow="task-7")
    assert again.replica_id == first.replica_id and "workflow +32.000" in again.reason
    other = client.route(model="llama", prompt_tokens=512, request_id="d0", workflow="task-8")
    assert other.replica_id != first.replica_id
    key = program_key("default", "task-7")
    assert server.daemon.engine.router.core.program_replica(key) == first.replica_id
    plain = client.route(model="llama", prompt_tokens=512)
    assert "workflow" not in plain.reason
