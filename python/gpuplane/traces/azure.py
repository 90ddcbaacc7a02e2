"""The Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA'24; CC-BY 4.0).

Columns ``TIMESTAMP`` (``YYYY-MM-DD HH:MM:SS.fffffff``), ``ContextTokens`` (prompt) and
``GeneratedTokens`` (output). Arrivals are seconds from the first row.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gpuplane.errors import TraceError
from gpuplane.traces.csvrows import integer, rows
from gpuplane.traces.llm import LlmTrace, from_columns


def parse_timestamp(path: str | Path, line: int, text: str) -> float:
    """Seconds since the epoch (no timezone) of ``2023-11-16 18:15:46.6805900``."""
    base, _, frac = text.strip().partition(".")
    try:
        whole = datetime.fromisoformat(base).timestamp()
        return whole + (float(f"0.{frac}") if frac else 0.0)
    except ValueError:
        raise TraceError(
            f"{path}:{line}: column 'TIMESTAMP' is not a timestamp: {text!r}", str(path), line
        ) from None


def read_azure(path: str | Path) -> LlmTrace:
    """Reads an Azure LLM inference CSV (one tenant; see :func:`~gpuplane.traces.llm.assign_tenants`)."""
    arrival, prompt, output = [], [], []
    for line, row in rows(path, ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]):
        arrival.append(parse_timestamp(path, line, row["TIMESTAMP"] or ""))
        prompt.append(integer(path, line, row, "ContextTokens", minimum=1))
        output.append(integer(path, line, row, "GeneratedTokens", minimum=1))
    if not arrival:
        raise TraceError(f"{path}: no requests", str(path))
    return from_columns(arrival, prompt, output, source=str(path))
