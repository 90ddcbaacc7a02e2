//! Bulk placement at a time with an attached policy engine, tenant figures (the one query for
//! a tenant's placements and standing), and limits that name the real cause.

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload};
use gpuplane_core::policy::{shared, Limits, Policy, PolicyConfig, Quota, Resource, Resources};
use gpuplane_core::policy::{SharedPolicy, TenantSpec};
use gpuplane_core::Error;

const MIB: u64 = 80_000;

fn node(name: &str, model: &str) -> NodeSpec {
    let gpu = GpuSpec {
        model: model.into(),
        memory_mib: MIB,
        compute_milli: 1000,
        topology_group: None,
        id: None,
    };
    NodeSpec {
        name: name.into(),
        gpus: vec![gpu; 4],
        cpu_milli: 1 << 40,
        memory_mib: 1 << 40,
        labels: Default::default(),
    }
}

fn engine(limit_gpus: f64) -> SharedPolicy {
    let mut p = Policy::new(PolicyConfig::default()).unwrap();
    p.set_capacity(Resources::new(8.0, 8.0 * MIB as f64, 0.0, 0.0))
        .unwrap();
    let mut limit = Limits::NONE;
    limit.set(Resource::Gpus, Some(limit_gpus));
    let q = Quota {
        limit,
        ..Quota::default()
    };
    p.add_tenant(TenantSpec::new("t", None, q)).unwrap();
    shared(p)
}

fn cluster(e: Option<&SharedPolicy>) -> Cluster {
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    c.add_node(node("a", "H100")).unwrap();
    c.add_node(node("b", "A100")).unwrap();
    c.set_policy_engine(e.cloned(), 0.0).unwrap();
    c
}

fn w(id: &str) -> Workload {
    Workload {
        tenant: "t".into(),
        ..Workload::new(id, 1_000, 1)
    }
}

#[test]
fn bulk_placement_is_admitted_at_its_time_like_single_placements() {
    let e = engine(2.0);
    let mut c = cluster(Some(&e));
    let out = c
        .place_batch_at(vec![w("x"), w("y"), w("z")], None, 5.0)
        .unwrap();
    assert_eq!(
        out.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(shared_clock(&e), 5.0);
    assert!(matches!(
        c.place_at(w("q"), None, 6.0),
        Err(Error::Quota(_))
    ));
    assert!(matches!(
        c.place_batch_at(vec![w("q")], None, f64::NAN),
        Err(Error::InvalidRequest { field, .. }) if field == "now"
    ));
}

fn shared_clock(e: &SharedPolicy) -> f64 {
    gpuplane_core::policy::lock(e).clock()
}

#[test]
fn bulk_placement_honours_model_constraints() {
    let mut c = cluster(None);
    let on = |models: &[&str]| Workload {
        allowed_models: models.iter().map(|m| m.to_string()).collect(),
        ..Workload::new("m", 1_000, 1)
    };
    let out = c
        .place_batch(
            vec![Workload {
                id: "m1".into(),
                ..on(&["A100"])
            }],
            None,
        )
        .unwrap();
    let (node, _) = out[0].clone().unwrap();
    assert_eq!(c.inventory().node(node).name, "b");
}

#[test]
fn tenant_figures_hold_placements_and_the_engines_standing() {
    let e = engine(4.0);
    let mut c = cluster(Some(&e));
    c.place_at(
        Workload {
            gpu_count: 2,
            ..w("x")
        },
        None,
        0.0,
    )
    .unwrap();
    let f = c.tenant_figure("t", 10.0).unwrap();
    assert_eq!(
        (f.placed_workloads, f.placed_gpus, f.placed_memory_mib),
        (1, 2, 2_000)
    );
    assert_eq!(f.admitted, 1);
    assert_eq!(f.allocated.get(Resource::Gpus), 2.0);
    assert!(
        (f.dominant_share - 0.25).abs() < 1e-9,
        "{}",
        f.dominant_share
    );
    let all = c.tenant_figures(10.0);
    assert_eq!(
        all.iter().map(|f| f.tenant.as_str()).collect::<Vec<_>>(),
        ["t"]
    );
    assert!(matches!(
        c.tenant_figure("nobody", 0.0),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn tenants_without_an_engine_have_placement_figures_only() {
    let mut c = cluster(None);
    c.place(Workload::new("d", 1_000, 1), None).unwrap();
    let all = c.tenant_figures(0.0);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].tenant.as_str(), all[0].placed_gpus, all[0].admitted),
        ("default", 1, 0)
    );
}

#[test]
fn too_many_gpus_names_the_largest_node() {
    let mut c = cluster(None);
    let err = c
        .place(Workload::new("big", 1_000, 1_000), None)
        .unwrap_err();
    match err {
        Error::InvalidRequest { field, reason } => {
            assert_eq!(field, "gpu_count");
            assert!(reason.contains("largest node has 4"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
