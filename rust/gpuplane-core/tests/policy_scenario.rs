//! Scenario: tenant B borrows A's idle GPUs; A's demand returns; B's borrowed work (and only
//! that) is reclaimed, A is back at its deserved share within one decision cycle, and no
//! workload is preempted twice.

use std::collections::BTreeSet;

use gpuplane_core::policy::{
    AdmissionRequest, Policy, PolicyConfig, Quota, Reason, Resource, Resources, Running, TenantSpec,
};

fn res(n: f64) -> Resources {
    Resources::new(n, n * 1000.0, 0.0, 0.0)
}

fn setup() -> Policy {
    let mut p = Policy::new(PolicyConfig {
        min_runtime_s: 30.0,
        ..PolicyConfig::default()
    })
    .unwrap();
    p.set_capacity(res(8.0)).unwrap();
    let org = Quota {
        guaranteed: res(2.0),
        deserved: res(8.0),
        ..Quota::default()
    };
    p.add_tenant(TenantSpec::new("org", None, org)).unwrap();
    for t in ["a", "b"] {
        let q = Quota {
            guaranteed: res(1.0),
            deserved: res(4.0),
            ..Quota::default()
        };
        p.add_tenant(TenantSpec::new(t, Some("org"), q)).unwrap();
    }
    p
}

fn gpus(p: &Policy, t: &str) -> f64 {
    p.allocated(t).unwrap().get(Resource::Gpus)
}

/// One decision cycle over `pending`: admit, else reclaim then admit. Returns the victims.
fn cycle(p: &mut Policy, pending: &[AdmissionRequest], now: f64) -> Vec<String> {
    let mut victims = Vec::new();
    for r in pending {
        if p.admit(r, now).unwrap().reason == Reason::Admitted {
            continue;
        }
        let running: Vec<Running> = p.running_all().cloned().collect();
        let plan = p.reclaim_plan(r, &running, now).unwrap();
        for v in &plan.victims {
            p.release(v, now).unwrap();
        }
        victims.extend(plan.victims);
        assert_eq!(p.admit(r, now).unwrap().reason, Reason::Admitted);
    }
    victims
}

#[test]
fn borrowed_gpus_are_reclaimed_within_one_cycle() {
    let mut p = setup();
    // A is idle; B wants everything it may take: all but A's idle guarantee (7 GPUs).
    p.set_demand("b", res(8.0)).unwrap();
    assert_eq!(p.fair_share("b").unwrap().get(Resource::Gpus), 7.0);
    for k in 0..8 {
        let d = p
            .admit(
                &AdmissionRequest::new(format!("b{k}"), "b", res(1.0)),
                k as f64,
            )
            .unwrap();
        assert_eq!(
            d.reason,
            if k < 7 {
                Reason::Admitted
            } else {
                Reason::QueuedQuota
            }
        );
    }
    p.cancel("b7").unwrap();
    assert_eq!(
        p.explain("b", 10.0).unwrap().borrowed.get(Resource::Gpus),
        3.0
    );

    // A's demand returns.
    p.set_demand("a", res(4.0)).unwrap();
    p.set_demand("b", res(7.0)).unwrap();
    assert_eq!(p.resolve_fair_share("a").unwrap().get(Resource::Gpus), 4.0);
    let pending: Vec<AdmissionRequest> = (0..4)
        .map(|k| AdmissionRequest::new(format!("a{k}"), "a", res(1.0)))
        .collect();
    let victims = cycle(&mut p, &pending, 100.0);

    // Exactly B's 3 borrowed GPUs were reclaimed (the newest, least work lost), each once.
    let unique: BTreeSet<&String> = victims.iter().collect();
    assert_eq!(
        unique.len(),
        victims.len(),
        "a workload was preempted twice"
    );
    assert_eq!(victims.len(), 3);
    assert!(victims.iter().all(|v| v.starts_with('b')));
    assert_eq!(gpus(&p, "a"), 4.0);
    assert_eq!(gpus(&p, "b"), 4.0);
    assert_eq!(p.fair_share("a").unwrap().get(Resource::Gpus), 4.0);
    assert_eq!(
        p.explain("b", 100.0).unwrap().borrowed.get(Resource::Gpus),
        0.0
    );

    // A second cycle changes nothing: B's remaining work is within its deserved share.
    let more = [AdmissionRequest::new("a4", "a", res(1.0))];
    assert_eq!(
        p.admit(&more[0], 101.0).unwrap().reason,
        Reason::QueuedQuota
    );
    let running: Vec<Running> = p.running_all().cloned().collect();
    assert!(p.reclaim_plan(&more[0], &running, 101.0).is_err());
    assert_eq!(gpus(&p, "b"), 4.0);
}

#[test]
fn fresh_borrowed_work_is_protected_by_the_minimum_run_time() {
    let mut p = setup();
    for k in 0..7 {
        p.admit(&AdmissionRequest::new(format!("b{k}"), "b", res(1.0)), 0.0)
            .unwrap();
    }
    let r = AdmissionRequest::new("a0", "a", res(2.0));
    assert_eq!(p.admit(&r, 10.0).unwrap().reason, Reason::QueuedQuota);
    let running: Vec<Running> = p.running_all().cloned().collect();
    assert!(p.reclaim_plan(&r, &running, 10.0).is_err());
    assert_eq!(p.reclaim_plan(&r, &running, 30.0).unwrap().victims.len(), 1);
}
