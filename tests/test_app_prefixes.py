"""Shared application prefixes for traces without hashes (``with_app_prefixes``)."""

from __future__ import annotations

import numpy as np
import pytest
from gpuplane.errors import InvalidRequest
from gpuplane.traces.llm import from_columns
from gpuplane.traces.prefixes import with_app_prefixes


def _first_hashes(n: int, apps: int) -> np.ndarray:
    trace = from_columns(np.arange(n, dtype=np.float64), [1024] * n, [1] * n)
    t = with_app_prefixes(trace, apps=apps, prefix_tokens=1024, hash_block_tokens=512)
    assert t.hash_offsets.tolist() == list(range(0, 2 * n + 1, 2))
    return t.hashes[0::2]


def test_requests_of_an_application_share_its_prefix_blocks_only():
    trace = from_columns([0.0, 1.0], [1536, 600], [1, 1])
    t = with_app_prefixes(trace, apps=1, prefix_tokens=1024, hash_block_tokens=512)
    first, second = t.hashes[:3].tolist(), t.hashes[3:].tolist()
    assert first[0] == second[0], "one application: the same first block"
    assert len(second) == 1 and len(set(first)) == 3


@pytest.mark.parametrize("stride", [4, 16])
def test_every_stride_of_requests_uses_every_application(stride):
    # Round robin over `stride` replicas gives replica r the rows r, r + stride, ...: with the
    # application a function of the row's low bits, each replica would see 1/stride of them.
    firsts = _first_hashes(16384, apps=256)
    assert len(set(firsts.tolist())) == 256
    for r in range(stride):
        seen = len(set(firsts[r::stride].tolist()))
        assert seen > 0.9 * 256, f"rows {r} mod {stride} use {seen} of 256 applications"


def test_bad_sizes_name_the_field():
    trace = from_columns([0.0], [10], [1])
    with pytest.raises(InvalidRequest) as e:
        with_app_prefixes(trace, apps=0)
    assert e.value.field == "apps"
