"""Shared-prefix traffic for traces without prefix hashes (Azure, BurstGPT).

:func:`with_app_prefixes` gives every tenant ``apps`` applications, each with its own system
prompt of ``prefix_tokens`` tokens; request ``i`` uses application ``splitmix64(i) mod apps`` of its
tenant (SplitMix64's output function of the row index: every bit of the index mixes into the
choice, so requests taken in any regular stride, such as round robin's over a number of
replicas dividing ``apps``, still use every application). Its prefix hash ids are one per full
``hash_block_tokens`` tokens of its prompt, in the Mooncake convention: the first
``prefix_tokens / hash_block_tokens`` are its application's (shared by every request of that
application), the rest unique to the request. The simulator maps them to its engine's block size.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gpuplane.errors import InvalidRequest
from gpuplane.traces.llm import LlmTrace


def with_app_prefixes(
    trace: LlmTrace, *, apps: int = 4, prefix_tokens: int = 1024, hash_block_tokens: int = 512
) -> LlmTrace:
    """``trace`` with prefix hash ids of per-tenant application system prompts."""
    for name, v in (
        ("apps", apps),
        ("prefix_tokens", prefix_tokens),
        ("hash_block_tokens", hash_block_tokens),
    ):
        if v < 1:
            raise InvalidRequest(f"{name} must be >= 1, got {v}", field=name)
    n = len(trace)
    blocks = trace.prompt.astype(np.int64) // hash_block_tokens
    offsets = np.zeros(n + 1, dtype=np.uint64)
    offsets[1:] = np.cumsum(blocks)
    shared = prefix_tokens // hash_block_tokens
    app = splitmix64(np.arange(n, dtype=np.uint64)) % np.uint64(apps)
    group = trace.tenant.astype(np.uint64) * np.uint64(apps) + app
    # Position k of request i: shared ids name (group, k); unique ids name (request, k).
    row = np.repeat(np.arange(n, dtype=np.uint64), blocks)
    k = np.arange(int(offsets[-1]), dtype=np.uint64) - np.repeat(offsets[:-1], blocks)
    is_shared = k < np.uint64(shared)
    owner = np.where(is_shared, np.repeat(group, blocks), row + np.uint64(1 << 40))
    hashes = owner * np.uint64(1 << 16) + k
    return replace(trace, hash_offsets=offsets, hashes=hashes)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of each ``uint64`` of ``x`` (wrapping arithmetic)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
