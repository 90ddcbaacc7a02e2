"""gpuplane.Policy through Python: validation, admission reasons, explain, fair share, snapshots."""

from __future__ import annotations

import math
import time

import gpuplane
import pytest
from gpuplane import InvalidRequest, Policy, PolicyConfig, PriorityClass, Quota, SnapshotError


def gpus(n: float) -> dict[str, float]:
    return {"gpus": n, "memory_mib": n * 80_000}


@pytest.fixture
def policy() -> Policy:
    """org (guaranteed 2, deserved 8) -> a, b (each guaranteed 1, deserved 4) on 8 GPUs."""
    p = Policy(PolicyConfig(gpu_prices={"H100": 2.0}))
    p.set_capacity(gpus(8))
    p.add_tenant("org", guaranteed=gpus(2), deserved=gpus(8))
    p.add_tenant("a", "org", Quota(gpus(1), gpus(4)))
    p.add_tenant("b", "org", guaranteed=gpus(1), deserved=gpus(4))
    return p


# ---------------------------------------------------------------------------------- validation

BAD_TENANTS = [
    ({"guaranteed": {"gpus": -1}}, "quota.guaranteed.gpus"),
    ({"deserved": {"gpus": math.nan}}, "quota.deserved.gpus"),
    ({"guaranteed": {"gpus": 2}, "deserved": {"gpus": 2}, "limit": {"gpus": 1}}, "quota.guaranteed.gpus"),
    ({"guaranteed": {"gpus": 2}, "deserved": {"gpus": 1}}, "quota.guaranteed.gpus"),
    ({"deserved": {"gpus": 3}, "limit": {"gpus": 2}}, "quota.deserved.gpus"),
    ({"limit": {"memory_mib": -5.0}}, "quota.limit.memory_mib"),
    ({"guaranteed": {"gpu": 1}}, "quota.guaranteed.gpu"),
    ({"over_quota_weight": -1.0}, "quota.over_quota_weight"),
    ({"models": {"H100": {"guaranteed": 2, "limit": 1}}}, "quota.models[H100].guaranteed"),
    ({"models": {"H100": {"cap": 1}}}, "quota.models[H100].cap"),
    ({"budget": -1.0}, "budget"),
    ({"max_queued": -1}, "max_queued"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD_TENANTS)
def test_bad_tenants_name_the_field_and_change_nothing(policy, kwargs, field):
    before = policy.snapshot()
    with pytest.raises(InvalidRequest) as e:
        policy.add_tenant("c", "org", **kwargs)
    assert e.value.field == field, e.value
    assert policy.snapshot() == before
    assert "c" not in policy


def test_tree_errors_name_the_field_and_change_nothing(policy):
    before = policy.snapshot()
    cases = [
        (
            lambda: policy.add_tenant("c", "org", guaranteed=gpus(2), deserved=gpus(2)),
            "quota.guaranteed.gpus",
        ),
        (lambda: policy.add_tenant("c", "nowhere"), "parent"),
        (lambda: policy.add_tenant("", None), "name"),
        (lambda: policy.update_tenant("org", "a", guaranteed=gpus(2), deserved=gpus(8)), "parent"),
        (lambda: policy.update_tenant("org", "org"), "parent"),
        (
            lambda: policy.update_tenant("org", None, guaranteed=gpus(1), deserved=gpus(8)),
            "quota.guaranteed.gpus",
        ),
        (lambda: policy.set_capacity({"gpus": -8}), "capacity.gpus"),
        (lambda: policy.set_capacity(gpu=8), "capacity.gpu"),
        (lambda: policy.set_demand("nobody", gpus(1)), "tenant"),
        (lambda: policy.set_demand("org", gpus(1)), "tenant"),
        (lambda: policy.set_demand("a", {"gpus": math.inf}), "demand.gpus"),
        (lambda: policy.charge_tokens("nobody", 1, 1, now=0.0), "tenant"),
        (lambda: policy.charge_tokens("a", -1, 1, now=0.0), "prompt_tokens"),
        (lambda: policy.admit("r", "a", {"gpus": -1}, now=0.0), "resources.gpus"),
        (lambda: policy.admit("r", "a", gpus(1), now=math.nan), "now"),
        (lambda: policy.explain("nobody"), "tenant"),
        (lambda: policy.upsert_class(PriorityClass("", 1)), "class.name"),
        (lambda: policy.add_tenant("c", "org", Quota(), deserved=gpus(1)), "quota"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidRequest) as e:
            call()
        assert e.value.field == field, (field, e.value)
        assert policy.snapshot() == before, field


def test_value_classes_validate_when_built():
    with pytest.raises(InvalidRequest, match=r"quota\.guaranteed\.gpus"):
        Quota({"gpus": 2}, {"gpus": 1})
    with pytest.raises(InvalidRequest) as e:
        PolicyConfig(usage_factor=1.0)
    assert e.value.field == "usage_factor"
    with pytest.raises(InvalidRequest) as e:
        PolicyConfig(half_life_s=math.nan)
    assert e.value.field == "half_life_s"
    q = Quota(gpus(1), gpus(2), {"gpus": 4}, over_quota_weight=2.0, models={"H100": {"limit": 3}})
    assert q.guaranteed["gpus"] == 1 and q.limit == {"gpus": 4.0}
    assert q.models == {"H100": {"guaranteed": 0.0, "limit": 3.0}}
    assert repr(q).startswith("Quota(guaranteed={'gpus': 1.0, 'memory_mib': 80000.0}")
    assert repr(PriorityClass("gold", 10, False)) == "PriorityClass(name='gold', value=10, preemptible=False)"


def test_tenants_and_classes(policy):
    assert [t.name for t in policy.tenants()] == ["org", "a", "b"]
    a = policy.tenants()[1]
    assert a.parent == "org" and a.quota.deserved["gpus"] == 4.0
    assert {c.name for c in policy.classes()} == {"default", "critical"}
    policy.upsert_class(PriorityClass("gold", 10))
    assert {c.name: c.value for c in policy.classes()}["gold"] == 10
    policy.upsert_class("silver", 5, False)
    assert PriorityClass("silver", 5, False) in policy.classes()
    with pytest.raises(InvalidRequest) as e:
        policy.upsert_class("bronze")
    assert e.value.field == "value"
    policy.remove_class("gold")
    with pytest.raises(gpuplane.NotFound):
        policy.remove_class("gold")
    policy.update_tenant("b", "org", guaranteed=gpus(0), deserved=gpus(2))
    assert policy.tenants()[2].quota.deserved["gpus"] == 2.0
    policy.remove_tenant("b")
    assert len(policy) == 2 and "b" not in policy


# ----------------------------------------------------------------------------------- admission


def outcome(d) -> tuple[str, str]:
    return d.outcome, d.reason


def test_admit_and_queue(policy):
    for k in range(7):
        assert outcome(policy.admit(f"b{k}", "b", gpus(1), now=0.0)) == ("admit", "admitted")
    d = policy.admit("b7", "b", gpus(1), now=0.0)
    assert outcome(d) == ("queue", "queued_quota")
    assert "free" in d.text and d.request_id == "b7" and not d.admitted
    assert policy.queued() == ["b7"]
    assert len(policy.running()) == 7


def test_finish_releases_or_cancels_and_names_the_program_it_ended(policy):
    policy.admit("c0", "a", gpus(1), now=0.0, workflow="task-42", call_index=0)
    going_on = policy.finish("c0", now=1.0, more_calls=True)
    assert repr(going_on) == "Finished(was_running=True, ended_program=None)"
    policy.admit("c1", "a", gpus(1), now=2.0, workflow="task-42", call_index=1)
    assert policy.finish("c1", now=3.0).ended_program == "task-42"
    for k in range(8):
        policy.admit(f"b{k}", "b", gpus(1), now=3.0, workflow=f"q-{k}")
    cancelled = policy.finish("b7", now=4.0, more_calls=True)
    assert (cancelled.was_running, cancelled.ended_program) == (False, "q-7")
    with pytest.raises(gpuplane.NotFound):
        policy.finish("b7", now=5.0)


def test_program_keys_are_stable_and_scoped_by_tenant():
    # The core's pinned value (program_id.rs): a fleet's remembered programs survive upgrades.
    assert gpuplane.program_key("default", "task-42") == 1_639_338_491_676_858_830
    assert gpuplane.program_key("a", "task-42") != gpuplane.program_key("b", "task-42")
    with pytest.raises(InvalidRequest) as e:
        gpuplane.program_key("a", "")
    assert e.value.field == "workflow"


def test_reject_by_quota_for_non_preemptible_work(policy):
    d = policy.admit("c", "a", gpus(2), priority_class="critical", now=0.0)
    assert outcome(d) == ("reject", "rejected_limit")
    assert "guarantee" in d.text


def test_reject_by_limit(policy):
    policy.update_tenant("a", "org", guaranteed=gpus(1), deserved=gpus(4), limit={"gpus": 4})
    d = policy.admit("big", "a", gpus(5), now=0.0)
    assert outcome(d) == ("reject", "rejected_limit")
    assert "limit" in d.text


def test_reject_by_rate(policy):
    policy.update_tenant("a", "org", guaranteed=gpus(1), deserved=gpus(4), limit={"tokens_per_s": 100})
    assert policy.admit("r1", "a", tokens=80, now=0.0).admitted
    d = policy.admit("r2", "a", tokens=80, now=0.0)
    assert outcome(d) == ("reject", "rejected_rate")
    assert policy.admit("r3", "a", tokens=80, now=1.0).admitted


def test_reject_by_queue_cap(policy):
    policy.update_tenant("b", "org", guaranteed=gpus(1), deserved=gpus(4), max_queued=1)
    for k in range(7):
        policy.admit(f"b{k}", "b", gpus(1), now=0.0)
    assert outcome(policy.admit("q1", "b", gpus(1), now=0.0)) == ("queue", "queued_quota")
    assert outcome(policy.admit("q2", "b", gpus(1), now=0.0)) == ("reject", "rejected_queue_cap")


def test_reject_by_cost_budget(policy):
    policy.update_tenant("a", "org", guaranteed=gpus(1), deserved=gpus(4), budget=10.0)
    ok = policy.admit("r1", "a", gpus(1), gpu_model="H100", est_duration_s=3600 * 4, now=0.0)
    assert ok.admitted  # 1 GPU x 2.0 per GPU-hour x 4 h = 8.0
    d = policy.admit("r2", "a", gpus(1), gpu_model="H100", est_duration_s=3600 * 2, now=0.0)
    assert outcome(d) == ("reject", "rejected_budget")
    assert policy.explain("a", now=0.0).spent == pytest.approx(8.0)


def test_reject_when_the_deadline_is_infeasible(policy):
    d = policy.admit("r", "a", gpus(1), deadline_s=1.0, queue_ahead=100, service_rate=10, now=0.0)
    assert outcome(d) == ("reject", "rejected_deadline")
    assert "deadline" in d.text
    assert policy.admit(
        "r", "a", gpus(1), deadline_s=20.0, queue_ahead=100, service_rate=10, now=0.0
    ).admitted


def test_unknown_tenants_and_classes_are_refused_by_decision(policy):
    """Admission never raises on a request's tenant or class: it rejects with a reason code."""
    assert outcome(policy.admit("r", "org", gpus(1), now=0.0)) == ("reject", "rejected_unknown_tenant")
    assert outcome(policy.admit("r", "nobody", gpus(1), now=0.0)) == ("reject", "rejected_unknown_tenant")
    d = policy.admit("r", "a", gpus(1), priority_class="gold", now=0.0)
    assert outcome(d) == ("reject", "rejected_class") and "gold" in d.text
    assert policy.running() == [] and policy.queued() == []


def test_time_defaults_to_the_monotonic_clock(policy):
    t0 = time.monotonic()
    d = policy.admit("r", "a", gpus(1))
    assert d.at >= t0 and policy.now >= t0
    policy.release("r")
    assert policy.usage("a")["gpus"] >= 0.0


# ------------------------------------------------------------------------ explain, fair share


def test_explain_reports_standing_and_the_last_decision(policy):
    for k in range(7):
        policy.admit(f"b{k}", "b", gpus(1), now=0.0)
    policy.admit("b7", "b", gpus(1), now=0.0)
    e = policy.explain("b", now=0.0)
    assert e.tenant == "b" and e.path == ["org", "b"]
    assert e.allocated["gpus"] == 7.0 and e.borrowed["gpus"] == 3.0 and e.lent["gpus"] == 0.0
    assert e.dominant_share == pytest.approx(7 / 8)
    assert e.queued == 1 and e.running == 7
    assert e.last_decision.reason == "queued_quota"
    a = policy.explain("a", now=0.0)
    assert a.lent["gpus"] == 3.0 and a.guaranteed["gpus"] == 1.0 and a.deserved["gpus"] == 4.0
    assert a.last_decision is None
    assert str(e) == e.summary and "queued" in e.summary
    assert repr(e).startswith("Explanation(tenant='b', fair_share=")
    assert "last_decision=AdmissionDecision(request_id='b7', outcome='queue'" in repr(e)


def test_fair_shares_sum_to_the_parent_and_follow_demand(policy):
    policy.set_demand("a", gpus(8))
    policy.set_demand("b", gpus(8))
    a, b = policy.fair_share("a"), policy.fair_share("b")
    assert a["gpus"] == b["gpus"] == 4.0
    assert a["gpus"] + b["gpus"] == pytest.approx(policy.fair_share("org")["gpus"])
    policy.set_demand("a", gpus(1))
    assert policy.fair_share("a")["gpus"] == 1.0
    assert policy.fair_share("b")["gpus"] == 7.0
    full = policy.fair_shares()
    assert set(full) == {"org", "a", "b"}
    for name in full:
        assert full[name] == policy.fair_share(name)
    assert sum(full[t]["gpus"] for t in ("a", "b")) <= full["org"]["gpus"] + 1e-9
    policy.recompute_fair_shares()
    assert policy.fair_share("b")["gpus"] == 7.0


def test_capacity_as_a_dict_or_keywords(policy):
    policy.set_capacity(gpus=4, memory_mib=320_000)
    policy.set_demand("a", gpus(8))
    policy.set_demand("b", gpus(8))
    assert policy.fair_share("a")["gpus"] == 2.0


def test_dominant_share_and_usage(policy):
    policy.admit("r", "a", {"gpus": 2, "memory_mib": 400_000}, now=0.0)
    assert policy.dominant_share("a") == pytest.approx(400_000 / 640_000)
    assert policy.allocated("org")["gpus"] == 2.0
    policy.release("r", now=10.0)
    assert policy.usage("a", now=10.0)["gpus"] == pytest.approx(20.0)
    half = policy.config.half_life_s
    assert policy.usage("a", now=10.0 + half)["gpus"] == pytest.approx(10.0)
    policy.charge_tokens("a", 100, 10, now=10.0)
    assert policy.usage("a", now=10.0)["tokens_per_s"] == pytest.approx(100 * 1.0 + 10 * 2.0)


def test_snapshot_round_trips_and_damage_is_refused(policy):
    policy.admit("r", "a", gpus(1), now=5.0)
    policy.charge_tokens("b", 10, 10, now=5.0)
    data = policy.snapshot()
    back = Policy.restore(data)
    assert back.snapshot() == data
    assert back.allocated("a") == policy.allocated("a")
    assert back.usage("b", now=5.0) == policy.usage("b", now=5.0)
    with pytest.raises(SnapshotError):
        Policy.restore(data[:-10])
    with pytest.raises(SnapshotError):
        Policy.restore(data.replace(b'"guaranteed"', b'"guaranteeX"', 1))


def test_repr_is_readable(policy):
    assert repr(policy) == "Policy(tenants=3, classes=2, running=0)"
    assert repr(policy.admit("r", "a", now=0.0)).startswith(
        "AdmissionDecision(request_id='r', outcome='admit', reason='admitted'"
    )
    assert repr(policy.tenants()[1]).startswith("Tenant(name='a', parent='org', quota=Quota(")
