"""Normalized GPU model names: ``NVIDIA H100 80GB HBM3`` -> ``H100-80GB``.

The name is the product's own words without the vendor, form factor and memory type, joined by
``-``, followed by the memory size in GB: from the name when it says it, else the marketed size
nearest to the memory NVML reports.
"""

from __future__ import annotations

import re

_VENDOR = {"NVIDIA", "TESLA", "GEFORCE", "QUADRO"}
_FORM_FACTOR = re.compile(r"^(PCIE|SXM\d*|HBM\w*|NVL|MIG|GDDR\w*)$", re.IGNORECASE)
_SIZE = re.compile(r"^(\d+)GB$", re.IGNORECASE)
_MARKETED_GB = (4, 6, 8, 10, 11, 12, 16, 20, 24, 32, 40, 48, 64, 80, 94, 96, 141, 180, 192, 288)


def marketed_gb(memory_mib: int) -> int:
    """The marketed memory size (GB) nearest to ``memory_mib`` (81559 MiB -> 80), or the size
    rounded to whole GiB when no marketed size is within 10%."""
    gib = memory_mib / 1024
    nearest = min(_MARKETED_GB, key=lambda gb: abs(gb - gib))
    return nearest if abs(nearest - gib) <= 0.1 * nearest else max(1, round(gib))


def normalize_model(name: str, memory_mib: int) -> str:
    """The model name the core uses for a GPU NVML calls ``name`` with ``memory_mib`` of memory.

    >>> normalize_model("NVIDIA H100 80GB HBM3", 81559)
    'H100-80GB'
    >>> normalize_model("NVIDIA A100-SXM4-40GB", 40960)
    'A100-40GB'
    >>> normalize_model("Tesla T4", 15360)
    'T4-16GB'
    """
    words: list[str] = []
    size: int | None = None
    for word in re.split(r"[\s\-_]+", name.strip()):
        if not word or word.upper() in _VENDOR or _FORM_FACTOR.match(word):
            continue
        match = _SIZE.match(word)
        if match:
            size = int(match.group(1))
            continue
        words.append(word)
    family = "-".join(words) or "GPU"
    return f"{family}-{size if size is not None else marketed_gb(memory_mib)}GB"
