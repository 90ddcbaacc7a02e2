"""Request metadata from vLLM's ``SamplingParams.extra_args`` (``vllm_xargs`` on the OpenAI
server): ``tenant``, ``workflow``, ``deadline_s`` and ``priority_class`` (a class of the policy
file). This module only converts types; the core
checks the values when the request is built (``gpuplane.Request``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpuplane.errors import InvalidRequest

DEFAULT_TENANT = "default"
KEYS = ("tenant", "workflow", "deadline_s", "priority_class")


@dataclass(frozen=True)
class RequestMetadata:
    """What gpuplane reads from one request's ``extra_args``."""

    tenant: str = DEFAULT_TENANT
    workflow: int | None = None
    deadline_s: float | None = None
    priority_class: str | None = None


def workflow_key(value: str | int) -> int:
    """A workflow id as the core's 63-bit integer: ints as they are, strings by a stable hash."""
    if isinstance(value, int):
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _tenant(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"extra_args.tenant: must be a non-empty string, got {value!r}", "tenant")
    return value


def _workflow(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise InvalidRequest(
            f"extra_args.workflow: must be an integer or a non-empty string, got {value!r}", "workflow"
        )
    return workflow_key(value)


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
