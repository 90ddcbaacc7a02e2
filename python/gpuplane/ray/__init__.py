"""gpuplane on Ray: a Ray Serve request router on the core ``Router``, the replica-side report
it reads (from a gpuplane ``BatchScheduler`` or a vLLM engine), and GPU-memory packing of Ray
actors and placement-group bundles on ``Cluster``.

Needs ``ray[serve]`` (``pip install "gpuplane[ray]"``) for :class:`Router` (imported on first
use) and the packer's calls into Ray; the replica-side figures import without Ray."""

from __future__ import annotations

from typing import Any

from gpuplane.ray.config import ROUTER_CLASS, RouterSettings, router_config
from gpuplane.ray.figures import EngineFigures
from gpuplane.ray.packing import GpuPacker, RayPlacement
from gpuplane.ray.replica import RoutingStatsMixin, figures_from_scheduler
from gpuplane.ray.request import Request
from gpuplane.ray.vllm_figures import VllmFigures

__all__ = [
    "ROUTER_CLASS",
    "EngineFigures",
    "GpuPacker",
    "RayPlacement",
    "Request",
    "Router",
    "RouterSettings",
    "RoutingStatsMixin",
    "VllmFigures",
    "figures_from_scheduler",
    "router_config",
]


def __getattr__(name: str) -> Any:
    # The router subclasses Ray Serve's RequestRouter: importing it imports Ray.
    if name == "Router":
        from gpuplane.ray.router import Router

        return Router
    raise AttributeError(f"module 'gpuplane.ray' has no attribute {name!r}")
