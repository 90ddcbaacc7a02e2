"""JSONL request traces in the Mooncake format (Qin et al., FAST'25): one object per line with
``timestamp`` (milliseconds), ``input_length``, ``output_length`` and ``hash_ids`` (ids of the
prompt's 512-token blocks; equal ids mean an equal prefix up to that block). Optional
``tenant`` and ``priority`` fields are kept.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from gpuplane.errors import TraceError
from gpuplane.traces.llm import LlmTrace, from_columns

HASH_BLOCK_TOKENS = 512


def _field(path: Path, line: int, obj: dict, key: str, minimum: int) -> int:
    value = obj.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise TraceError(
            f"{path}:{line}: field {key!r} is {value!r}, not a number >= {minimum}", str(path), line
        )
    return int(value)


def _hashes(path: Path, line: int, obj: dict) -> list[int]:
    ids = obj.get("hash_ids", [])
    if not isinstance(ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in ids):
        raise TraceError(f"{path}:{line}: field 'hash_ids' must be a list of integers", str(path), line)
    return [h & (2**63 - 1) for h in ids]


def _objects(path: Path):
    try:
        handle = path.open(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"cannot read trace {path}: {e.strerror}", path=str(path)) from e
    with handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise TraceError(f"{path}:{line}: not JSON: {e.msg}", str(path), line) from None
            if not isinstance(obj, dict):
                raise TraceError(f"{path}:{line}: not a JSON object", str(path), line)
            yield line, obj


def read_jsonl(path: str | Path) -> LlmTrace:
    """Reads a Mooncake-style JSONL trace."""
    path = Path(path)
    arrival, prompt, output, hashes, tenants, priority = [], [], [], [], [], []
    for line, obj in _objects(path):
        arrival.append(_field(path, line, obj, "timestamp", 0) / 1000.0)
        prompt.append(_field(path, line, obj, "input_length", 1))
        output.append(_field(path, line, obj, "output_length", 1))
        hashes.append(_hashes(path, line, obj))
        tenants.append(str(obj.get("tenant", "t0")))
        priority.append(int(obj.get("priority", 0)))
    if not arrival:
        raise TraceError(f"{path}: no requests", str(path))
    trace = from_columns(arrival, prompt, output, source=str(path), hashes=hashes)
    names = sorted(set(tenants))
    index = {t: k for k, t in enumerate(names)}
    tenant = np.fromiter((index[t] for t in tenants), np.int64, len(tenants))
    return replace(trace, tenant=tenant, tenant_names=names, priority=np.asarray(priority, np.int64))
