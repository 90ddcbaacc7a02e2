//! Policy engine: fair-share recomputation for 10,000 tenants in a 3-level tree
//! (10 orgs x 10 teams x 100 tenants) after one demand change, incremental against full
//! recomputation in the same run, and admission decision latency.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gpuplane_core::policy::{
    AdmissionRequest, Policy, PolicyConfig, Quota, Reason, Resource, Resources, TenantSpec,
};
use gpuplane_core::rng::SplitMix64;

const ORGS: usize = 10;
const TEAMS: usize = 10;
const TENANTS: usize = 100;

fn res(n: f64) -> Resources {
    Resources::new(n, n * 80_000.0, n * 1000.0, n * 10.0)
}

fn quota(g: f64, d: f64, weight: f64) -> Quota {
    Quota {
        guaranteed: res(g),
        deserved: res(d),
        over_quota_weight: weight,
        ..Quota::default()
    }
}

/// The tree, every leaf with a random demand and some usage; returns leaf names.
fn build() -> (Policy, Vec<String>) {
    let mut rng = SplitMix64::new(42);
    let mut p = Policy::new(PolicyConfig::default()).unwrap();
    p.set_capacity(res((ORGS * TEAMS * TENANTS) as f64))
        .unwrap();
    let mut leaves = Vec::new();
    for o in 0..ORGS {
        let org = format!("o{o}");
        p.add_tenant(TenantSpec::new(&org, None, quota(500.0, 1000.0, 1.0)))
            .unwrap();
        for t in 0..TEAMS {
            let team = format!("{org}t{t}");
            p.add_tenant(TenantSpec::new(&team, Some(&org), quota(50.0, 100.0, 1.0)))
                .unwrap();
            for l in 0..TENANTS {
                let leaf = format!("{team}l{l}");
                let w = 1.0 + rng.below(4) as f64;
                p.add_tenant(TenantSpec::new(&leaf, Some(&team), quota(0.5, 1.0, w)))
                    .unwrap();
                p.set_demand(&leaf, res(rng.below(4) as f64)).unwrap();
                p.charge_usage(&leaf, res(rng.below(100) as f64), 0.0)
                    .unwrap();
                leaves.push(leaf);
            }
        }
    }
    p.recompute_all_fair_shares();
    (p, leaves)
}

fn fair_share(c: &mut Criterion) {
    let (mut p, leaves) = build();
    let mut g = c.benchmark_group("policy_fair_share_10k");
    g.measurement_time(Duration::from_secs(4));
    let mut k = 0usize;
    g.bench_function("incremental_one_demand_change", |b| {
        b.iter(|| {
            k = (k + 7919) % leaves.len();
            let leaf = &leaves[k];
            let d = p.demand(leaf).unwrap().get(Resource::Gpus);
            p.set_demand(leaf, res((d + 1.0) % 4.0)).unwrap();
            black_box(p.resolve_fair_share(leaf).unwrap())
        })
    });
    g.bench_function("incremental_then_refresh_all_stale", |b| {
        b.iter(|| {
            k = (k + 7919) % leaves.len();
            let leaf = &leaves[k];
            let d = p.demand(leaf).unwrap().get(Resource::Gpus);
            p.set_demand(leaf, res((d + 1.0) % 4.0)).unwrap();
            p.refresh_fair_shares();
        })
    });
    g.bench_function("full_recomputation", |b| {
        b.iter(|| {
            k = (k + 7919) % leaves.len();
            let leaf = &leaves[k];
            let d = p.demand(leaf).unwrap().get(Resource::Gpus);
            p.set_demand(leaf, res((d + 1.0) % 4.0)).unwrap();
            p.recompute_all_fair_shares();
        })
    });
    g.finish();
}

fn admission(c: &mut Criterion) {
    let (mut p, leaves) = build();
    let mut g = c.benchmark_group("policy_admission_10k");
    g.measurement_time(Duration::from_secs(4));
    let mut k = 0usize;
    let mut t = 1.0;
    g.bench_function("admit_and_release", |b| {
        b.iter(|| {
            k = (k + 7919) % leaves.len();
            t += 1e-3;
            let r = AdmissionRequest::new("req", leaves[k].as_str(), res(0.25));
            let d = p.admit(&r, t).unwrap();
            debug_assert_eq!(d.reason, Reason::Admitted);
            p.release("req", t).unwrap();
            black_box(d)
        })
    });
    g.bench_function("admit_rejected_limit", |b| {
        let r = AdmissionRequest::new("big", leaves[0].as_str(), res(1e9));
        b.iter(|| black_box(p.admit(&r, t).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, fair_share, admission);
criterion_main!(benches);
