"""Reading CSV rows with typed fields and errors that name the file, line and column."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from gpuplane.errors import TraceError


def rows(path: str | Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields (line number, row) for each data row; fails clearly on a missing file or column."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise TraceError(f"cannot read trace {path}: {e.strerror}", path=str(path)) from e
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise TraceError(
                f"{path}: missing column(s) {missing}; found {reader.fieldnames}", path=str(path)
            )
        for row in reader:
            yield reader.line_num, row


def integer(path: str | Path, line: int, row: dict[str, str], column: str, minimum: int = 0) -> int:
    """The integer in ``column``, at least ``minimum``, or a TraceError naming line and column."""
    text = (row.get(column) or "").strip()
    try:
        value = int(text)
    except ValueError:
        raise TraceError(
            f"{path}:{line}: column {column!r} is not an integer: {text!r}", str(path), line
        ) from None
    if value < minimum:
        raise TraceError(f"{path}:{line}: column {column!r} is {value}, below {minimum}", str(path), line)
    return value
