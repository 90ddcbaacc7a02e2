//! Placement decision latency (place + release) vs cluster size, per policy, beside a naive
//! best-fit that scans every GPU (the baseline a straightforward scheduler would use).
//!
//! Clusters are 8-GPU H100 nodes filled to about half their memory with LLM-shaped workloads
//! (10-80 GB per GPU, 1-8 GPUs); each iteration places one more such workload and releases it.
//! Two fills: `packed` (filled by best_fit, the state a bin-packing scheduler keeps: few
//! distinct node states) and `fragmented` (filled by random, the adversarial case: many).
//! Two fills: `packed` (filled by best_fit, the state a bin-packing scheduler keeps: few
//! distinct node states) and `fragmented` (filled by random, the adversarial case: many).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload};
use gpuplane_core::rng::SplitMix64;

const SIZES: [usize; 3] = [8, 1_024, 100_000];
const SHAPES: [(u64, u32); 6] = [
    (10_000, 1),
    (20_000, 1),
    (40_000, 1),
    (80_000, 1),
    (40_000, 2),
    (80_000, 4),
];

fn shape(rng: &mut SplitMix64) -> (u64, u32) {
    SHAPES[rng.below(SHAPES.len() as u64) as usize]
}

/// A cluster of `gpus` GPUs filled to about half its memory by `fill`.
fn half_full(gpus: usize, fill: PolicyKind) -> Cluster {
    let mut c = Cluster::new(fill, 1);
    for n in 0..gpus / 8 {
        let gpu = GpuSpec {
            model: "H100".into(),
            memory_mib: 81_920,
            compute_milli: 1000,
            topology_group: None,
            id: None,
        };
        let spec = NodeSpec {
            name: format!("n{n}"),
            gpus: vec![gpu; 8],
            cpu_milli: 1 << 30,
            memory_mib: 1 << 30,
            labels: BTreeMap::new(),
        };
        c.add_node(spec).unwrap();
    }
    let mut rng = SplitMix64::new(42);
    let (mut used, target) = (0u64, gpus as u64 * 81_920 / 2);
    let mut i = 0;
    while used < target {
        let (mem, count) = shape(&mut rng);
        if c.place(Workload::new(format!("fill{i}"), mem, count), None)
            .is_ok()
        {
            used += mem * count as u64;
        }
        i += 1;
    }
    c
}

fn place_release(c: &mut Cluster, rng: &mut SplitMix64, policy: PolicyKind) {
    let (mem, count) = shape(rng);
    if let Ok(p) = c.place(Workload::new("probe", mem, count), Some(policy)) {
        black_box(&p);
        c.release("probe").unwrap();
    }
}

/// The baseline: best fit by scanning every GPU of every node, as a plain loop would.
struct NaiveGpu {
    node: usize,
    free: u64,
}

fn naive_cluster(gpus: usize, c: &Cluster) -> Vec<NaiveGpu> {
    let mut out: Vec<NaiveGpu> = c
        .inventory()
        .live_gpus()
        .map(|(_, g)| NaiveGpu {
            node: g.node,
            free: g.free_mib(),
        })
        .collect();
    out.truncate(gpus);
    out
}

fn naive_best_fit(gpus: &mut [NaiveGpu], mem: u64, count: u32) -> Option<Vec<usize>> {
    let mut best: Option<(u64, usize)> = None;
    let mut i = 0;
    while i < gpus.len() {
        let node = gpus[i].node;
        let start = i;
        let mut fitting: Vec<usize> = Vec::new();
        let mut left = 0;
        while i < gpus.len() && gpus[i].node == node {
            if gpus[i].free >= mem {
                fitting.push(i);
            }
            left += gpus[i].free;
            i += 1;
        }
        if fitting.len() >= count as usize && best.is_none_or(|b| left < b.0) {
            best = Some((left, start));
        }
    }
    let (_, start) = best?;
    let chosen: Vec<usize> = (start..gpus.len())
        .take_while(|&j| gpus[j].node == gpus[start].node)
        .filter(|&j| gpus[j].free >= mem)
        .take(count as usize)
        .collect();
    for &j in &chosen {
        gpus[j].free -= mem;
    }
    Some(chosen)
}

fn bench_policies(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("place_release");
    group
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(1))
        .warm_up_time(std::time::Duration::from_millis(300));
    for &gpus in &SIZES {
        for (fill_name, fill) in [
            ("packed", PolicyKind::BestFit),
            ("fragmented", PolicyKind::Random),
        ] {
            let base = half_full(gpus, fill);
            eprintln!(
                "{gpus} GPUs {fill_name}: {} distinct node states",
                base.node_classes()
            );
            for policy in PolicyKind::ALL {
                let mut c = base.clone();
                let mut rng = SplitMix64::new(7);
                let id = BenchmarkId::new(format!("{fill_name}/{}", policy.name()), gpus);
                group.bench_with_input(id, &gpus, |b, _| {
                    b.iter(|| place_release(&mut c, &mut rng, policy))
                });
            }
        }
        let base = half_full(gpus, PolicyKind::BestFit);
        let mut naive = naive_cluster(gpus, &base);
        let mut rng = SplitMix64::new(7);
        group.bench_with_input(
            BenchmarkId::new("packed/naive_scan_best_fit", gpus),
            &gpus,
            |b, _| {
                b.iter(|| {
                    let (mem, count) = shape(&mut rng);
                    if let Some(chosen) = naive_best_fit(&mut naive, mem, count) {
                        for &j in &chosen {
                            naive[j].free += mem;
                        }
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_policies);
criterion_main!(benches);
