"""``gpuplane.vllm.check:MetadataCheck``: gpuplane's request metadata checked where vLLM admits
a request, so that a malformed value is refused before it reaches the engine.

vLLM runs its logits processors' ``validate_params`` in the front end, and its OpenAI server
answers the ``VLLMValidationError`` they raise with HTTP 400 naming the parameter; an error
found later, in the engine core, can only finish the request with ``finish_reason="error"``
(HTTP 500 on the OpenAI server, without a message). A tenant the policy does not know (or one
with children) is refused here too: the front end builds the policy engine from the same
``GPUPLANE_POLICY`` / ``GPUPLANE_SERVICE`` as the engine core and asks the core's lookup.
Register it next to the scheduler::

    vllm serve MODEL --scheduler-cls gpuplane.vllm.Scheduler \\
        --logits-processors gpuplane.vllm.check:MetadataCheck

It leaves the logits alone (vLLM's V1 model runner; the V2 runner has another interface).
"""

from __future__ import annotations

import functools
from typing import Any

import gpuplane
from gpuplane.vllm.version import check_vllm_version

check_vllm_version()  # before vLLM's modules, so an untested vLLM fails clearly

from vllm import SamplingParams  # noqa: E402
from vllm.exceptions import VLLMValidationError  # noqa: E402
from vllm.v1.sample.logits_processor import LogitsProcessor  # noqa: E402

from gpuplane.errors import InvalidRequest  # noqa: E402
from gpuplane.vllm.metadata import check_metadata  # noqa: E402
from gpuplane.vllm.policy_file import policy_from_env  # noqa: E402
from gpuplane.vllm.service_policy import engine_policy  # noqa: E402

FQCN = "gpuplane.vllm.check:MetadataCheck"


@functools.cache
def front_end_policy() -> gpuplane.Policy | None:
    """The engine's policy engine as the front end sees it (``GPUPLANE_POLICY`` and
    ``GPUPLANE_SERVICE`` of this process, read once): the same tenants the engine core's
    scheduler is built with, so an unknown tenant is refused here with the core's answer."""
    return engine_policy(policy_from_env())


class MetadataCheck(LogitsProcessor):
    """Refuses, at admission, a request whose ``extra_args`` (``vllm_xargs``) hold malformed
    gpuplane metadata; a no-op on the logits."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """``VLLMValidationError`` naming the key (``vllm_xargs.tenant``) for bad metadata."""
        extra_args = sampling_params.extra_args
        try:
            check_metadata(extra_args, sampling_params.max_tokens, front_end_policy())
        except InvalidRequest as e:
            key = e.field or ""
            value = (extra_args or {}).get(key)
            raise VLLMValidationError(str(e), parameter=f"vllm_xargs.{key}", value=value) from e

    def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
        pass

    def apply(self, logits: Any) -> Any:
        return logits

    def is_argmax_invariant(self) -> bool:
        return True

    def update_state(self, batch_update: Any) -> None:
        pass


def is_registered(vllm_config: Any) -> bool:
    """Whether the engine runs ``MetadataCheck`` (``--logits-processors``)."""
    registered = vllm_config.model_config.logits_processors or ()
    return any(p in (FQCN, MetadataCheck) for p in registered)
