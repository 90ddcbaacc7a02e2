"""The bulk fast path's conversions: ``WorkloadColumns`` (packed arrays) in, a journal operation
out, and the core's errors renamed to the request's columns.

The service checks only what the core does not: the number of rows and the ids' length. Every
value and every column's length is checked by the core (through the binding) before anything
changes, and its error is renamed here: the core's ``workloads[7].gpu_count`` becomes
``columns.gpu_count[7]``.
"""

from __future__ import annotations

import re
from typing import Any

from gpuplane._proto.v1 import placement_pb2 as pp
from gpuplane.daemon.convert import MAX_ID_LEN, invalid, text
from gpuplane.errors import Conflict, GpuplaneError, InvalidRequest

MAX_COLUMN_ROWS = 100_000
INT_COLUMNS = ("memory_mib", "gpu_count", "compute_milli", "cpu_milli", "host_memory_mib", "priority")
CORE_FIELD = re.compile(r"^workloads\[(\d+)\]\.(\w+)")
BINDING_FIELD = re.compile(r"^(\w+)\[(\d+)\]$")
CORE_ENTRY = re.compile(r"\bworkloads\[(\d+)\]:")


def checked_ids(ids: list[str]) -> list[str]:
    """The ids, each non-empty and at most ``MAX_ID_LEN`` characters."""
    if len(ids) > MAX_COLUMN_ROWS:
        raise invalid("columns.ids", f"has {len(ids)} entries, at most {MAX_COLUMN_ROWS}")
    if ids and (not all(ids) or max(map(len, ids)) > MAX_ID_LEN):
        for i, wid in enumerate(ids):
            text(wid, f"columns.ids[{i}]", limit=MAX_ID_LEN)
    return ids


def columns_op(request: pp.PlaceColumnsRequest, policy: str | None) -> dict[str, Any]:
    """The journal operation of a request (plain lists, JSON-able; empty optional columns are
    None)."""
    if not request.HasField("columns"):
        raise invalid("columns", "is required")
    cols = request.columns
    op: dict[str, Any] = {
        "op": "place_columns",
        "tenant": text(request.tenant or "default", "tenant"),
        "ids": checked_ids(list(cols.ids)),
        "policy": policy,
    }
    for name in INT_COLUMNS:
        op[name] = list(getattr(cols, name)) or None
    op["memory_mib"] = op["memory_mib"] or []
    op["gpu_count"] = op["gpu_count"] or []
    op["allowed_models"] = [list(m.models) for m in cols.allowed_models] or None
    op["node_selector"] = [dict(s.labels) for s in cols.node_selector] or None
    return op


def _column_field(field: str) -> str | None:
    """``columns.<name>[i]`` for a core or binding field naming entry i, else None."""
    match = CORE_FIELD.match(field)
    if match is not None:
        index, name = match.groups()
        return f"columns.{'ids' if name == 'id' else name}[{index}]"
    match = BINDING_FIELD.match(field)
    if match is not None:
        return f"columns.{match.group(1)}[{match.group(2)}]"
    return f"columns.{field}" if field in (*INT_COLUMNS, "allowed_models", "node_selector") else None


def renamed(error: GpuplaneError) -> GpuplaneError:
    """The core's error on ``workloads[i].gpu_count`` (or ``workloads[i]: ...``, or the
    binding's ``gpu_count[i]``) as one naming ``columns.gpu_count[i]`` (or ``columns.ids[i]``)."""
    if isinstance(error, InvalidRequest) and error.field:
        field = _column_field(error.field)
        if field is None:
            return error
        reason = error.reason or str(error).split(": ", 1)[-1]
        return InvalidRequest(f"{field}: {reason}", field=field, reason=reason)
    if isinstance(error, Conflict):
        return Conflict(CORE_ENTRY.sub(r"columns.ids[\1]:", str(error), count=1))
    return error


def columns_response(placed: list[bool], nodes: list[str], gpu_ids: list[str]) -> pp.PlaceColumnsResponse:
    """The response message of a columns placement."""
    return pp.PlaceColumnsResponse(placed=placed, node=nodes, gpu_ids=gpu_ids, count=sum(placed))
