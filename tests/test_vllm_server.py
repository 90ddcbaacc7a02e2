"""gpuplane.vllm.Scheduler behind vLLM's real OpenAI server (the vLLM stack's python, the tiny
Llama): a request with malformed gpuplane metadata in ``vllm_xargs``, or with a tenant the
policy (``GPUPLANE_POLICY``) does not know, is refused with HTTP 400 naming the key
(``gpuplane.vllm.check:MetadataCheck`` checks it where vLLM admits requests), and the server
goes on serving the others."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vllm_stack"))
import harness

ARGS = (
    "--scheduler-cls",
    "gpuplane.vllm.Scheduler",
    "--logits-processors",
    "gpuplane.vllm.check:MetadataCheck",
)


# The tenants the engine and its front end know; any other tenant is refused.
POLICY = "[tenants.alice]\nweight = 2.0\n[tenants.bob]\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    model = harness.tiny_model(tmp_path_factory.getbasetemp() / "tiny-llama")
    directory = tmp_path_factory.mktemp("vllm-server")
    policy = directory / "policy.toml"
    policy.write_text(POLICY)
    env = {"GPUPLANE_POLICY": str(policy)}
    with harness.openai_server(model, directory / "server.log", *ARGS, env=env) as url:
        yield url, str(model)


def complete(server: tuple[str, str], **xargs: Any) -> tuple[int, dict[str, Any]]:
    url, model = server
    body = {"model": model, "prompt": [1, 2, 3, 4, 5, 6, 7, 8], "max_tokens": 4, "temperature": 0}
    return harness.post_json(f"{url}/v1/completions", {**body, "vllm_xargs": xargs})


def test_a_request_with_a_tenant_is_served(server):
    status, body = complete(server, tenant="alice", workflow="agent-1")
    assert status == 200, body
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("xargs", "key", "text"),
    [
        ({"tenant": 7}, "tenant", "extra_args.tenant: must be a non-empty string, got 7"),
        ({"deadline_s": "soon"}, "deadline_s", "extra_args.deadline_s: must be a number of seconds"),
        ({"tenant": "ali\u202ece"}, "tenant", "tenant"),
        ({"tenant": "mallory"}, "tenant", "extra_args.tenant: invalid tenant: unknown tenant"),
        ({}, "tenant", 'unknown tenant "default"'),
    ],
)
def test_malformed_metadata_is_refused_with_400_naming_the_key_and_the_server_goes_on(
    server, xargs, key, text
):
    status, body = complete(server, **xargs)
    assert status == 400, body
    assert text in body["error"]["message"]
    assert body["error"]["param"] == f"vllm_xargs.{key}"
    status, body = complete(server, tenant="bob")
    assert status == 200, body
    assert body["choices"][0]["finish_reason"] == "length"
