//! A batching scheduler linked to a policy engine: weights follow the engine's tenants.

use gpuplane_core::batching::{
    BatchConfig, BatchScheduler, Policy, Request, StepOutputs, Submission,
};
use gpuplane_core::policy::{self, lock, shared, PolicyConfig, Quota, SharedPolicy, TenantSpec};
use gpuplane_core::Error;

fn engine() -> SharedPolicy {
    let mut p = policy::Policy::new(PolicyConfig::default()).unwrap();
    for t in ["a", "b"] {
        p.add_tenant(TenantSpec::new(t, None, Quota::default()))
            .unwrap();
    }
    shared(p)
}

fn scheduler(e: &SharedPolicy) -> BatchScheduler {
    let cfg = BatchConfig {
        token_budget: 256,
        max_running: 4,
        kv_blocks: 1024,
        block_size: 16,
        policy: Policy::Fair,
        ..BatchConfig::default()
    };
    BatchScheduler::with_policy(cfg, e.clone()).unwrap()
}

/// Runs `steps` steps with both tenants backlogged; returns the weighted tokens each was
/// charged over them.
fn serve(s: &mut BatchScheduler, next_id: &mut u64, steps: usize) -> (f64, f64) {
    let before = service(s);
    let mut outputs = StepOutputs::default();
    for _ in 0..steps {
        for tenant in ["a", "b"] {
            for _ in waiting(s, tenant)..20 {
                s.add(Request::new(*next_id, tenant, 32, 8)).unwrap();
                *next_id += 1;
            }
        }
        let plan = s.schedule();
        outputs.generated.clear();
        let sampled = plan.scheduled.iter().filter(|e| e.samples);
        outputs.generated.extend(sampled.map(|e| (e.id, 1)));
        s.update(&outputs).unwrap();
    }
    let after = service(s);
    (after.0 - before.0, after.1 - before.1)
}

fn service(s: &BatchScheduler) -> (f64, f64) {
    let m = s.metrics();
    let of = |t: &str| {
        m.tenants
            .iter()
            .find(|x| x.tenant == t)
            .map_or(0.0, |x| x.service)
    };
    (of("a"), of("b"))
}

fn waiting(s: &BatchScheduler, t: &str) -> u32 {
    let m = s.metrics();
    m.tenants
        .iter()
        .find(|x| x.tenant == t)
        .map_or(0, |x| x.waiting)
}

fn weight(s: &BatchScheduler, t: &str) -> f64 {
    let m = s.metrics();
    m.tenants.iter().find(|x| x.tenant == t).unwrap().weight
}

#[test]
fn a_weight_changed_in_the_engine_applies_from_the_next_step() {
    let e = engine();
    let mut s = scheduler(&e);
    let mut next_id = 0;
    let (a, b) = serve(&mut s, &mut next_id, 400);
    assert!((b / a - 1.0).abs() < 0.2, "equal weights: {a} vs {b}");
    let mut spec = lock(&e).tenant("b").unwrap().clone();
    spec.quota.over_quota_weight = 3.0;
    lock(&e).update_tenant(spec).unwrap();
    serve(&mut s, &mut next_id, 1);
    assert_eq!(weight(&s, "b"), 3.0);
    let (a, b) = serve(&mut s, &mut next_id, 2000);
    assert!((b / a - 3.0).abs() < 0.5, "weights 1:3: {a} vs {b}");
}

fn in_class(id: u64, class: &str) -> Submission {
    Submission {
        request: Request::new(id, "a", 32, 8),
        priority_class: Some(class.into()),
    }
}

#[test]
fn a_submission_takes_its_priority_from_its_class() {
    let e = engine();
    let mut s = scheduler(&e);
    s.submit(Request::new(1, "a", 32, 8).into()).unwrap();
    s.submit(in_class(2, "critical")).unwrap();
    let first = s.schedule().scheduled[0].id;
    assert_eq!(first, 2, "the critical class (1000) goes before priority 0");
}

#[test]
fn a_submission_naming_a_bad_or_unknown_class_is_refused_naming_the_field() {
    let e = engine();
    let mut s = scheduler(&e);
    for class in ["", "crit\u{0}ical", " critical", "nope"] {
        match s.submit(in_class(1, class)) {
            Err(Error::InvalidRequest { field, .. }) => assert_eq!(field, "priority_class"),
            other => panic!("{class:?}: {other:?}"),
        }
    }
    assert_eq!(waiting(&s, "a"), 0, "nothing was added");
}
