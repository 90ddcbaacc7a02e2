"""Fixtures shared by the daemon API tests: an in-process server, a typed client and a raw
placement stub on it."""

from __future__ import annotations

import os

# Ray's single-machine mode, before anything imports Ray: every Ray process of the session binds
# loopback, not the machine's interface address (see tests/ray_cluster.py).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Ray gives its dashboard 60 s to start, which a loaded machine can miss; waits stay bounded.
os.environ.setdefault("RAY_DASHBOARD_STARTUP_TIMEOUT_S", "300")

import grpc
import pytest
from daemon_harness import in_process, make_config
from gpuplane import Client
from gpuplane._proto.v1 import placement_pb2_grpc


@pytest.fixture
def server(tmp_path):
    with in_process(make_config(tmp_path)) as s:
        yield s


@pytest.fixture
def client(server):
    with Client(server.target) as c:
        yield c


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield placement_pb2_grpc.PlacementServiceStub(channel)
