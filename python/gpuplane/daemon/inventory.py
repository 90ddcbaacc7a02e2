"""Where the daemon's GPUs come from at start-up: NVML, an inventory file, or a simulation.

``telemetry.nvml.discover()`` returns ``gpuplane.inventory.NodeInventory`` values (or None
without a driver), ``gpuplane.inventory`` reads a file or builds a simulation; ``resolve`` picks
the source in that order.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from gpuplane.inventory import NodeInventory, load_file, simulate

log = logging.getLogger("gpuplane.daemon")


@dataclass(frozen=True)
class InventorySource:
    """The nodes found at start-up and where they came from (said in one log line)."""

    kind: str  # "nvml", "file" or "simulated"
    detail: str
    nodes: tuple[NodeInventory, ...]

    def describe(self) -> str:
        """``simulated inventory 1x8xH100-80GB (1 node, 8 GPUs)``."""
        gpus = sum(len(n.gpus) for n in self.nodes)
        label = {"nvml": "NVML", "file": "inventory file", "simulated": "simulated inventory"}[self.kind]
        return f"{label} {self.detail}: {len(self.nodes)} node(s), {gpus} GPU(s)"


def discover_nvml() -> list[NodeInventory] | None:
    """``gpuplane.telemetry.nvml.discover()`` if that module is installed, else None."""
    try:
        nvml = importlib.import_module("gpuplane.telemetry.nvml")
    except ImportError:
        return None
    try:
        return nvml.discover()
    except Exception as e:  # a broken driver must not stop the daemon from starting
        log.warning("NVML discovery failed (%s); falling back", e)
        return None


def resolve(
    inventory: Path | None, simulate_spec: str | None, use_nvml: bool, default_spec: str
) -> InventorySource:
    """The start-up inventory: NVML if a driver answers, else the file, else the simulation."""
    if use_nvml and inventory is None and simulate_spec is None:
        found = discover_nvml()
        if found:
            return InventorySource("nvml", "from the local driver", tuple(found))
    if inventory is not None:
        return InventorySource("file", str(inventory), tuple(load_file(inventory)))
    spec = simulate_spec or default_spec
    detail = spec if simulate_spec else f"{spec}, the embedded default (no GPU driver, no inventory file)"
    return InventorySource("simulated", detail, tuple(simulate(spec)))
