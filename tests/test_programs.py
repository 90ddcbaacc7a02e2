"""Agent programs: the synthetic agent mix, program figures in the simulator's reports, the
``program_las`` policy and its starvation bound through Python."""

from __future__ import annotations

import dataclasses
import itertools
import json

import gpuplane
import numpy as np
import pytest
from gpuplane import BatchConfig, BatchScheduler, InvalidRequest, Request
from gpuplane.cli import main
from gpuplane.simulate.agent_programs import AgentMix, ProgramKind, agent_mix
from gpuplane.simulate.html import html_report
from gpuplane.simulate.llm import simulate_llm
from gpuplane.simulate.summary import summary_text
from gpuplane.traces.llm import TenantShare

SMALL = AgentMix(programs=40, program_rate=2.0, single_requests=60, single_rate=4.0, seed=3)


def calls_of(trace, wf):
    return np.flatnonzero(trace.workflow == wf)


def hashes_of(trace, i):
    return trace.hashes[trace.hash_offsets[i] : trace.hash_offsets[i + 1]].tolist()


def test_agent_mix_is_deterministic_and_mixes_programs_with_single_calls():
    a, b = agent_mix(SMALL), agent_mix(SMALL)
    assert a.prompt.tolist() == b.prompt.tolist() and a.tool_time.tolist() == b.tool_time.tolist()
    assert (a.workflow == -1).sum() == 60
    assert len(set(a.workflow[a.workflow >= 0].tolist())) == 40


def test_each_call_extends_the_previous_calls_context_and_shares_its_prefix_blocks():
    t = agent_mix(SMALL)
    multi = [wf for wf in range(40) if len(calls_of(t, wf)) > 2]
    assert multi
    for wf in multi:
        calls = calls_of(t, wf)
        assert t.tool_time[calls[0]] == 0.0 and (t.tool_time[calls[1:]] > 0).all()
        assert len(set(t.tenant[calls].tolist())) == 1
        for prev, nxt in itertools.pairwise(calls):
            assert t.prompt[nxt] > t.prompt[prev] + t.output[prev]
            before, after = hashes_of(t, prev), hashes_of(t, nxt)
            assert after[: len(before)] == before and len(before) == t.prompt[prev] // 512


def test_programs_of_a_kind_share_the_system_prompt_blocks_only():
    kind = ProgramKind("k", 1.0, 2.0, 4, 1024, 100.0, 50.0, 20.0, 1.0)
    t = agent_mix(AgentMix(programs=5, single_requests=0, kinds=(kind,), seed=1))
    firsts = [calls_of(t, wf)[0] for wf in range(5)]
    heads = {tuple(hashes_of(t, i)[:2]) for i in firsts}
    assert len(heads) == 1
    assert len({hashes_of(t, i)[2] for i in firsts if len(hashes_of(t, i)) > 2}) <= len(firsts)


def test_bad_mix_is_refused_naming_the_field():
    with pytest.raises(InvalidRequest) as e:
        agent_mix(AgentMix(programs=0))
    assert e.value.field == "programs"
    with pytest.raises(InvalidRequest) as e:
        agent_mix(AgentMix(kinds=(ProgramKind("k", 1.0, 0.5, 4, 0, 1.0, 1.0, 1.0, 1.0),)))
    assert e.value.field == "kinds"


def test_report_has_program_figures_per_tenant_that_add_up():
    tenants = (TenantShare("agents", 1.0), TenantShare("api", 1.0))
    t = agent_mix(AgentMix(programs=30, single_requests=40, tenants=tenants, seed=5))
    r = simulate_llm(t, {"policy": "program_las", "think_time_s": 0.25})
    p, s = r["programs"]["programs"], r["programs"]["single_calls"]
    assert (p["programs"], p["finished"], s["programs"], s["finished"]) == (30, 30, 40, 40)
    assert p["calls"]["mean"] * 30 == pytest.approx((t.workflow >= 0).sum())
    assert s["calls"]["max"] == 1 and s["tool_s"]["max"] == 0
    tool = t.tool_time[t.workflow >= 0].sum() + 0.25 * ((t.workflow >= 0).sum() - 30)
    assert p["tool_s"]["mean"] * 30 == pytest.approx(tool)
    per = r["programs"]["tenants"]
    assert [x["name"] for x in per] == ["agents", "api"]
    assert sum(x["programs"]["programs"] for x in per) == 30
    assert sum(x["single_calls"]["finished"] for x in per) == 40


def test_tool_time_delays_the_next_call_and_is_checked():
    t = agent_mix(AgentMix(programs=10, single_requests=0, seed=2))
    base = simulate_llm(t, {})["programs"]["programs"]["completion_s"]["mean"]
    slower = simulate_llm(t, {"think_time_s": 1.0})["programs"]["programs"]["completion_s"]["mean"]
    assert slower > base + 0.9
    with pytest.raises(InvalidRequest) as e:
        bad = -t.tool_time - 1
        gpuplane._core.simulate_llm_json(t.arrival, t.prompt, t.output, workflow=t.workflow, tool_time=bad)
    assert e.value.field == "tool_time[0]"


def test_summary_and_html_show_the_programs_table():
    r = simulate_llm(agent_mix(SMALL), {"policy": "workflow_fair", "name": "wf"})
    text = summary_text([r])
    assert "compl p50" in text and "single calls" in text
    assert "Programs and single calls" in html_report([r])


def test_cli_agents_format_prints_program_rows(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["simulate", "llm", "--format", "agents", "--programs", "20", "--requests", "30"]
    args += ["--policies", "fcfs", "program_las", "--tenants", "a=1", "b=1"]
    args += ["--no-progress", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count(" programs ") >= 2 and "program_las" in text
    reports = json.loads(out.read_text())
    assert [len(x["programs"]["tenants"]) for x in reports] == [2, 2]


def test_program_las_config_and_its_starvation_bound_through_python():
    c = BatchConfig(policy="program_las", starvation_s=5.0, max_running=1)
    assert c.starvation_s == 5.0 and "starvation_s=5.0" in repr(c)
    assert "starvation_s" not in repr(BatchConfig())
    with pytest.raises(InvalidRequest) as e:
        BatchConfig(starvation_s=0.0)
    assert e.value.field == "starvation_s"
    s = BatchScheduler(c)
    s.add(Request(1, "a", prompt_len=8, max_new_tokens=1, workflow=1))
    s.schedule()
    s.update({1: 1})
    s.add(Request(2, "a", prompt_len=8, max_new_tokens=1, workflow=1, arrival=0.0))
    admitted = []
    for k in range(1, 12):
        # Same tenant: inside a tenant, fresh single calls (attained 0) rank first.
        s.add(Request(100 + k, "a", prompt_len=4, max_new_tokens=1, arrival=float(k)))
        s.set_time(float(k))
        plan = s.schedule()
        admitted += plan.admitted.tolist()
        s.update({int(i): 1 for i, sampled in zip(plan.ids, plan.samples, strict=True) if sampled})
    assert admitted.index(2) == 4, admitted  # at t = 5, after 5 s of waiting


def test_later_calls_hit_the_prefix_cache_only_through_their_hashes():
    t = agent_mix(AgentMix(programs=30, single_requests=0, seed=4))
    hit = simulate_llm(t, {})["summary"]
    assert hit["cached_prompt_tokens"] > 0 and 0 < hit["prefix_hit_rate"] < 1
    bare = dataclasses.replace(t, hash_offsets=None, hashes=None)
    assert simulate_llm(bare, {})["summary"]["cached_prompt_tokens"] == 0


def test_a_programs_history_moves_between_replicas_through_python():
    def replica() -> BatchScheduler:
        return BatchScheduler(BatchConfig(policy="program_las", starvation_s=1e9, max_running=1))

    a = replica()
    a.add(Request(1, "t", prompt_len=40, max_new_tokens=1, workflow=7))
    a.schedule()
    a.update({1: 1})
    attained, waited, served = a.program_history(7)
    assert attained > 0 and waited == 0.0
    assert a.program_history(8) is None
    b = replica()
    b.set_program_history(7, attained, waited, served)
    assert b.program_history(7) == (attained, waited, served)
    b.add(Request(2, "t", prompt_len=40, max_new_tokens=1, workflow=7))
    b.add(Request(3, "t", prompt_len=40, max_new_tokens=1, workflow=8))
    assert b.schedule().admitted.tolist() == [3]  # program 8 has attained less
    with pytest.raises(InvalidRequest) as e:
        b.set_program_history(9, -1.0, 0.0)
    assert e.value.field == "attained"
    with pytest.raises(InvalidRequest) as e:
        BatchScheduler(BatchConfig()).set_program_history(9, 1.0, 0.0)
    assert e.value.field == "policy"


def test_finished_programs_are_forgotten_beyond_idle_programs():
    s = BatchScheduler(BatchConfig(policy="program_las", idle_programs=50, max_running=256))
    assert s.config.idle_programs == 50 and "idle_programs=50" in repr(s.config)
    for start in range(0, 5000, 250):
        ids = list(range(start, start + 250))
        s.add_many(ids, [4] * 250, [1] * 250, tenants="t", workflow=ids)
        while len(s):
            plan = s.schedule()
            s.update({int(i): 1 for i in plan.ids})
        assert s.known_programs() <= 50
    assert s.program_history(0) is None  # forgotten: it would start afresh
    assert s.program_history(4999) is not None
    with pytest.raises(InvalidRequest) as e:
        BatchConfig(idle_programs=0)
    assert e.value.field == "idle_programs"


def test_routing_by_workflow_id_keeps_calls_together_without_prefix_hashes():
    t = agent_mix(AgentMix(programs=40, single_requests=40, seed=4))
    cfg = {"replicas": 4, "routing": "cost", "route_hashes": False}
    apart = simulate_llm(t, {**cfg, "workflow_weight": 0.0})["summary"]
    together = simulate_llm(t, cfg)["summary"]
    assert together["prefix_hit_rate"] > apart["prefix_hit_rate"]
