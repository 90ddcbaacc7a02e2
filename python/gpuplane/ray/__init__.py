"""gpuplane on Ray: a Ray Serve request router on the core ``Router``, the replica-side report
it reads, and GPU-memory packing of Ray actors and placement-group bundles on ``Cluster``.

Needs ``ray[serve]`` (``pip install "gpuplane[ray]"``)."""

from __future__ import annotations

from gpuplane.ray.config import ROUTER_CLASS, RouterSettings, router_config
from gpuplane.ray.figures import EngineFigures
from gpuplane.ray.packing import GpuPacker, RayPlacement
from gpuplane.ray.replica import RoutingStatsMixin, figures_from_scheduler
from gpuplane.ray.request import Request
from gpuplane.ray.router import Router

__all__ = [
    "ROUTER_CLASS",
    "EngineFigures",
    "GpuPacker",
    "RayPlacement",
    "Request",
    "Router",
    "RouterSettings",
    "RoutingStatsMixin",
    "figures_from_scheduler",
    "router_config",
]
