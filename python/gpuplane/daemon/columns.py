"""The bulk fast path's conversions: ``WorkloadColumns`` (packed arrays) in, checked columns out.

A columns request is validated as a whole before anything changes: every column as long as
``ids`` (optional ones may be empty), every value in the same bounds as a single ``Workload``,
every id non-empty and bounded. Errors name the column and the index: ``columns.gpu_count[7]:
must be in 1..1024, got 0``. Checks run over whole columns (``min``/``max`` in C) and look for
the offending index only once a column fails.
"""

from __future__ import annotations

import re
from typing import Any

from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane.daemon.convert import (
    MAX_COMPUTE_MILLI,
    MAX_CPU_MILLI,
    MAX_GPU_COUNT,
    MAX_GPU_MEMORY_MIB,
    MAX_HOST_MEMORY_MIB,
    MAX_ID_LEN,
    invalid,
    text,
)
from gpuplane.errors import Conflict, GpuplaneError, InvalidRequest

MAX_COLUMN_ROWS = 100_000
REQUIRED = (("memory_mib", 0, MAX_GPU_MEMORY_MIB), ("gpu_count", 1, MAX_GPU_COUNT))
OPTIONAL = (
    ("compute_milli", 0, MAX_COMPUTE_MILLI),
    ("cpu_milli", 0, MAX_CPU_MILLI),
    ("host_memory_mib", 0, MAX_HOST_MEMORY_MIB),
    ("priority", -(1 << 31), (1 << 31) - 1),
)
CORE_FIELD = re.compile(r"^workloads\[(\d+)\]\.(\w+)")
CORE_ENTRY = re.compile(r"\bworkloads\[(\d+)\]:")


def checked_ids(ids: list[str]) -> list[str]:
    """The ids, each non-empty and at most ``MAX_ID_LEN`` characters."""
    if len(ids) > MAX_COLUMN_ROWS:
        raise invalid("columns.ids", f"has {len(ids)} entries, at most {MAX_COLUMN_ROWS}")
    if ids and (not all(ids) or max(map(len, ids)) > MAX_ID_LEN):
        for i, wid in enumerate(ids):
            text(wid, f"columns.ids[{i}]", limit=MAX_ID_LEN)
    return ids


def checked_column(values: list[int], name: str, low: int, high: int, rows: int) -> list[int]:
    """``values``, as long as ``ids`` and within ``low..=high``."""
    field = f"columns.{name}"
    if len(values) != rows:
        raise invalid(field, f"has {len(values)} entries but ids has {rows}")
    if values and (min(values) < low or max(values) > high):
        i = next(i for i, v in enumerate(values) if not low <= v <= high)
        raise invalid(f"{field}[{i}]", f"must be in {low}..{high}, got {values[i]}")
    return values


def columns_op(request: pp.PlaceColumnsRequest, policy: str | None) -> dict[str, Any]:
    """The journal operation of a checked request (plain lists, JSON-able)."""
    if not request.HasField("columns"):
        raise invalid("columns", "is required")
    cols = request.columns
    ids = checked_ids(list(cols.ids))
    op: dict[str, Any] = {
        "op": "place_columns",
        "tenant": text(request.tenant or "default", "tenant"),
        "ids": ids,
        "policy": policy,
    }
    for name, low, high in REQUIRED:
        op[name] = checked_column(list(getattr(cols, name)), name, low, high, len(ids))
    for name, low, high in OPTIONAL:
        values = list(getattr(cols, name))
        op[name] = checked_column(values, name, low, high, len(ids)) if values else None
    return op


def renamed(error: GpuplaneError) -> GpuplaneError:
    """The core's ``workloads[i].gpu_count`` (or ``workloads[i]: ...``) error as one naming
    ``columns.gpu_count[i]`` (or ``columns.ids[i]``)."""
    if isinstance(error, InvalidRequest) and error.field:
        match = CORE_FIELD.match(error.field)
        if match is None:
            return error
        index, name = match.groups()
        field = f"columns.{'ids' if name == 'id' else name}[{index}]"
        reason = error.reason or str(error).split(": ", 1)[-1]
        return InvalidRequest(f"{field}: {reason}", field=field, reason=reason)
    if isinstance(error, Conflict):
        return Conflict(CORE_ENTRY.sub(r"columns.ids[\1]:", str(error), count=1))
    return error


def columns_response(placed: list[bool], nodes: list[str], gpu_ids: list[str]) -> pp.PlaceColumnsResponse:
    """The response message of a columns placement."""
    return pp.PlaceColumnsResponse(placed=placed, node=nodes, gpu_ids=gpu_ids, count=sum(placed))
