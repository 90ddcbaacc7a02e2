"""The web page off loopback: the gRPC service's TLS and tokens, with the same rules (a tenant's
token sees its own placements and no tenant list; an agent's token sees nothing)."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from certs import CertificateAuthority
from daemon_harness import in_process, make_config
from gpuplane import Client, Workload

ADMIN = "admin-token-0123456789abcdef"
ALICE = "alice-token-0123456789abcdef"
AGENT = "agent-token-0123456789abcdef"


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def secured(tmp_path, ca):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({ALICE: "alice", AGENT: "agent"}))
    tokens.chmod(0o600)
    cert = ca.issue("server", "localhost", server=True)
    config = make_config(tmp_path / "state", http_port=0, listen="0.0.0.0:0", admin_token=ADMIN)
    config = replace(config, tokens_file=tokens, tls_cert=cert.cert, tls_key=cert.key)
    with in_process(config) as s:
        with Client(s.target, token=ADMIN, tls_ca=ca.issued.cert, server_name="localhost") as c:
            for tenant in ("alice", "bob"):
                c.put_tenant(tenant)
            c.place(Workload("alice-job", memory_mib=10_000, tenant="alice"))
            c.place(Workload("bob-job", memory_mib=10_000, tenant="bob"))
        yield s


def fetch(server, ca, path: str, token: str | None = None, cookie: str | None = None):
    """(status, headers, body) of an HTTPS GET that verifies the server against the test CA."""
    context = ssl.create_default_context(cafile=str(ca.issued.cert))
    conn = http.client.HTTPSConnection("localhost", server.daemon.web.port, context=context, timeout=10)
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    conn.close()
    return out


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/view"])
def test_without_a_valid_token_every_path_is_401(secured, ca, path):
    assert fetch(secured, ca, path)[0] == 401
    status, _, body = fetch(secured, ca, path, token="not-a-token-0123456789")
    assert status == 401 and b"unknown bearer token" in body


def test_the_admin_sees_everything(secured, ca):
    status, _, body = fetch(secured, ca, "/api/view", token=ADMIN)
    view = json.loads(body)
    assert status == 200 and view["tenants"] is not None
    placed = {s["workload"] for n in view["cluster"]["nodes"] for g in n["gpus"] for s in g["shares"]}
    assert placed == {"alice-job", "bob-job"}


def test_a_tenant_sees_its_own_work_and_no_tenant_list(secured, ca):
    assert fetch(secured, ca, "/api/view", token=ADMIN)[0] == 200  # the admin's view is cached first
    status, _, body = fetch(secured, ca, "/api/view", token=ALICE)
    view = json.loads(body)
    assert status == 200 and view["tenants"] is None
    placed = {s["workload"] for n in view["cluster"]["nodes"] for g in n["gpus"] for s in g["shares"]}
    assert placed == {"alice-job"}
    assert {d["tenant"] for d in view["decisions"]} <= {"alice", ""}
    assert any(d["subject"] == "alice-job" for d in view["decisions"])


def test_an_agent_token_may_not_read_the_page(secured, ca):
    status, _, body = fetch(secured, ca, "/api/view", token=AGENT)
    assert status == 403 and b"agent token" in body


def test_a_token_in_the_url_becomes_a_secure_httponly_cookie(secured, ca):
    status, headers, _ = fetch(secured, ca, f"/?token={ADMIN}")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    assert fetch(secured, ca, "/api/view", cookie=cookie.split(";")[0])[0] == 200
    assert fetch(secured, ca, "/?token=wrong-token-0123456789")[0] == 401


def test_plain_http_is_not_served_on_the_tls_port(secured):
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{secured.daemon.web.port}/", timeout=10)


def test_a_client_ca_requires_client_certificates(tmp_path, ca):
    server_cert = ca.issue("server", "localhost", server=True)
    client_cert = ca.issue("client", "operator", server=False)
    config = make_config(tmp_path / "state", http_port=0, admin_token=ADMIN)
    config = replace(config, tls_cert=server_cert.cert, tls_key=server_cert.key, tls_client_ca=ca.issued.cert)
    with in_process(config) as s:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            fetch(s, ca, "/api/view", token=ADMIN)
        context = ssl.create_default_context(cafile=str(ca.issued.cert))
        context.load_cert_chain(str(client_cert.cert), str(client_cert.key))
        conn = http.client.HTTPSConnection("localhost", s.daemon.web.port, context=context, timeout=10)
        conn.request("GET", "/api/view", headers={"Authorization": f"Bearer {ADMIN}"})
        assert conn.getresponse().status == 200
        conn.close()
