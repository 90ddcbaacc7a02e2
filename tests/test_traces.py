"""Trace readers: Azure CSV, Mooncake JSONL, BurstGPT CSV, openb times; tenant rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gpuplane.errors import InvalidRequest, TraceError
from gpuplane.traces.azure import read_azure
from gpuplane.traces.burstgpt import read_burstgpt
from gpuplane.traces.jsonl import read_jsonl
from gpuplane.traces.llm import TenantShare, assign_tenants, parse_tenants, split_draws

DATA = Path(__file__).with_name("data")


def test_azure_reads_times_relative_to_the_first_row():
    t = read_azure(DATA / "azure_small.csv")
    assert t.prompt.tolist() == [374, 396, 1200]
    assert t.output.tolist() == [44, 109, 7]
    assert t.arrival[0] == 0.0
    assert t.arrival[1] == pytest.approx(4.314579, abs=1e-6)
    assert t.workflow.tolist() == [-1, -1, -1]


def test_azure_bad_row_names_its_line():
    with pytest.raises(TraceError) as e:
        read_azure(DATA / "azure_bad.csv")
    assert e.value.line == 3 and "ContextTokens" in str(e.value)


def test_missing_file_fails_clearly(tmp_path):
    with pytest.raises(TraceError, match="cannot read trace"):
        read_azure(tmp_path / "nope.csv")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_jsonl_reads_hashes_tenants_and_priorities():
    t = read_jsonl(DATA / "mooncake_small.jsonl")
    assert t.arrival.tolist() == [0.0, 0.25, 1.0]
    assert t.hash_offsets.tolist() == [0, 3, 5, 5]
    assert t.hashes.tolist() == [1, 2, 3, 1, 4]
    assert t.tenant_names == ["b", "t0"] and t.tenant.tolist() == [1, 1, 0]
    assert t.priority.tolist() == [0, 0, 2]


def test_jsonl_bad_line_is_named():
    with pytest.raises(TraceError) as e:
        read_jsonl(DATA / "mooncake_bad.jsonl")
    assert e.value.line == 2 and "input_length" in str(e.value)


def test_burstgpt_skips_failed_requests_and_maps_models_to_tenants():
    t = read_burstgpt(DATA / "burstgpt_small.csv")
    assert len(t) == 3
    assert t.arrival.tolist() == [0.0, 41.0, 42.0]
    assert t.tenant_names == ["ChatGPT", "GPT-4"] and t.tenant.tolist() == [0, 1, 0]


def test_tenant_rule_is_deterministic_and_follows_the_split():
    t = read_azure(DATA / "azure_small.csv")
    shares = [TenantShare("a", 50), TenantShare("b", 25), TenantShare("c", 15), TenantShare("d", 10)]
    a, b = assign_tenants(t, shares), assign_tenants(t, shares)
    assert a.tenant.tolist() == b.tenant.tolist()
    u = split_draws(100_000)
    counts = np.bincount(np.searchsorted(np.cumsum([0.5, 0.25, 0.15, 0.1]), u, side="right"), minlength=4)
    assert np.allclose(counts / counts.sum(), [0.5, 0.25, 0.15, 0.1], atol=0.01)


def test_parse_tenants():
    assert parse_tenants(["a=50:2:1", "b=25"]) == [TenantShare("a", 50, 2, 1), TenantShare("b", 25)]
    with pytest.raises(InvalidRequest):
        parse_tenants(["a"])


def test_scaled_replays_faster():
    t = read_azure(DATA / "azure_small.csv")
    assert t.scaled(2).arrival[1] == pytest.approx(t.arrival[1] / 2)
