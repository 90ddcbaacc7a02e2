"""GPU telemetry: what this host's GPUs are and how they are used, read through NVML.

``nvml.Nvml`` reads the inventory, samples and health events of the local GPUs (through
nvidia-ml-py); ``feeder.Feeder`` applies them to a ``gpuplane.Cluster`` (external memory usage
and health). Every decision stays in the core; this package only reads and converts.
"""

from __future__ import annotations

from gpuplane.telemetry.feeder import Feeder
from gpuplane.telemetry.nvml import Nvml, discover, discover_host
from gpuplane.telemetry.types import (
    GpuInfo,
    GpuSample,
    HealthEvent,
    HostInventory,
    HostSample,
    ProcessUsage,
)

__all__ = [
    "Feeder",
    "GpuInfo",
    "GpuSample",
    "HealthEvent",
    "HostInventory",
    "HostSample",
    "Nvml",
    "ProcessUsage",
    "discover",
    "discover_host",
]
