"""Nodes and GPUs as discovered, and the two ways to describe them without a driver: a
simulation spec (``2x8xH100-80GB``) and an inventory file (YAML or JSON).

``NodeInventory`` is the common currency of the NVML discovery (``telemetry.nvml``), the host
agent and the daemon's start-up inventory (``daemon.inventory``); it depends on neither.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuplane._core import GpuSpec
from gpuplane.errors import InvalidRequest

GIB_MIB = 1024
# Memory of GPU models named without a "-NNGB" suffix.
KNOWN_MODELS_GB = {
    "H100": 80,
    "H200": 141,
    "B200": 180,
    "A100": 80,
    "L40S": 48,
    "L4": 24,
    "A10": 24,
    "T4": 16,
}
SPEC = re.compile(r"^(?:(?P<nodes>\d+)x)?(?P<gpus>\d+)x(?P<model>[A-Za-z0-9][A-Za-z0-9_.-]*)$")
MEMORY_SUFFIX = re.compile(r"-(?P<gb>\d+)GB$", re.IGNORECASE)
MAX_SIM_GPUS = 1_000_000


@dataclass(frozen=True)
class NodeInventory:
    """One node and its GPUs, as discovered (``gpus`` are core ``GpuSpec`` values with ids)."""

    name: str
    gpus: tuple[GpuSpec, ...]
    labels: dict[str, str] = field(default_factory=dict)
    cpu_milli: int | None = None
    memory_mib: int | None = None


def model_memory_mib(model: str) -> int:
    """The memory of a GPU model from its name: ``H100-80GB`` -> 81920."""
    suffix = MEMORY_SUFFIX.search(model)
    if suffix:
        return int(suffix.group("gb")) * GIB_MIB
    if model in KNOWN_MODELS_GB:
        return KNOWN_MODELS_GB[model] * GIB_MIB
    raise InvalidRequest(f"GPU model {model!r} has no -<N>GB suffix and is not known", field="simulate")


def simulate(spec: str, prefix: str = "sim") -> list[NodeInventory]:
    """Nodes from ``[NODES x] GPUS x MODEL`` (``2x8xH100-80GB``: 2 nodes of 8 H100 80 GB)."""
    m = SPEC.match(spec.strip())
    if not m:
        raise InvalidRequest(f"bad spec {spec!r}: expected NODESxGPUSxMODEL, e.g. 2x8xH100-80GB", "simulate")
    nodes, gpus, model = int(m.group("nodes") or 1), int(m.group("gpus")), m.group("model")
    if nodes < 1 or gpus < 1 or nodes * gpus > MAX_SIM_GPUS:
        raise InvalidRequest(f"bad spec {spec!r}: need 1..{MAX_SIM_GPUS} GPUs", "simulate")
    memory = model_memory_mib(model)
    return [
        NodeInventory(
            name=f"{prefix}-{n}",
            gpus=tuple(GpuSpec(model, memory, id=f"{prefix}-{n}/{g}") for g in range(gpus)),
        )
        for n in range(nodes)
    ]


def _gpu_specs(node: str, entries: list[dict[str, Any]]) -> tuple[GpuSpec, ...]:
    """Expands a node's ``gpus`` entries (each may carry ``count``) into GpuSpecs with ids."""
    specs: list[GpuSpec] = []
    for i, entry in enumerate(entries):
        where = f"nodes[{node}].gpus[{i}]"
        if "model" not in entry:
            raise InvalidRequest(f"{where}.model is required", field=f"{where}.model")
        model = str(entry["model"])
        memory = int(entry.get("memory_mib") or model_memory_mib(model))
        for _ in range(int(entry.get("count", 1))):
            gpu_id = entry.get("id") if entry.get("count", 1) == 1 and entry.get("id") else None
            specs.append(
                GpuSpec(
                    model,
                    memory,
                    int(entry.get("compute_milli", 1000)),
                    entry.get("topology_group"),
                    id=gpu_id or f"{node}/{len(specs)}",
                )
            )
    return tuple(specs)


def parse_inventory(doc: Any) -> list[NodeInventory]:
    """Nodes from a parsed document ``{"nodes": [{"name", "gpus": [{"model", "count"}]}]}``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise InvalidRequest("inventory must be a mapping with a 'nodes' list", field="nodes")
    nodes = []
    for i, entry in enumerate(doc["nodes"]):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise InvalidRequest(f"nodes[{i}].name is required", field=f"nodes[{i}].name")
        name = str(entry["name"])
        nodes.append(
            NodeInventory(
                name=name,
                gpus=_gpu_specs(name, list(entry.get("gpus") or [])),
                labels={str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
                cpu_milli=entry.get("cpu_milli"),
                memory_mib=entry.get("memory_mib"),
            )
        )
    return nodes


def load_file(path: Path) -> list[NodeInventory]:
    """Reads an inventory file: JSON when it ends in ``.json``, YAML otherwise."""
    text = Path(path).read_text()
    if str(path).endswith(".json"):
        return parse_inventory(json.loads(text))
    import yaml

    return parse_inventory(yaml.safe_load(text))
