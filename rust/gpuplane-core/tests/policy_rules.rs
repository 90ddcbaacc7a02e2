//! One test per rule and per validation case of the policy engine.

use gpuplane_core::policy::{
    AdmissionRequest, Limits, ModelQuota, Policy, PolicyConfig, PriorityClass, Quota, Reason,
    RefusalCode, Resource, Resources, Running, TenantSpec,
};
use gpuplane_core::Error;

fn gpus(n: f64) -> Resources {
    Resources::gpus(n)
}

/// GPUs and GPU memory (1000 MiB per GPU).
fn quota(g: f64, d: f64, l: Option<f64>) -> Quota {
    let mut q = Quota {
        guaranteed: Resources::new(g, g * 1000.0, 0.0, 0.0),
        deserved: Resources::new(d, d * 1000.0, 0.0, 0.0),
        ..Quota::default()
    };
    q.limit.set(Resource::Gpus, l);
    q.limit.set(Resource::MemoryMib, l.map(|l| l * 1000.0));
    q
}

fn policy(capacity: f64) -> Policy {
    let mut p = Policy::new(PolicyConfig {
        min_runtime_s: 0.0,
        ..PolicyConfig::default()
    })
    .unwrap();
    p.set_capacity(Resources::new(capacity, capacity * 1000.0, 1e6, 1e6))
        .unwrap();
    p
}

fn add(p: &mut Policy, name: &str, parent: Option<&str>, q: Quota) {
    p.add_tenant(TenantSpec::new(name, parent, q)).unwrap();
}

/// Two leaves `a` and `b` under the root, each deserving half of `cap` GPUs.
fn two(cap: f64, g: f64) -> Policy {
    let mut p = policy(cap);
    add(&mut p, "a", None, quota(g, cap / 2.0, None));
    add(&mut p, "b", None, quota(g, cap / 2.0, None));
    p
}

fn field(e: Error) -> String {
    match e {
        Error::InvalidRequest { field, .. } => field,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

fn state(p: &Policy) -> String {
    serde_json::to_string(p).unwrap()
}

fn req(id: &str, tenant: &str, n: f64) -> AdmissionRequest {
    AdmissionRequest::new(id, tenant, gpus(n))
}

fn admit(p: &mut Policy, id: &str, tenant: &str, n: f64, now: f64) -> Reason {
    p.admit(&req(id, tenant, n), now).unwrap().reason
}

// ---------- validation: every error names the field and changes nothing ----------

#[test]
fn negative_and_nan_quotas_are_refused() {
    let mut p = two(8.0, 0.0);
    let before = state(&p);
    let mut q = quota(0.0, 1.0, None);
    q.guaranteed.set(Resource::MemoryMib, -1.0);
    let e = p.add_tenant(TenantSpec::new("c", None, q)).unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.memory_mib");
    let mut q = quota(0.0, 1.0, None);
    q.deserved.set(Resource::Gpus, f64::NAN);
    let e = p.add_tenant(TenantSpec::new("c", None, q)).unwrap_err();
    assert_eq!(field(e), "quota.deserved.gpus");
    let q = quota(0.0, 1.0, Some(f64::NAN));
    let e = p.add_tenant(TenantSpec::new("c", None, q)).unwrap_err();
    assert_eq!(field(e), "quota.limit.gpus");
    let q = Quota {
        over_quota_weight: -1.0,
        ..Quota::default()
    };
    let e = p.add_tenant(TenantSpec::new("c", None, q)).unwrap_err();
    assert_eq!(field(e), "quota.over_quota_weight");
    assert_eq!(state(&p), before);
}

#[test]
fn guarantee_above_limit_or_deserved_is_refused() {
    let mut p = two(8.0, 0.0);
    let before = state(&p);
    let e = p
        .add_tenant(TenantSpec::new("c", None, quota(4.0, 4.0, Some(2.0))))
        .unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.gpus");
    let e = p
        .add_tenant(TenantSpec::new("c", None, quota(3.0, 2.0, None)))
        .unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.gpus");
    let e = p
        .add_tenant(TenantSpec::new("c", None, quota(0.0, 4.0, Some(2.0))))
        .unwrap_err();
    assert_eq!(field(e), "quota.deserved.gpus");
    let mut q = quota(0.0, 1.0, None);
    q.models.insert(
        "H100".into(),
        ModelQuota {
            guaranteed: 3.0,
            limit: Some(1.0),
        },
    );
    let e = p.add_tenant(TenantSpec::new("c", None, q)).unwrap_err();
    assert_eq!(field(e), "quota.models[H100].guaranteed");
    assert_eq!(state(&p), before);
}

#[test]
fn children_guarantees_may_not_exceed_the_parent() {
    let mut p = policy(16.0);
    add(&mut p, "org", None, quota(4.0, 8.0, None));
    add(&mut p, "t1", Some("org"), quota(3.0, 4.0, None));
    let before = state(&p);
    let e = p
        .add_tenant(TenantSpec::new("t2", Some("org"), quota(2.0, 4.0, None)))
        .unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.gpus");
    // Lowering the parent's guarantee below its children's is refused too.
    let e = p
        .update_tenant(TenantSpec::new("org", None, quota(2.0, 8.0, None)))
        .unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.gpus");
    // And raising a child's.
    let e = p
        .update_tenant(TenantSpec::new("t1", Some("org"), quota(5.0, 5.0, None)))
        .unwrap_err();
    assert_eq!(field(e), "quota.guaranteed.gpus");
    assert_eq!(state(&p), before);
    add(&mut p, "t2", Some("org"), quota(1.0, 4.0, None));
}

#[test]
fn unknown_parent_duplicates_and_cycles_are_refused() {
    let mut p = policy(16.0);
    add(&mut p, "org", None, quota(0.0, 8.0, None));
    add(&mut p, "team", Some("org"), quota(0.0, 8.0, None));
    let before = state(&p);
    let e = p
        .add_tenant(TenantSpec::new("x", Some("nope"), Quota::default()))
        .unwrap_err();
    assert_eq!(field(e), "parent");
    let e = p
        .add_tenant(TenantSpec::new("team", None, Quota::default()))
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)));
    let e = p
        .update_tenant(TenantSpec::new("org", Some("team"), Quota::default()))
        .unwrap_err();
    assert_eq!(field(e), "parent");
    let e = p
        .update_tenant(TenantSpec::new("org", Some("org"), Quota::default()))
        .unwrap_err();
    assert_eq!(field(e), "parent");
    let e = p
        .add_tenant(TenantSpec::new("", None, Quota::default()))
        .unwrap_err();
    assert_eq!(field(e), "name");
    assert_eq!(state(&p), before);
}

#[test]
fn config_and_request_validation_name_the_field() {
    let bad = PolicyConfig {
        usage_factor: 1.0,
        ..PolicyConfig::default()
    };
    assert_eq!(field(Policy::new(bad).unwrap_err()), "usage_factor");
    let bad = PolicyConfig {
        half_life_s: 0.0,
        ..PolicyConfig::default()
    };
    assert_eq!(field(Policy::new(bad).unwrap_err()), "half_life_s");
    let mut p = two(8.0, 0.0);
    let before = state(&p);
    let mut r = req("r", "a", 1.0);
    r.resources.set(Resource::MemoryMib, f64::NAN);
    assert_eq!(field(p.admit(&r, 0.0).unwrap_err()), "resources.memory_mib");
    assert_eq!(
        field(p.admit(&req("r", "a", 1.0), f64::NAN).unwrap_err()),
        "now"
    );
    assert_eq!(field(p.set_demand("zz", gpus(1.0)).unwrap_err()), "tenant");
    assert_eq!(
        field(p.set_demand("a", gpus(-1.0)).unwrap_err()),
        "demand.gpus"
    );
    assert_eq!(state(&p), before);
}

// ---------- tree at runtime ----------

#[test]
fn tree_changes_at_runtime() {
    let mut p = policy(16.0);
    add(&mut p, "org", None, quota(0.0, 16.0, None));
    add(&mut p, "a", Some("org"), quota(0.0, 8.0, None));
    assert_eq!(admit(&mut p, "w", "a", 2.0, 0.0), Reason::Admitted);
    // A leaf with work cannot become a parent or be removed.
    let e = p
        .add_tenant(TenantSpec::new("x", Some("a"), Quota::default()))
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)));
    assert!(matches!(p.remove_tenant("a"), Err(Error::Conflict(_))));
    assert!(matches!(p.remove_tenant("org"), Err(Error::Conflict(_))));
    // Moving a leaf moves its allocations.
    add(&mut p, "org2", None, quota(0.0, 8.0, None));
    p.update_tenant(TenantSpec::new("a", Some("org2"), quota(0.0, 8.0, None)))
        .unwrap();
    assert_eq!(p.allocated("org").unwrap(), Resources::ZERO);
    assert_eq!(p.allocated("org2").unwrap().get(Resource::Gpus), 2.0);
    p.release("w", 10.0).unwrap();
    p.remove_tenant("a").unwrap();
    assert_eq!(p.tenant_count(), 2);
    assert!(p.tenant("a").is_none());
}

// ---------- fair share ----------

#[test]
fn deserved_first_then_surplus_by_weight() {
    let mut p = policy(12.0);
    let mut qa = quota(0.0, 2.0, None);
    qa.over_quota_weight = 3.0;
    add(&mut p, "a", None, qa);
    add(&mut p, "b", None, quota(0.0, 2.0, None));
    p.set_demand("a", gpus(100.0)).unwrap();
    p.set_demand("b", gpus(100.0)).unwrap();
    // 4 deserved, 8 surplus split 3:1.
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), 2.0 + 6.0);
    assert_eq!(p.fair_share("b").unwrap().get(Resource::Gpus), 2.0 + 2.0);
}

#[test]
fn surplus_goes_to_higher_over_quota_priority_first() {
    let mut p = policy(12.0);
    let mut qa = quota(0.0, 2.0, None);
    qa.over_quota_priority = 1;
    add(&mut p, "a", None, qa);
    add(&mut p, "b", None, quota(0.0, 2.0, None));
    p.set_demand("a", gpus(7.0)).unwrap();
    p.set_demand("b", gpus(100.0)).unwrap();
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), 7.0);
    assert_eq!(p.fair_share("b").unwrap().get(Resource::Gpus), 5.0);
}

#[test]
fn shares_are_capped_by_demand_and_limit_and_idle_guarantees_are_held() {
    let mut p = policy(12.0);
    add(&mut p, "a", None, quota(4.0, 6.0, None));
    add(&mut p, "b", None, quota(0.0, 6.0, Some(7.0)));
    p.set_demand("a", gpus(1.0)).unwrap();
    p.set_demand("b", gpus(100.0)).unwrap();
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), 1.0);
    // 12 - 1 used - 3 held (a's idle guarantee) = 8 for b, but b's limit is 7.
    assert_eq!(p.fair_share("b").unwrap().get(Resource::Gpus), 7.0);
    p.update_tenant(TenantSpec::new("b", None, quota(0.0, 6.0, None)))
        .unwrap();
    assert_eq!(p.fair_share("b").unwrap().get(Resource::Gpus), 8.0);
}

#[test]
fn usage_lowers_the_over_quota_share_by_the_documented_formula() {
    let mut p = policy(10.0);
    add(&mut p, "a", None, quota(0.0, 0.0, None));
    add(&mut p, "b", None, quota(0.0, 0.0, None));
    p.set_demand("a", gpus(100.0)).unwrap();
    p.set_demand("b", gpus(100.0)).unwrap();
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), 5.0);
    // a used 3/4 of the GPU usage: w_a = 1 - 0.5 * 0.75 = 0.625, w_b = 1 - 0.5 * 0.25 = 0.875.
    p.charge_usage("a", gpus(300.0), 0.0).unwrap();
    p.charge_usage("b", gpus(100.0), 0.0).unwrap();
    let a = p.fair_share("a").unwrap().get(Resource::Gpus);
    assert!((a - 10.0 * 0.625 / 1.5).abs() < 1e-9, "{a}");
    // Decay alone does not change the ratio, hence not the share.
    let later = p.usage("a", 1e6).unwrap().get(Resource::Gpus);
    assert!(later < 300.0);
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), a);
}

#[test]
fn ordering_is_by_dominant_share_against_fair_share() {
    let mut p = two(8.0, 0.0);
    p.set_demand("a", gpus(4.0)).unwrap();
    p.set_demand("b", gpus(4.0)).unwrap();
    admit(&mut p, "a1", "a", 3.0, 0.0);
    admit(&mut p, "b1", "b", 1.0, 0.0);
    assert_eq!(p.order(&["a", "b", "zz"]), vec!["b", "a"]);
    assert_eq!(p.dominant_share("a").unwrap(), 3.0 / 8.0);
    assert_eq!(p.fair_share_ratio("a").unwrap(), 0.75);
}

// ---------- admission, one test per reason ----------

#[test]
fn admits_within_capacity_and_queues_beyond() {
    let mut p = two(8.0, 0.0);
    assert_eq!(admit(&mut p, "1", "a", 6.0, 0.0), Reason::Admitted);
    let d = p.admit(&req("2", "b", 4.0), 0.0).unwrap();
    assert_eq!(d.reason, Reason::QueuedQuota);
    assert!(d.text.contains("gpus"), "{}", d.text);
    assert_eq!(p.queued().collect::<Vec<_>>(), vec!["2"]);
    p.release("1", 1.0).unwrap();
    assert_eq!(admit(&mut p, "2", "b", 4.0, 1.0), Reason::Admitted);
    assert_eq!(p.queued().count(), 0);
    assert!(matches!(
        p.admit(&req("2", "b", 1.0), 1.0),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn idle_guarantees_are_not_lent() {
    let mut p = two(8.0, 3.0);
    // b may use its 4 deserved plus a's 1 lendable (4 - 3 guaranteed), not a's guarantee.
    assert_eq!(admit(&mut p, "1", "b", 5.0, 0.0), Reason::Admitted);
    assert_eq!(admit(&mut p, "2", "b", 1.0, 0.0), Reason::QueuedQuota);
    assert_eq!(admit(&mut p, "3", "a", 3.0, 0.0), Reason::Admitted);
}

#[test]
fn rejects_beyond_limits_and_queues_at_the_limit() {
    let mut p = policy(16.0);
    add(&mut p, "org", None, quota(0.0, 6.0, Some(6.0)));
    add(&mut p, "a", Some("org"), quota(0.0, 4.0, None));
    assert_eq!(admit(&mut p, "1", "a", 7.0, 0.0), Reason::RejectedLimit);
    assert_eq!(admit(&mut p, "2", "a", 17.0, 0.0), Reason::RejectedLimit);
    assert_eq!(admit(&mut p, "3", "a", 5.0, 0.0), Reason::Admitted);
    assert_eq!(admit(&mut p, "4", "a", 2.0, 0.0), Reason::QueuedQuota);
}

#[test]
fn per_model_limits_apply() {
    let mut p = policy(16.0);
    let mut q = quota(0.0, 8.0, None);
    q.models.insert(
        "H100".into(),
        ModelQuota {
            guaranteed: 0.0,
            limit: Some(2.0),
        },
    );
    add(&mut p, "a", None, q);
    let mut r = req("1", "a", 3.0);
    r.gpu_model = Some("H100".into());
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::RejectedLimit);
    r.resources = gpus(2.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    r.id = "2".into();
    r.resources = gpus(1.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::QueuedQuota);
    r.gpu_model = Some("L4".into());
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
}

#[test]
fn rate_limits_in_weighted_tokens() {
    let mut p = policy(8.0);
    let mut q = quota(0.0, 8.0, None);
    q.limit.set(Resource::TokensPerSec, Some(100.0));
    let mut spec = TenantSpec::new("a", None, q);
    spec.burst_tokens = Some(300.0);
    p.add_tenant(spec).unwrap();
    let tokens = gpuplane_core::policy::weighted_tokens(1.0, 2.0, 100, 50);
    assert_eq!(tokens, 200.0);
    let mut r = AdmissionRequest::new("1", "a", Resources::ZERO);
    r.tokens = tokens;
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    r.id = "2".into();
    let d = p.admit(&r, 0.0).unwrap();
    assert_eq!(d.reason, Reason::RejectedRate);
    assert!(d.text.contains("retry in 1.000 s"), "{}", d.text);
    assert_eq!(p.admit(&r, 1.0).unwrap().reason, Reason::Admitted);
    r.id = "3".into();
    r.tokens = 301.0;
    assert_eq!(p.admit(&r, 100.0).unwrap().reason, Reason::RejectedRate);
}

#[test]
fn queue_cap_rejects() {
    let mut p = policy(4.0);
    let mut spec = TenantSpec::new("a", None, quota(0.0, 4.0, None));
    spec.max_queued = Some(1);
    p.add_tenant(spec).unwrap();
    assert_eq!(admit(&mut p, "1", "a", 4.0, 0.0), Reason::Admitted);
    assert_eq!(admit(&mut p, "2", "a", 1.0, 0.0), Reason::QueuedQuota);
    assert_eq!(admit(&mut p, "3", "a", 1.0, 0.0), Reason::RejectedQueueCap);
    // Resubmitting the queued request does not count against its own slot.
    assert_eq!(admit(&mut p, "2", "a", 1.0, 0.0), Reason::QueuedQuota);
    p.cancel("2").unwrap();
    assert_eq!(admit(&mut p, "3", "a", 1.0, 0.0), Reason::QueuedQuota);
}

#[test]
fn cost_budget_uses_price_per_gpu_hour_by_model() {
    let mut cfg = PolicyConfig::default();
    cfg.gpu_prices.insert("H100".into(), 4.0);
    let mut p = Policy::new(cfg).unwrap();
    p.set_capacity(gpus(16.0)).unwrap();
    let mut spec = TenantSpec::new("a", None, quota(0.0, 16.0, None));
    spec.budget = Some(10.0);
    p.add_tenant(spec).unwrap();
    let mut r = req("1", "a", 2.0);
    r.gpu_model = Some("H100".into());
    r.est_duration_s = 3600.0;
    assert_eq!(p.cost_of(&r), 8.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    r.id = "2".into();
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::RejectedBudget);
    r.gpu_model = Some("L4".into());
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
}

#[test]
fn infeasible_deadlines_are_rejected() {
    let mut p = two(8.0, 0.0);
    let mut r = req("1", "a", 1.0);
    r.queue_ahead = 100.0;
    r.service_rate = 10.0;
    r.deadline_s = Some(5.0);
    let d = p.admit(&r, 0.0).unwrap();
    assert_eq!(d.reason, Reason::RejectedDeadline);
    assert!(d.text.contains("10.000 s"), "{}", d.text);
    r.deadline_s = Some(10.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    r.id = "2".into();
    r.service_rate = 0.0;
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::RejectedDeadline);
}

#[test]
fn unknown_tenants_inner_nodes_and_classes_are_rejected() {
    let mut p = policy(8.0);
    add(&mut p, "org", None, quota(0.0, 8.0, None));
    add(&mut p, "a", Some("org"), quota(0.0, 8.0, None));
    assert_eq!(
        admit(&mut p, "1", "zz", 1.0, 0.0),
        Reason::RejectedUnknownTenant
    );
    assert_eq!(
        admit(&mut p, "1", "org", 1.0, 0.0),
        Reason::RejectedUnknownTenant
    );
    let mut r = req("1", "a", 1.0);
    r.class = "gold".into();
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::RejectedClass);
    p.upsert_class(PriorityClass::new("gold", 5, true)).unwrap();
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    assert!(matches!(p.remove_class("gold"), Err(Error::Conflict(_))));
}

#[test]
fn non_preemptible_work_runs_only_within_guarantee() {
    let mut p = two(8.0, 2.0);
    let mut r = req("1", "a", 3.0);
    r.class = "critical".into();
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::RejectedLimit);
    r.resources = gpus(2.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::Admitted);
    r.id = "2".into();
    r.resources = gpus(1.0);
    assert_eq!(p.admit(&r, 0.0).unwrap().reason, Reason::QueuedQuota);
    // Preemptible work still borrows beyond the guarantee.
    assert_eq!(admit(&mut p, "3", "a", 3.0, 0.0), Reason::Admitted);
}

// ---------- reclaim laws, one test each ----------

fn running(id: &str, tenant: &str, class: &str, n: f64, start: f64) -> Running {
    Running {
        id: id.into(),
        tenant: tenant.into(),
        class: class.into(),
        resources: Resources::new(n, n * 1000.0, 0.0, 0.0),
        gpu_model: None,
        start,
    }
}

fn start_all(p: &mut Policy, ws: &[Running]) {
    for w in ws {
        let mut r = AdmissionRequest::new(w.id.clone(), w.tenant.clone(), w.resources);
        r.class = w.class.clone();
        assert_eq!(
            p.admit(&r, w.start).unwrap().reason,
            Reason::Admitted,
            "{w:?}"
        );
    }
}

fn preemptor(tenant: &str, class: &str, n: f64) -> AdmissionRequest {
    let mut r = AdmissionRequest::new("p", tenant, Resources::new(n, n * 1000.0, 0.0, 0.0));
    r.class = class.into();
    r
}

fn code(p: &Policy, pre: &AdmissionRequest, v: &Running, now: f64) -> Option<RefusalCode> {
    p.check_preemption(pre, v, now).err().map(|r| r.code)
}

#[test]
fn law_only_preemptible_work_is_preempted() {
    let mut p = two(8.0, 4.0);
    p.upsert_class(PriorityClass::new("top", 2000, true))
        .unwrap();
    let v = running("v", "a", "critical", 2.0, 0.0);
    start_all(&mut p, std::slice::from_ref(&v));
    let pre = preemptor("a", "top", 1.0);
    assert_eq!(code(&p, &pre, &v, 10.0), Some(RefusalCode::NotPreemptible));
}

#[test]
fn law_minimum_run_time_protects_fresh_work() {
    let mut p = Policy::new(PolicyConfig::default()).unwrap();
    p.set_capacity(Resources::new(8.0, 8000.0, 0.0, 0.0))
        .unwrap();
    add(&mut p, "a", None, quota(0.0, 8.0, None));
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let v = running("v", "a", "default", 2.0, 100.0);
    start_all(&mut p, std::slice::from_ref(&v));
    let pre = preemptor("a", "hi", 1.0);
    assert_eq!(code(&p, &pre, &v, 159.0), Some(RefusalCode::MinRunTime));
    assert_eq!(code(&p, &pre, &v, 160.0), None);
}

#[test]
fn law_lower_priority_only_within_a_tenant() {
    let mut p = two(8.0, 0.0);
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let v = running("v", "a", "default", 2.0, 0.0);
    start_all(&mut p, std::slice::from_ref(&v));
    assert_eq!(
        code(&p, &preemptor("a", "default", 1.0), &v, 1.0),
        Some(RefusalCode::NotLowerPriority)
    );
    assert_eq!(code(&p, &preemptor("a", "hi", 1.0), &v, 1.0), None);
    let hv = running("hv", "a", "hi", 1.0, 0.0);
    start_all(&mut p, std::slice::from_ref(&hv));
    assert_eq!(
        code(&p, &preemptor("a", "default", 1.0), &hv, 1.0),
        Some(RefusalCode::NotLowerPriority)
    );
}

#[test]
fn law_equal_priority_only_reclaims_own_deserved_from_borrowed_work() {
    let mut p = two(8.0, 0.0);
    let ws: Vec<Running> = (0..6)
        .map(|k| running(&format!("b{k}"), "b", "default", 1.0, 0.0))
        .collect();
    start_all(&mut p, &ws);
    // a (0 of 4 deserved) reclaims from b (6 of 4 deserved).
    assert_eq!(code(&p, &preemptor("a", "default", 1.0), &ws[0], 1.0), None);
    assert_eq!(
        code(&p, &preemptor("a", "default", 5.0), &ws[0], 1.0),
        Some(RefusalCode::NotOwnDeserved)
    );
    let plan = p
        .reclaim_plan(&preemptor("a", "default", 4.0), &ws, 1.0)
        .unwrap();
    // Only the 2 borrowed GPUs can be reclaimed; 2 are free already.
    assert_eq!(plan.victims.len(), 2);
    assert_eq!(plan.needed.get(Resource::Gpus), 2.0);
    let plan = p
        .reclaim_plan(&preemptor("a", "default", 3.0), &ws, 1.0)
        .unwrap();
    assert_eq!(plan.victims.len(), 1);
    // b at its deserved: its work is not borrowed.
    for w in &ws[..2] {
        p.release(&w.id, 1.0).unwrap();
    }
    start_all(&mut p, &[running("a1", "a", "default", 4.0, 1.0)]);
    assert_eq!(
        code(&p, &preemptor("a", "default", 1.0), &ws[2], 2.0),
        Some(RefusalCode::NotOwnDeserved)
    );
}

#[test]
fn law_never_below_guarantee() {
    let mut p = two(8.0, 3.0);
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let ws: Vec<Running> = (0..4)
        .map(|k| running(&format!("b{k}"), "b", "default", 1.0, 0.0))
        .collect();
    start_all(&mut p, &ws);
    let pre = preemptor("a", "hi", 1.0);
    assert_eq!(code(&p, &pre, &ws[0], 1.0), None);
    let plan = p.reclaim_plan_for(&pre, gpus(3.0), &ws, 1.0).unwrap_err();
    assert_eq!(plan.code, RefusalCode::Insufficient);
    assert!(plan.text.contains("guarantee"), "{}", plan.text);
    let plan = p.reclaim_plan_for(&pre, gpus(1.0), &ws, 1.0).unwrap();
    assert_eq!(plan.victims.len(), 1);
}

#[test]
fn law_no_loop_share_condition() {
    let mut p = two(8.0, 0.0);
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let a = running("a0", "a", "default", 3.0, 0.0);
    let b = running("b0", "b", "default", 2.0, 0.0);
    start_all(&mut p, &[a.clone(), b.clone()]);
    // a (3 of 4) with 1 more is at 1.0 > b's 0.5: refused even at higher priority.
    assert_eq!(
        code(&p, &preemptor("a", "hi", 1.0), &b, 1.0),
        Some(RefusalCode::ShareLoop)
    );
    // b with 1 more is at 0.75 <= a's 0.75: allowed (tie broken by name, "b" > "a" fails).
    assert_eq!(
        code(&p, &preemptor("b", "hi", 1.0), &a, 1.0),
        Some(RefusalCode::ShareLoop)
    );
    assert_eq!(code(&p, &preemptor("b", "hi", 0.5), &a, 1.0), None);
}

#[test]
fn law_collateral_is_bounded() {
    let mut p = two(8.0, 0.0);
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let big = running("big", "a", "default", 4.0, 0.0);
    start_all(&mut p, std::slice::from_ref(&big));
    // 1 GPU (1000 MiB) may evict at most 2000 MiB.
    let pre = preemptor("a", "hi", 1.0);
    let e = p
        .reclaim_plan_for(&pre, gpus(1.0), std::slice::from_ref(&big), 1.0)
        .unwrap_err();
    assert_eq!(e.code, RefusalCode::Insufficient);
    assert!(e.text.contains("Collateral"), "{}", e.text);
    let pre = preemptor("a", "hi", 2.0);
    assert!(p.reclaim_plan_for(&pre, gpus(1.0), &[big], 1.0).is_ok());
}

#[test]
fn cheapest_plan_prefers_lower_priority_then_less_memory() {
    let mut p = policy(8.0);
    add(&mut p, "a", None, quota(0.0, 8.0, None));
    p.upsert_class(PriorityClass::new("mid", 5, true)).unwrap();
    p.upsert_class(PriorityClass::new("hi", 10, true)).unwrap();
    let ws = vec![
        running("mid1", "a", "mid", 1.0, 0.0),
        running("low2", "a", "default", 2.0, 0.0),
        running("low1", "a", "default", 1.0, 0.0),
        running("low1b", "a", "default", 1.0, 0.0),
    ];
    start_all(&mut p, &ws);
    let plan = p
        .reclaim_plan_for(&preemptor("a", "hi", 2.0), gpus(2.0), &ws, 1.0)
        .unwrap();
    assert_eq!(plan.victims, vec!["low1", "low1b"]);
}

// ---------- explain, decay, serde ----------

#[test]
fn explain_reports_borrowed_lent_and_the_last_decision() {
    let mut p = two(8.0, 1.0);
    p.set_demand("b", gpus(6.0)).unwrap();
    admit(&mut p, "1", "b", 6.0, 0.0);
    // a's 1 GPU guarantee is held: b may take 7 but not 8.
    admit(&mut p, "2", "b", 2.0, 0.0);
    let e = p.explain("b", 0.0).unwrap();
    assert_eq!(e.borrowed.get(Resource::Gpus), 2.0);
    assert_eq!(
        e.last_decision.as_ref().unwrap().reason,
        Reason::QueuedQuota
    );
    assert!(e.summary.contains("queued_quota"), "{}", e.summary);
    assert!(e.summary.contains("borrowed {gpus=2}"), "{}", e.summary);
    let a = p.explain("a", 0.0).unwrap();
    assert!(
        a.summary.contains("lent {gpus=3, memory_mib=3000}"),
        "{}",
        a.summary
    );
    assert_eq!(a.lent.get(Resource::Gpus), 3.0);
    assert_eq!(a.path, vec!["a"]);
    assert_eq!(b_share(&p), 6.0);
}

fn b_share(p: &Policy) -> f64 {
    p.fair_share("b").unwrap().get(Resource::Gpus)
}

#[test]
fn decayed_usage_halves_every_half_life() {
    let mut p = two(8.0, 0.0);
    p.charge_usage("a", gpus(1024.0), 0.0).unwrap();
    let h = p.config().half_life_s;
    for k in 0..10 {
        let u = p.usage("a", k as f64 * h).unwrap().get(Resource::Gpus);
        assert!((u - 1024.0 / f64::from(1 << k)).abs() < 1e-9, "{k}: {u}");
    }
    // Usage is charged to ancestors too, and release charges resources x run time.
    admit(&mut p, "w", "b", 2.0, 0.0);
    p.release("w", 100.0).unwrap();
    let u = p.usage("b", 100.0).unwrap().get(Resource::Gpus);
    assert!((u - 200.0).abs() < 1e-9);
}

#[test]
fn snapshot_round_trips_and_damage_is_refused() {
    let mut p = policy(16.0);
    add(&mut p, "org", None, quota(2.0, 8.0, Some(12.0)));
    let mut q = quota(1.0, 4.0, None);
    q.limit.set(Resource::TokensPerSec, Some(50.0));
    add(&mut p, "a", Some("org"), q);
    add(&mut p, "b", Some("org"), quota(1.0, 4.0, None));
    p.set_demand("a", gpus(3.0)).unwrap();
    p.charge_usage("b", gpus(5.0), 2.0).unwrap();
    admit(&mut p, "1", "a", 2.0, 3.0);
    admit(&mut p, "2", "b", 20.0, 3.0);
    let json = serde_json::to_string(&p).unwrap();
    let back: Policy = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.fair_share("a").unwrap(), p.fair_share("a").unwrap());
    assert_eq!(
        back.explain("b", 3.0).unwrap(),
        p.explain("b", 3.0).unwrap()
    );
    let damaged = json.replace("\"parent\":\"org\"", "\"parent\":\"nope\"");
    assert!(serde_json::from_str::<Policy>(&damaged).is_err());
    let damaged = json.replace("\"version\":1", "\"version\":9");
    assert!(serde_json::from_str::<Policy>(&damaged).is_err());
}

#[test]
fn limits_helpers() {
    let mut l = Limits::NONE;
    assert_eq!(l.get(Resource::Gpus), f64::INFINITY);
    l.set(Resource::Gpus, Some(2.0));
    assert_eq!(l.as_resources().get(Resource::Gpus), 2.0);
}

#[test]
fn check_leaf_accepts_leaves_only_naming_the_tenant() {
    let mut p = policy(8.0);
    add(&mut p, "org", None, Quota::default());
    add(&mut p, "alice", Some("org"), Quota::default());
    assert!(p.check_leaf("alice").is_ok());
    for (tenant, text) in [
        ("nobody", "unknown tenant"),
        ("org", "only leaves hold work"),
    ] {
        match p.check_leaf(tenant) {
            Err(Error::InvalidRequest { field, reason }) => {
                assert_eq!(field, "tenant");
                assert!(reason.contains(text), "{reason}");
            }
            other => panic!("{tenant}: {other:?}"),
        }
    }
}
