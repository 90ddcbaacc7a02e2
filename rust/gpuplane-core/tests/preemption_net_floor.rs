//! Regression: a preemption plan is judged by its net effect at every level of the tenant tree
//! (what it evicts and what it places), and a proposed plan is one `preempt` executes.

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload};
use gpuplane_core::policy::{
    lock, shared, Policy, PolicyConfig, PriorityClass, Quota, Resource, Resources, SharedPolicy,
    TenantSpec,
};

const MIB: u64 = 80_000;

fn res(n: f64) -> Resources {
    Resources::new(n, n * MIB as f64, 0.0, 0.0)
}

/// `org` (guarantee 2 GPUs) with one leaf `a` (no guarantee of its own), and a tenant `b`.
fn setup() -> (SharedPolicy, Cluster) {
    let mut p = Policy::new(PolicyConfig {
        min_runtime_s: 0.0,
        collateral_factor: 4.0,
        ..PolicyConfig::default()
    })
    .unwrap();
    p.set_capacity(res(4.0)).unwrap();
    let q = |g: f64, d: f64| Quota {
        guaranteed: res(g),
        deserved: res(d),
        ..Quota::default()
    };
    p.add_tenant(TenantSpec::new("org", None, q(2.0, 2.0)))
        .unwrap();
    p.add_tenant(TenantSpec::new("a", Some("org"), q(0.0, 2.0)))
        .unwrap();
    p.add_tenant(TenantSpec::new("b", None, q(2.0, 2.0)))
        .unwrap();
    p.upsert_class(PriorityClass::new("high", 10, true))
        .unwrap();
    let e = shared(p);
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    c.add_node(NodeSpec {
        name: "n0".into(),
        gpus: (0..4)
            .map(|_| GpuSpec {
                model: "H100".into(),
                memory_mib: MIB,
                compute_milli: 1000,
                topology_group: None,
                id: None,
            })
            .collect(),
        cpu_milli: 1 << 40,
        memory_mib: 1 << 40,
        labels: Default::default(),
    })
    .unwrap();
    c.set_policy_engine(Some(e.clone()), 0.0).unwrap();
    (e, c)
}

fn w(id: &str, tenant: &str, n: u32) -> Workload {
    Workload {
        tenant: tenant.into(),
        ..Workload::new(id, MIB, n)
    }
}

#[test]
fn a_leaf_preempting_its_own_work_may_not_push_its_parent_below_its_guarantee() {
    let (e, mut c) = setup();
    c.place_at(w("low", "a", 2), None, 0.0).unwrap();
    let pinned = Workload {
        preemptible: false,
        ..w("b0", "b", 2)
    };
    c.place_at(pinned, None, 0.0).unwrap();
    assert_eq!(lock(&e).allocated("org").unwrap().get(Resource::Gpus), 2.0);
    let high = Workload {
        priority_class: Some("high".into()),
        ..w("high", "a", 1)
    };
    assert!(c.place_at(high.clone(), None, 1.0).is_err());
    // Evicting "low" (2 GPUs) to place "high" (1 GPU) would leave org at 1 < min(2, 2): the old
    // law only looked below the lowest common ancestor, which for one tenant is nothing.
    let plan = c.preemption_plan_at(&high, 1.0).unwrap();
    assert!(plan.is_none(), "{plan:?}");
    let running: Vec<_> = ["low"]
        .iter()
        .map(|id| lock(&e).running(id).cloned().unwrap())
        .collect();
    let refs: Vec<_> = running.iter().collect();
    let areq = {
        let mut r = gpuplane_core::policy::AdmissionRequest::new("high", "a", res(1.0));
        r.class = "high".into();
        r
    };
    let err = lock(&e).check_victim_set(&areq, &refs, 1.0).unwrap_err();
    assert_eq!(
        err.code,
        gpuplane_core::policy::RefusalCode::BelowGuarantee,
        "{err}"
    );
    assert_eq!(lock(&e).allocated("org").unwrap().get(Resource::Gpus), 2.0);
}

#[test]
fn a_leaf_may_still_preempt_its_own_work_when_its_parent_stays_at_its_guarantee() {
    let (e, mut c) = setup();
    c.place_at(w("low", "a", 2), None, 0.0).unwrap();
    let pinned = Workload {
        preemptible: false,
        ..w("b0", "b", 2)
    };
    c.place_at(pinned, None, 0.0).unwrap();
    let high = Workload {
        priority_class: Some("high".into()),
        ..w("high", "a", 2)
    };
    let plan = c.preemption_plan_at(&high, 1.0).unwrap().expect("a plan");
    assert_eq!(plan.victims, vec!["low".to_string()]);
    c.preempt_at(&plan, 1.0).unwrap();
    assert_eq!(lock(&e).allocated("org").unwrap().get(Resource::Gpus), 2.0);
}
