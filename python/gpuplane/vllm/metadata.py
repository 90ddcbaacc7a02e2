"""Request metadata from vLLM's ``SamplingParams.extra_args`` (``vllm_xargs`` on the OpenAI
server): ``tenant``, ``workflow``, ``deadline_s`` and ``priority_class`` (a class of the policy
file). This module only converts types; the core checks the values when the request is built
(``core_request``). ``workflow`` is the agent program's id, the same string the service's
Admit and Route take (an int stands for its decimal string); the core maps it to the
scheduler's key (``gpuplane.program_key``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gpuplane
from gpuplane.errors import InvalidRequest

DEFAULT_TENANT = "default"
KEYS = ("tenant", "workflow", "deadline_s", "priority_class")
# The core's field names (``gpuplane.Request``) whose ``extra_args`` key differs.
KEY_OF_CORE_FIELD = {"ttft_deadline": "deadline_s"}


@dataclass(frozen=True)
class RequestMetadata:
    """What gpuplane reads from one request's ``extra_args``."""

    tenant: str = DEFAULT_TENANT
    workflow: str | None = None
    deadline_s: float | None = None
    priority_class: str | None = None


def _tenant(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"extra_args.tenant: must be a non-empty string, got {value!r}", "tenant")
    return value


def _workflow(value: Any) -> str | None:
    """The program id: a string as it is, an int as its decimal string (the core checks it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        why = f"extra_args.workflow: must be a string or an integer, got {value!r}"
        raise InvalidRequest(why, "workflow")
    return str(value)


def _deadline(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(
            f"extra_args.deadline_s: must be a number of seconds, got {value!r}", "deadline_s"
        )
    return float(value)


def _priority_class(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"extra_args.priority_class: must be a non-empty string, got {value!r}", "priority_class"
        )
    return value


def parse_metadata(extra_args: Mapping[str, Any] | None) -> RequestMetadata:
    """The metadata of one request; a malformed value raises ``InvalidRequest`` naming the key."""
    if not extra_args:
        return RequestMetadata()
    return RequestMetadata(
        tenant=_tenant(extra_args.get("tenant", DEFAULT_TENANT)),
        workflow=_workflow(extra_args.get("workflow")),
        deadline_s=_deadline(extra_args.get("deadline_s")),
        priority_class=_priority_class(extra_args.get("priority_class")),
    )


def core_request(
    core_id: int,
    meta: RequestMetadata,
    prompt_len: int,
    max_tokens: int,
    *,
    arrival: float = 0.0,
    priority: int = 0,
    block_hashes: list[int] | None = None,
) -> gpuplane.Request:
    """The core's request for one vLLM request: the core checks every value here."""
    deadline = None if meta.deadline_s is None else arrival + meta.deadline_s
    workflow = None if meta.workflow is None else gpuplane.program_key(meta.tenant, meta.workflow)
    return gpuplane.Request(
        core_id,
        meta.tenant,
        prompt_len,
        max_tokens,
        priority=priority,
        arrival=arrival,
        ttft_deadline=deadline,
        workflow=workflow,
        block_hashes=block_hashes or [],
        priority_class=meta.priority_class,
    )


def check_metadata(
    extra_args: Mapping[str, Any] | None,
    max_tokens: int | None,
    policy: gpuplane.Policy | None = None,
) -> RequestMetadata:
    """``parse_metadata``, then the core's checks of the values (on a request of one prompt
    token) and, with the engine's ``policy``, the core's tenant lookup (a tenant that cannot
    hold work): what can be refused before the request reaches the engine."""
    meta = parse_metadata(extra_args)
    try:
        core_request(0, meta, 1, max(max_tokens or 1, 1))
        if policy is not None:
            policy.check_leaf(meta.tenant)
    except InvalidRequest as e:
        key = KEY_OF_CORE_FIELD.get(e.field or "", e.field)
        raise InvalidRequest(f"extra_args.{key}: {e}", key) from e
    return meta
