"""gpuplane inside vLLM: ``--scheduler-cls gpuplane.vllm.Scheduler``.

The core's ``BatchScheduler`` decides each engine step (admission, tokens per request,
preemption) and vLLM's KV cache manager executes it. See :class:`Scheduler`. Importing
``Scheduler`` checks the installed vLLM against the tested range (``ImportError`` outside it);
the metadata and policy-file modules work without vLLM.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Scheduler"]


def __getattr__(name: str) -> Any:
    if name == "Scheduler":
        from gpuplane.vllm.version import check_vllm_version

        check_vllm_version()  # before vLLM's modules, so an untested vLLM fails clearly
        from gpuplane.vllm.scheduler import Scheduler

        return Scheduler
    raise AttributeError(f"module 'gpuplane.vllm' has no attribute {name!r}")
