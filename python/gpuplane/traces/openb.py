"""The Alibaba GPU cluster trace v2023 ("openb", Weng et al., USENIX ATC'23).

Node list columns: ``sn, cpu_milli, memory_mib, gpu, model``. Pod list columns: ``name,
cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, ...`` where ``gpu_milli`` is the share of
each GPU (1000 = whole) and ``gpu_spec`` lists allowed GPU models separated by ``|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuplane.errors import TraceError
from gpuplane.traces.csvrows import integer, rows

# GPU memory per model. The trace records no memory; G1-G3 are undisclosed, so they get 32 GiB.
# Placement in the openb replay is by compute share (the pods request no GPU memory), so these
# figures only make the inventory well formed.
GPU_MEMORY_MIB = {
    "P100": 16 * 1024,
    "T4": 16 * 1024,
    "V100M16": 16 * 1024,
    "V100M32": 32 * 1024,
    "A10": 24 * 1024,
}
UNKNOWN_MODEL_MEMORY_MIB = 32 * 1024


@dataclass(frozen=True)
class OpenbNode:
    """One node of the node list."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str


@dataclass(frozen=True)
class OpenbPod:
    """One pod of the pod list."""

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]
    creation_time: float | None = None
    deletion_time: float | None = None

    @property
    def gpu_request(self) -> float:
        """GPUs requested, in whole-GPU units."""
        return self.num_gpu * self.gpu_milli / 1000


def _time(path: str | Path, line: int, row: dict[str, str], column: str) -> float | None:
    """An optional event time in seconds (``None`` when the column is absent or empty)."""
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise TraceError(
            f"{path}:{line}: column {column!r} is not a number: {text!r}", str(path), line
        ) from None


def read_nodes(path: str | Path) -> list[OpenbNode]:
    """Reads an openb node list."""
    out = []
    for line, row in rows(path, ["sn", "cpu_milli", "memory_mib", "gpu", "model"]):
        name = (row["sn"] or "").strip()
        if not name:
            raise TraceError(f"{path}:{line}: column 'sn' is empty", str(path), line)
        out.append(
            OpenbNode(
                name=name,
                cpu_milli=integer(path, line, row, "cpu_milli"),
                memory_mib=integer(path, line, row, "memory_mib"),
                gpus=integer(path, line, row, "gpu"),
                model=(row["model"] or "").strip() or "unknown",
            )
        )
    if not out:
        raise TraceError(f"{path}: no nodes", str(path))
    return out


def read_pods(path: str | Path) -> list[OpenbPod]:
    """Reads an openb pod list, in file (creation) order."""
    out = []
    columns = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"]
    for line, row in rows(path, columns):
        num_gpu = integer(path, line, row, "num_gpu")
        gpu_milli = integer(path, line, row, "gpu_milli")
        if num_gpu > 0 and not 0 < gpu_milli <= 1000:
            raise TraceError(
                f"{path}:{line}: column 'gpu_milli' is {gpu_milli}, not in 1..1000", str(path), line
            )
        spec = tuple(s for s in (row.get("gpu_spec") or "").split("|") if s)
        out.append(
            OpenbPod(
                name=(row["name"] or "").strip() or f"pod-{line}",
                cpu_milli=integer(path, line, row, "cpu_milli"),
                memory_mib=integer(path, line, row, "memory_mib"),
                num_gpu=num_gpu,
                gpu_milli=gpu_milli if num_gpu else 0,
                gpu_spec=spec,
                creation_time=_time(path, line, row, "creation_time"),
                deletion_time=_time(path, line, row, "deletion_time"),
            )
        )
    if not out:
        raise TraceError(f"{path}: no pods", str(path))
    return out
