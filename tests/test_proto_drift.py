"""The committed generated code (python/gpuplane/_proto) matches the .proto files exactly."""

from __future__ import annotations

import filecmp
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "python" / "gpuplane" / "_proto"


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="needs grpcio-tools (test extra)")
def test_generated_code_matches_the_protos(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(tmp_path)], check=True
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    committed = sorted(
        p.relative_to(COMMITTED) for p in COMMITTED.rglob("*.py*") if "__pycache__" not in p.parts
    )
    assert fresh == committed, "generated files differ in name: run python scripts/gen_proto.py"
    differing = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, COMMITTED / p, shallow=False)]
    assert not differing, f"stale generated code {differing}: run python scripts/gen_proto.py"


def test_generated_code_imports_from_the_package():
    from gpuplane._proto.v1 import admin_pb2_grpc, admission_pb2_grpc, placement_pb2_grpc, telemetry_pb2_grpc

    assert placement_pb2_grpc.PlacementServiceStub
    assert admission_pb2_grpc.AdmissionServiceStub
    assert admin_pb2_grpc.AdminServiceStub
    assert telemetry_pb2_grpc.TelemetryServiceStub
