//! Route decision latency of the core `Router` at 16, 100 and 1,000 replicas, each with a
//! reported load, 2,000 cached block hashes and four tenants' service and waiting requests; the
//! request has a 64-block prompt whose first 32 blocks one replica in 16 has cached. Every policy is
//! measured; round robin (no scoring) is the baseline of the same run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gpuplane_core::rng::SplitMix64;
use gpuplane_core::routing::{
    Load, ReplicaSpec, RouteRequest, Router, RouterLimits, RouterOptions, RoutingPolicy,
};

fn router(n: usize, policy: RoutingPolicy) -> Router {
    let options = RouterOptions {
        policy,
        ..RouterOptions::default()
    };
    let mut r = Router::configured(RouterLimits::default(), options).unwrap();
    let mut rng = SplitMix64::new(7);
    for i in 0..n {
        let id = format!("replica-{i:04}");
        r.register(ReplicaSpec {
            id: id.clone(),
            model: "llama-3-8b".into(),
            kv_blocks: 26_000,
            block_size: 16,
            max_running: 256,
            ..ReplicaSpec::default()
        })
        .unwrap();
        let shared = if i % 16 == 0 { 0..32 } else { 0..0 };
        let cached = shared
            .chain((0..2_000).map(|_| 1_000 + rng.below(1 << 40)))
            .collect();
        let tenant_service = (0..4)
            .map(|t| (format!("t{t}"), rng.below(10_000) as f64))
            .collect();
        let tenant_waiting = (0..4)
            .map(|t| (format!("t{t}"), rng.below(16) as u32))
            .collect();
        let load = Load {
            waiting: rng.below(64) as u32,
            running: rng.below(256) as u32,
            kv_usage: rng.below(100) as f64 / 100.0,
            waiting_blocks: rng.below(5_000) as u32,
            cached,
            tenant_service,
            tenant_waiting,
            ..Load::default()
        };
        r.report_load(&id, load).unwrap();
    }
    r
}

fn request() -> RouteRequest {
    RouteRequest {
        tenant: "t1".into(),
        model: "llama-3-8b".into(),
        block_hashes: (0..64).collect(),
        prompt_tokens: 1_024,
        ..RouteRequest::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("route");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let req = request();
    for n in [16, 100, 1_000] {
        for (_, policy) in RoutingPolicy::ALL {
            let r = router(n, policy);
            g.bench_function(format!("{}/{n}", policy.name()), |b| {
                b.iter(|| black_box(r.route(black_box(&req)).unwrap()))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
