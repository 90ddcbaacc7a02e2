//! A placement cluster with an attached policy engine: quota gate, priority classes, accounting,
//! reclaim by the engine's laws, and snapshots that carry the engine.

use std::collections::BTreeSet;

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload, SNAPSHOT_VERSION};
use gpuplane_core::policy::Policy;
use gpuplane_core::policy::{
    lock, shared, PolicyConfig, PriorityClass, Quota, Resource, Resources, SharedPolicy, TenantSpec,
};
use gpuplane_core::Error;

const MIB: u64 = 80_000;

fn gpu() -> GpuSpec {
    GpuSpec {
        model: "H100".into(),
        memory_mib: MIB,
        compute_milli: 1000,
        topology_group: None,
        id: None,
    }
}

fn res(n: f64) -> Resources {
    Resources::new(n, n * MIB as f64, 0.0, 0.0)
}

fn engine() -> SharedPolicy {
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
    p.upsert_class(PriorityClass::new("high", 100, true))
        .unwrap();
    shared(p)
}

fn cluster(e: &SharedPolicy) -> Cluster {
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    for n in 0..2 {
        c.add_node(NodeSpec {
            name: format!("n{n}"),
            gpus: (0..4).map(|_| gpu()).collect(),
            cpu_milli: 1 << 40,
            memory_mib: 1 << 40,
            labels: Default::default(),
        })
        .unwrap();
    }
    c.set_policy_engine(Some(e.clone()), 0.0).unwrap();
    c
}

fn w(id: &str, tenant: &str) -> Workload {
    Workload {
        tenant: tenant.into(),
        ..Workload::new(id, MIB, 1)
    }
}

fn gpus(e: &SharedPolicy, t: &str) -> f64 {
    lock(e).allocated(t).unwrap().get(Resource::Gpus)
}

#[test]
fn unknown_tenants_and_classes_are_refused_by_field() {
    let e = engine();
    let mut c = cluster(&e);
    let field = |r: Result<_, Error>| match r {
        Err(Error::InvalidRequest { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(c.place(w("x", "nobody"), None)), "tenant");
    assert_eq!(field(c.place(w("x", "org"), None)), "tenant");
    let classed = Workload {
        priority_class: Some("nope".into()),
        ..w("x", "a")
    };
    assert_eq!(field(c.place(classed.clone(), None)), "priority_class");
    let mut plain = cluster(&engine());
    plain.set_policy_engine(None, 0.0).unwrap();
    assert_eq!(field(plain.place(classed, None)), "priority_class");
    assert_eq!(c.allocations().count(), 0);
}

#[test]
fn quota_refusal_changes_nothing_and_release_charges_usage() {
    let e = engine();
    let mut c = cluster(&e);
    for k in 0..7 {
        c.place_at(w(&format!("b{k}"), "b"), None, 0.0).unwrap();
    }
    assert_eq!(gpus(&e, "b"), 7.0);
    // a's idle guarantee is held for it, so b gets no 8th GPU.
    let err = c.place_at(w("b7", "b"), None, 1.0).unwrap_err();
    assert!(matches!(err, Error::Quota(_)), "{err}");
    assert_eq!(gpus(&e, "b"), 7.0);
    assert!(lock(&e).queued().next().is_none());
    assert_eq!(c.allocations().count(), 7);
    let last = lock(&e).explain("b", 1.0).unwrap().last_decision.unwrap();
    assert_eq!(last.request_id, "b7");
    assert_eq!(c.allocations().count(), 7);
    c.release_at("b0", 10.0).unwrap();
    assert_eq!(gpus(&e, "b"), 6.0);
    let used = lock(&e).usage("b", 10.0).unwrap().get(Resource::Gpus);
    assert!((used - 10.0).abs() < 1e-6, "{used}");
}

#[test]
fn classes_give_priority_and_non_preemptible_work_stays_within_guarantee() {
    let e = engine();
    let mut c = cluster(&e);
    let crit = |id: &str| Workload {
        priority_class: Some("critical".into()),
        ..w(id, "a")
    };
    c.place_at(crit("c0"), None, 0.0).unwrap();
    assert!(matches!(
        c.place_at(crit("c1"), None, 0.0),
        Err(Error::Quota(_))
    ));
    // A high-class workload may preempt lower-priority work of its own tenant.
    for k in 0..3 {
        c.place_at(w(&format!("a{k}"), "a"), None, 0.0).unwrap();
    }
    for k in 0..4 {
        c.place_at(w(&format!("b{k}"), "b"), None, 0.0).unwrap();
    }
    let high = Workload {
        priority_class: Some("high".into()),
        ..w("h", "a")
    };
    assert!(matches!(
        c.place_at(high.clone(), None, 100.0),
        Err(Error::Quota(_))
    ));
    let plan = c.preemption_plan_at(&high, 100.0).unwrap().unwrap();
    assert_eq!(plan.victims.len(), 1);
    assert!(plan.victims[0].starts_with('a'), "{:?}", plan.victims);
    c.preempt_at(&plan, 100.0).unwrap();
    assert_eq!(gpus(&e, "a"), 4.0);
}

#[test]
fn borrowed_gpus_are_reclaimed_within_one_cycle() {
    let e = engine();
    let mut c = cluster(&e);
    for k in 0..7 {
        c.place_at(w(&format!("b{k}"), "b"), None, k as f64)
            .unwrap();
    }
    lock(&e).set_demand("a", res(4.0)).unwrap();
    lock(&e).set_demand("b", res(7.0)).unwrap();
    let mut victims = Vec::new();
    for k in 0..4 {
        let a = w(&format!("a{k}"), "a");
        if c.place_at(a.clone(), None, 100.0).is_ok() {
            continue;
        }
        let plan = c.preemption_plan_at(&a, 100.0).unwrap().expect("a plan");
        victims.extend(plan.victims.clone());
        c.preempt_at(&plan, 100.0).unwrap();
    }
    let unique: BTreeSet<&String> = victims.iter().collect();
    assert_eq!(unique.len(), victims.len());
    assert_eq!(victims.len(), 3);
    assert!(victims.iter().all(|v| v.starts_with('b')));
    assert_eq!(gpus(&e, "a"), 4.0);
    assert_eq!(gpus(&e, "b"), 4.0);
    // b is at its deserved share now: nothing more may be reclaimed.
    let more = w("a4", "a");
    assert!(c.preemption_plan_at(&more, 200.0).unwrap().is_none());
}

#[test]
fn snapshots_carry_the_engine_and_version_1_is_still_read() {
    let e = engine();
    let mut c = cluster(&e);
    c.place_at(w("b0", "b"), None, 5.0).unwrap();
    let snap = c.snapshot();
    assert_eq!(u16::from_le_bytes([snap[8], snap[9]]), SNAPSHOT_VERSION);
    let r = Cluster::restore(&snap).unwrap();
    let e2 = r.policy_engine().unwrap();
    assert_eq!(lock(e2).allocated("b").unwrap(), res(1.0));
    assert_eq!(r.snapshot(), snap);

    let plain = Cluster::new(PolicyKind::BestFit, 0).snapshot();
    let mut v: serde_json::Value = serde_json::from_slice(&plain[22..]).unwrap();
    v.as_object_mut().unwrap().remove("engine");
    let payload = serde_json::to_vec(&v).unwrap();
    let mut v1 = b"GPUPLSNP".to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    v1.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    v1.extend_from_slice(&payload);
    assert!(Cluster::restore(&v1).unwrap().policy_engine().is_none());
}

#[test]
fn attaching_adopts_placed_workloads_or_changes_nothing() {
    let e = engine();
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    c.add_node(NodeSpec {
        name: "n".into(),
        gpus: vec![gpu()],
        cpu_milli: 1 << 40,
        memory_mib: 1 << 40,
        labels: Default::default(),
    })
    .unwrap();
    c.place(w("x", "ghost"), None).unwrap();
    assert!(c.set_policy_engine(Some(e.clone()), 0.0).is_err());
    assert!(c.policy_engine().is_none());
    assert!(lock(&e).running_all().next().is_none());
    c.release("x").unwrap();
    c.place(w("y", "a"), None).unwrap();
    c.set_policy_engine(Some(e.clone()), 0.0).unwrap();
    assert_eq!(gpus(&e, "a"), 1.0);
}
