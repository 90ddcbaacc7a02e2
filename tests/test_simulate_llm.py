"""The LLM serving simulator through Python: conservation, determinism, model figures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import gpuplane
import numpy as np
import pytest
from gpuplane.cli import main
from gpuplane.errors import InvalidRequest
from gpuplane.simulate.capacity import max_rate, min_replicas
from gpuplane.simulate.html import html_report
from gpuplane.simulate.llm import compare, simulate_llm, simulate_llm_text
from gpuplane.simulate.summary import summary_text
from gpuplane.simulate.synthetic_llm import SyntheticLlm, synthetic_llm
from gpuplane.traces.jsonl import read_jsonl
from gpuplane.traces.llm import TenantShare

DATA = Path(__file__).with_name("data")
TENANTS = (TenantShare("a", 50), TenantShare("b", 25, 2.0, 1), TenantShare("c", 15), TenantShare("d", 10))


def trace(n=2000, rate=40.0, seed=1, workflows=0.2):
    return synthetic_llm(
        SyntheticLlm(requests=n, rate=rate, tenants=TENANTS, seed=seed, workflow_share=workflows)
    )


@pytest.mark.parametrize("policy", ["fcfs", "priority", "fair", "workflow_fair", "program_las"])
def test_conservation(policy):
    t = trace()
    r = simulate_llm(t, {"replicas": 2, "policy": policy, "max_queue": 50})
    s = r["summary"]
    assert s["requests"] == len(t)
    assert s["finished"] + sum(r["rejected_by_reason"].values()) == len(t)
    assert set(r["rejected_by_reason"]) <= {"queue_full", "too_long", "workflow_aborted"}
    finished_out = sum(x["output_tokens"] for x in r["tenants"])
    assert finished_out == s["output_tokens"]
    if not r["rejected_by_reason"]:
        assert s["output_tokens"] == int(t.output.sum())
        assert s["input_tokens"] == int(t.prompt.sum())


def test_same_inputs_give_byte_identical_json():
    t = trace(1000)
    cfg = {"replicas": 3, "policy": "fair", "routing": "prefix"}
    assert simulate_llm_text(t, cfg) == simulate_llm_text(t, cfg)
    assert trace(1000).arrival.tolist() == t.arrival.tolist()


def test_model_figures_match_hand_computation():
    r = simulate_llm(trace(10), {})
    m = r["model"]
    # (80e9 * 0.9 - 8.03e9 * 2) / (2 * 32 * 8 * 128 * 2) tokens
    assert m["kv_capacity_tokens"] == 426_788
    # decode of 1 request at context 1000: (16.06e9 + 1001 * 131072) B / (0.8 * 3.35e12 B/s) + 1 ms
    assert m["decode_b1_s"] == pytest.approx((16.06e9 + 1001 * 131072) / (0.8 * 3.35e12) + 0.001)
    # prefill of 1000 tokens: (2 * 8.03e9 * 1000 + 4 * 32 * 4096 * 500500) / (0.6 * 989e12) + 1 ms
    flops = 2 * 8.03e9 * 1000 + 4 * 32 * 4096 * 500_500
    assert m["prefill_1k_s"] == pytest.approx(flops / (0.6 * 989e12) + 0.001)


def test_jsonl_prefix_hashes_and_tenants_flow_through():
    r = simulate_llm(read_jsonl(DATA / "mooncake_small.jsonl"), {"routing": "prefix", "replicas": 2})
    assert r["summary"]["finished"] == 3
    assert [t["name"] for t in r["tenants"]] == ["b", "t0"]


def test_bad_config_and_columns_are_refused():
    t = trace(10)
    with pytest.raises(InvalidRequest):
        simulate_llm(t, {"gpu": "TPUv9"})
    with pytest.raises(InvalidRequest):
        simulate_llm(t, {"no_such_key": 1})
    with pytest.raises(InvalidRequest):
        gpuplane.simulate_llm_json(np.array([0.0, 1.0]), [10], [10])


def test_reports_render():
    t = trace(500)
    reports = compare(t, [{"policy": p, "name": p, "window_s": 5} for p in ("fcfs", "fair")])
    text = summary_text(reports, "synthetic")
    assert "fcfs" in text and "fair" in text and "TTFT" in text
    page = html_report(reports)
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 3


def test_capacity_searches_are_consistent():
    t = trace(1500, rate=60.0, workflows=0.0)
    cfg = {"slo": {"ttft_s": 0.5, "tpot_s": 0.05}}
    need = min_replicas(t, cfg, attainment=0.95, max_replicas=16)
    assert need.answer is not None
    assert any(p.value == need.answer and p.meets for p in need.probes)
    assert all(not p.meets for p in need.probes if p.value < need.answer)
    k = max_rate(t, {**cfg, "replicas": need.answer}, attainment=0.95, tolerance=0.1)
    assert k.answer is not None and k.answer >= 1.0


def test_cli_llm_writes_json_and_html(tmp_path, capsys):
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    rc = main(
        ["simulate", "llm", "--format", "synthetic", "--requests", "300", "--policies", "fcfs", "fair",
         "--tenants", "a=50", "b=50:2", "--json", str(out), "--html", str(page), "--no-progress"]
    )  # fmt: skip
    assert rc == 0
    assert [r["name"] for r in json.loads(out.read_text())] == ["fcfs", "fair"]
    assert "TTFT" in capsys.readouterr().out and page.stat().st_size > 10_000


def test_cli_unreadable_trace_fails_with_exit_2(tmp_path, capsys):
    assert main(["simulate", "llm", "--trace", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read trace" in capsys.readouterr().err
