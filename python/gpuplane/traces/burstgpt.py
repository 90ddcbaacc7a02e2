"""BurstGPT (Wang et al., 2024): ``Timestamp`` (seconds), ``Model``, ``Request tokens``,
``Response tokens``, ``Total tokens``, ``Log Type``. Rows with 0 response tokens (failed
requests in the trace) are skipped and counted; the model column can become the tenant.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from gpuplane.errors import TraceError
from gpuplane.traces.csvrows import rows
from gpuplane.traces.llm import LlmTrace, from_columns


def _number(path: str | Path, line: int, row: dict[str, str], column: str) -> float:
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise TraceError(
            f"{path}:{line}: column {column!r} is not a number: {text!r}", str(path), line
        ) from None
    if not np.isfinite(value) or value < 0:
        raise TraceError(
            f"{path}:{line}: column {column!r} is {text}, not a finite number >= 0", str(path), line
        )
    return value


def read_burstgpt(path: str | Path, tenant_by_model: bool = True) -> LlmTrace:
    """Reads a BurstGPT CSV; with ``tenant_by_model`` each model name is a tenant (sorted)."""
    arrival, prompt, output, models = [], [], [], []
    for line, row in rows(path, ["Timestamp", "Model", "Request tokens", "Response tokens"]):
        response = int(_number(path, line, row, "Response tokens"))
        request = int(_number(path, line, row, "Request tokens"))
        if response == 0 or request == 0:
            continue
        arrival.append(_number(path, line, row, "Timestamp"))
        prompt.append(request)
        output.append(response)
        models.append((row.get("Model") or "").strip() or "unknown")
    if not arrival:
        raise TraceError(f"{path}: no requests with tokens", str(path))
    trace = from_columns(arrival, prompt, output, source=str(path))
    if not tenant_by_model:
        return trace
    names = sorted(set(models))
    index = {m: k for k, m in enumerate(names)}
    tenant = np.fromiter((index[m] for m in models), np.int64, len(models))
    return replace(trace, tenant=tenant, tenant_names=names)
