"""Secrets reach ``gpuplane serve`` from a private file or an environment variable, not only
the command line (which any local user reads in ``/proc/PID/cmdline``); a secrets file other
users may read is refused."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest
from daemon_harness import Process
from gpuplane._proto.v1 import admin_pb2, admin_pb2_grpc
from gpuplane.cli import parser
from gpuplane.commands.serve import config_of
from gpuplane.daemon import auth
from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.tokens import ADMIN_TOKEN_ENV, read_secret
from test_auth import ADMIN, bearer


def secret_file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "secret"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_secrets_files_other_users_may_read_are_refused(tmp_path, mode):
    token_file = secret_file(tmp_path, ADMIN + "\n", mode)
    with pytest.raises(ValueError, match="chmod 600"):
        read_secret(token_file)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(f'{{"{ADMIN}": "admin"}}')
    tokens.chmod(mode)
    with pytest.raises(ValueError, match="chmod 600"):
        auth.check_startup(ServeConfig(listen="127.0.0.1:0", tokens_file=tokens))


def test_the_admin_token_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    token_file = secret_file(tmp_path, f"  {ADMIN}\n", 0o600)
    assert (
        config_of(parser().parse_args(["serve", "--admin-token-file", str(token_file)])).admin_token == ADMIN
    )
    monkeypatch.setenv(ADMIN_TOKEN_ENV, ADMIN)
    assert config_of(parser().parse_args(["serve"])).admin_token == ADMIN
    with pytest.raises(ValueError, match="empty"):
        read_secret(secret_file(tmp_path, "\n", 0o600))


def test_a_served_admin_token_from_a_file_stays_off_the_command_line(tmp_path):
    token_file = secret_file(tmp_path, ADMIN, 0o600)
    daemon = Process(tmp_path, "--admin-token-file", str(token_file))
    try:
        cmdline = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
        assert ADMIN.encode() not in cmdline
        with grpc.insecure_channel(daemon.target) as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListTenants(admin_pb2.ListTenantsRequest())
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stub.ListTenants(admin_pb2.ListTenantsRequest(), metadata=bearer(ADMIN))
    finally:
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
