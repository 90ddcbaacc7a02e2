"""Security of the daemon (``daemon.auth``): start-up refusal, bearer tokens, tenant isolation,
TLS and mutual TLS, against a real in-process server on a loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from certs import CertificateAuthority
from gpuplane._proto.v1 import admin_pb2, admin_pb2_grpc, placement_pb2, placement_pb2_grpc, types_pb2
from gpuplane.daemon import auth, server
from gpuplane.daemon.config import ServeConfig
from gpuplane.daemon.hooks import Principal
from gpuplane.daemon.tokens import Tokens
from gpuplane.errors import PermissionDenied
from grpc_health.v1 import health_pb2, health_pb2_grpc

ADMIN = "admin-token-0123456789abcdef"
ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"
AGENT = "agent-token-0123456789abcdef"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({ALICE: "alice", BOB: "bob", AGENT: "agent"}))
    path.chmod(0o600)
    return path


@pytest.fixture
def config(tmp_path: Path, tokens_file: Path) -> ServeConfig:
    return ServeConfig(
        listen="127.0.0.1:0",
        simulate="1x4xH100-80GB",
        use_nvml=False,
        state_dir=tmp_path / "state",
        admin_token=ADMIN,
        tokens_file=tokens_file,
        shutdown_grace_s=0.5,
    )


async def add_tenants(port: int, *names: str) -> None:
    """Creates tenants through the admin API (placements need a known tenant)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        for name in names:
            put = admin_pb2.PutTenantRequest(tenant=types_pb2.Tenant(name=name))
            await admin.PutTenant(put, metadata=bearer(ADMIN))


def with_server(
    config: ServeConfig, body: Callable[[int], Awaitable[Any]], tenants: tuple[str, ...] = ("alice", "bob")
) -> Any:
    """Starts the daemon, creates ``tenants`` (over plain text), runs ``body(port)``, stops it."""

    async def main() -> Any:
        daemon = await server.start(config)
        try:
            await add_tenants(daemon.port, *tenants)
            return await body(daemon.port)
        finally:
            await daemon.stop(grace=0.5)

    return asyncio.run(main())


def workload(wid: str, tenant: str) -> types_pb2.Workload:
    return types_pb2.Workload(id=wid, tenant=tenant, memory_mib=1000, gpu_count=1)


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    """The status code a call ends with (OK if it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as e:
        return e.code()
    return grpc.StatusCode.OK


# ---- start-up -----------------------------------------------------------------------------------


def test_loopback_may_run_open(tmp_path):
    auth.check_startup(ServeConfig(listen="127.0.0.1:50151", state_dir=tmp_path))
    auth.check_startup(ServeConfig(listen="localhost:50151", state_dir=tmp_path))
    auth.check_startup(ServeConfig(listen="[::1]:50151", state_dir=tmp_path))
    assert auth.interceptors(ServeConfig(listen="127.0.0.1:0")) == []


@pytest.mark.parametrize("listen", ["0.0.0.0:50151", "10.1.2.3:50151", "[::]:50151", "gpu-host:50151"])
def test_any_other_bind_refuses_without_tls_and_tokens(listen, tmp_path, tokens_file):
    ca = CertificateAuthority(tmp_path)
    cert = ca.issue("server", "localhost", server=True)
    bare = ServeConfig(listen=listen, state_dir=tmp_path)
    with pytest.raises(ValueError, match="TLS and tokens"):
        auth.check_startup(bare)
    with pytest.raises(ValueError, match="without tokens"):
        auth.check_startup(replace(bare, tls_cert=cert.cert, tls_key=cert.key))
    with pytest.raises(ValueError, match="without TLS"):
        auth.check_startup(replace(bare, admin_token=ADMIN))
    auth.check_startup(replace(bare, tls_cert=cert.cert, tls_key=cert.key, tokens_file=tokens_file))
    auth.check_startup(replace(bare, insecure=True))


def test_the_server_itself_refuses_to_start_on_a_wildcard_address(tmp_path):
    config = ServeConfig(listen="0.0.0.0:0", state_dir=tmp_path, simulate="1x1xH100-80GB", use_nvml=False)
    with pytest.raises(ValueError, match="refusing"):
        asyncio.run(server.start(config))


def test_half_a_tls_configuration_or_weak_tokens_refuse(tmp_path):
    cert = CertificateAuthority(tmp_path).issue("server", "localhost", server=True)
    with pytest.raises(ValueError, match="both"):
        auth.check_startup(ServeConfig(listen="127.0.0.1:0", tls_cert=cert.cert))
    with pytest.raises(ValueError, match="needs --tls-cert"):
        auth.check_startup(ServeConfig(listen="127.0.0.1:0", tls_client_ca=cert.cert))
    with pytest.raises(ValueError, match="shorter"):
        auth.check_startup(ServeConfig(listen="127.0.0.1:0", admin_token="short"))
    bad = tmp_path / "tokens.yaml"
    bad.write_text("- just a list\n")
    bad.chmod(0o600)
    with pytest.raises(ValueError, match="maps each token"):
        auth.check_startup(ServeConfig(listen="127.0.0.1:0", tokens_file=bad))


def test_tokens_file_in_yaml(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(f"{ALICE}: alice\n{ADMIN}: admin\n{AGENT}: agent\n")
    path.chmod(0o600)
    tokens = Tokens.load(path, None)
    assert tokens.lookup(ALICE) == Principal("alice", tenant="alice")
    assert tokens.lookup(ADMIN).admin
    assert tokens.lookup(AGENT) == Principal("agent")
    assert tokens.lookup("nobody-0123456789abcdef") is None


# ---- tokens over the wire ----------------------------------------------------------------------


def test_no_token_and_wrong_token_are_unauthenticated(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            request = placement_pb2.PlaceRequest(workload=workload("w", "alice"))
            assert await code_of(stub.Place(request)) == grpc.StatusCode.UNAUTHENTICATED
            wrong = bearer("not-a-token-0123456789abcdef")
            assert await code_of(stub.Place(request, metadata=wrong)) == grpc.StatusCode.UNAUTHENTICATED
            basic = (("authorization", f"Basic {ALICE}"),)
            assert await code_of(stub.Place(request, metadata=basic)) == grpc.StatusCode.UNAUTHENTICATED
            assert await code_of(stub.Place(request, metadata=bearer(ALICE))) == grpc.StatusCode.OK
            # Nothing was placed by the refused calls: only alice's one workload exists.
            cluster = await stub.GetCluster(placement_pb2.GetClusterRequest(), metadata=bearer(ADMIN))
            assert cluster.stats.workloads == 1

    with_server(config, body)


def test_a_tenant_cannot_touch_another_tenants_workload(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            await stub.Place(
                placement_pb2.PlaceRequest(workload=workload("a1", "alice")), metadata=bearer(ALICE)
            )
            release = stub.Release(placement_pb2.ReleaseRequest(workload_id="a1"), metadata=bearer(BOB))
            assert await code_of(release) == grpc.StatusCode.NOT_FOUND  # as for an unknown id
            as_alice = stub.Place(
                placement_pb2.PlaceRequest(workload=workload("b1", "alice")), metadata=bearer(BOB)
            )
            assert await code_of(as_alice) == grpc.StatusCode.PERMISSION_DENIED
            mine = stub.Release(placement_pb2.ReleaseRequest(workload_id="a1"), metadata=bearer(ALICE))
            assert await code_of(mine) == grpc.StatusCode.OK

    with_server(config, body)


def test_bulk_calls_act_only_on_the_callers_tenant(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            columns = placement_pb2.WorkloadColumns(ids=["c1", "c2"], memory_mib=[1, 1], gpu_count=[1, 1])
            as_alice = placement_pb2.PlaceColumnsRequest(tenant="alice", columns=columns)
            denied = stub.PlaceColumns(as_alice, metadata=bearer(BOB))
            assert await code_of(denied) == grpc.StatusCode.PERMISSION_DENIED
            placed = await stub.PlaceColumns(as_alice, metadata=bearer(ALICE))
            assert list(placed.placed) == [True, True]
            release = placement_pb2.ReleaseBatchRequest(workload_ids=["c1", "c2"])
            by_bob = await stub.ReleaseBatch(release, metadata=bearer(BOB))
            assert list(by_bob.released) == [False, False]
            by_alice = await stub.ReleaseBatch(release, metadata=bearer(ALICE))
            assert list(by_alice.released) == [True, True]

    with_server(config, body)


def test_admin_calls_need_the_admin_token(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            put = admin_pb2.PutTenantRequest(tenant=types_pb2.Tenant(name="carol"))
            assert (
                await code_of(admin.PutTenant(put, metadata=bearer(ALICE)))
                == grpc.StatusCode.PERMISSION_DENIED
            )
            assert (
                await code_of(admin.PutTenant(put, metadata=bearer(AGENT)))
                == grpc.StatusCode.PERMISSION_DENIED
            )
            assert await code_of(admin.PutTenant(put, metadata=bearer(ADMIN))) == grpc.StatusCode.OK
            placement = placement_pb2_grpc.PlacementServiceStub(channel)
            drain = placement_pb2.DrainRequest()
            assert (
                await code_of(placement.Drain(drain, metadata=bearer(BOB)))
                == grpc.StatusCode.PERMISSION_DENIED
            )

    with_server(config, body)


def test_an_agent_token_only_reports_telemetry(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = placement_pb2_grpc.PlacementServiceStub(channel)
            place = stub.Place(
                placement_pb2.PlaceRequest(workload=workload("x", "alice")), metadata=bearer(AGENT)
            )
            assert await code_of(place) == grpc.StatusCode.PERMISSION_DENIED

    with_server(config, body)


def test_health_checks_need_no_token(config):
    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    with_server(config, body)


def test_role_policy_for_handlers():
    policy = auth.RolePolicy()
    alice = Principal("alice", tenant="alice")
    policy.authorize(alice, "Place", "alice")
    policy.authorize(alice, "GetCluster", None)
    with pytest.raises(PermissionDenied):
        policy.authorize(alice, "Release", "bob")
    with pytest.raises(PermissionDenied):
        policy.authorize(alice, "Preempt", "alice")
    with pytest.raises(PermissionDenied):
        policy.authorize(alice, "RegisterReplica", None)
    policy.authorize(Principal("admin", admin=True), "Drain", None)


# ---- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = CertificateAuthority(tmp_path / "ca")
    stranger = CertificateAuthority(tmp_path / "stranger", name="unknown CA")
    return {
        "ca": ca,
        "server": ca.issue("server", "localhost", server=True),
        "client": ca.issue("client", "client-1", server=False),
        "foreign_client": stranger.issue("foreign", "intruder", server=False),
    }


async def cluster_code(channel: grpc.aio.Channel) -> grpc.StatusCode:
    stub = placement_pb2_grpc.PlacementServiceStub(channel)
    return await code_of(
        stub.GetCluster(placement_pb2.GetClusterRequest(), metadata=bearer(ADMIN), timeout=10)
    )


def test_plain_text_client_against_a_tls_server_fails(config, pki):
    tls = replace(config, tls_cert=pki["server"].cert, tls_key=pki["server"].key)

    async def body(port: int) -> None:
        async with grpc.aio.insecure_channel(f"localhost:{port}") as channel:
            assert await cluster_code(channel) == grpc.StatusCode.UNAVAILABLE
        creds = grpc.ssl_channel_credentials(root_certificates=pki["ca"].pem)
        async with grpc.aio.secure_channel(f"localhost:{port}", creds) as channel:
            assert await cluster_code(channel) == grpc.StatusCode.OK

    with_server(tls, body, tenants=())


def test_mutual_tls_rejects_a_client_certificate_from_an_unknown_authority(config, pki):
    mtls = replace(
        config, tls_cert=pki["server"].cert, tls_key=pki["server"].key, tls_client_ca=pki["ca"].issued.cert
    )

    def creds(client: Any | None) -> grpc.ChannelCredentials:
        if client is None:
            return grpc.ssl_channel_credentials(root_certificates=pki["ca"].pem)
        return grpc.ssl_channel_credentials(pki["ca"].pem, client.key_pem, client.cert_pem)

    async def body(port: int) -> None:
        for client, expected in (
            (pki["foreign_client"], grpc.StatusCode.UNAVAILABLE),
            (None, grpc.StatusCode.UNAVAILABLE),
            (pki["client"], grpc.StatusCode.OK),
        ):
            async with grpc.aio.secure_channel(f"localhost:{port}", creds(client)) as channel:
                assert await cluster_code(channel) == expected

    with_server(mtls, body, tenants=())
