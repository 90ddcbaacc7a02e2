//! Placement decision latency (place + release) vs cluster size and fill, per policy, beside a
//! naive best fit that scans every GPU (the baseline a straightforward scheduler would use).
//!
//! Clusters are 8-GPU H100 nodes filled with 1-, 2- and 4-GPU gangs of 10-70 GB per GPU
//! (uniform), and each iteration places one more such workload and releases it. Fills:
//! `packed` (filled to half its memory by best_fit, the state a bin-packing scheduler keeps:
//! few distinct node states), `random50` and `random85` (filled by random to half and to 85 %
//! of its memory, the adversarial case: many distinct node states).
//!
//! `cargo bench -p gpuplane-core --bench placement [-- FILTER]`; `GPUPLANE_BENCH_SIZES=1000,10000`
//! picks the cluster sizes.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload};
use gpuplane_core::rng::SplitMix64;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const GANGS: [u32; 3] = [1, 2, 4];
const FILLS: [(&str, PolicyKind, f64); 3] = [
    ("packed", PolicyKind::BestFit, 0.5),
    ("random50", PolicyKind::Random, 0.5),
    ("random85", PolicyKind::Random, 0.85),
];

/// A gang of 1, 2 or 4 GPUs of 10-70 GB each (MiB, GPUs).
fn shape(rng: &mut SplitMix64) -> (u64, u32) {
    let count = GANGS[rng.below(GANGS.len() as u64) as usize];
    let gb = 10 + rng.below(61);
    (gb * 1024, count)
}

fn sizes() -> Vec<usize> {
    std::env::var("GPUPLANE_BENCH_SIZES").map_or(SIZES.to_vec(), |s| {
        s.split(',')
            .map(|n| n.trim().parse().expect("a GPU count"))
            .collect()
    })
}

/// A cluster of `gpus` GPUs filled by `fill` to `share` of its memory (or as near as the
/// policy gets in a bounded number of tries).
fn filled(gpus: usize, fill: PolicyKind, share: f64) -> Cluster {
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
    let target = (gpus as f64 * 81_920.0 * share) as u64;
    let (mut used, mut tries) = (0u64, 0usize);
    while used < target && tries < 8 * gpus {
        let (mem, count) = shape(&mut rng);
        let w = Workload::new(format!("fill{tries}"), mem, count);
        if c.place(w, None).is_ok() {
            used += mem * count as u64;
        }
        tries += 1;
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
    for gpus in sizes() {
        for (fill_name, fill, share) in FILLS {
            let base = filled(gpus, fill, share);
            let used = base.stats().totals.memory_used_mib as f64;
            eprintln!(
                "{gpus} GPUs {fill_name}: {:.0} % of memory used, {} distinct node states",
                100.0 * used / (gpus as f64 * 81_920.0),
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
            let mut naive = naive_cluster(gpus, &base);
            let mut rng = SplitMix64::new(7);
            let id = BenchmarkId::new(format!("{fill_name}/naive_scan_best_fit"), gpus);
            group.bench_with_input(id, &gpus, |b, _| {
                b.iter(|| {
                    let (mem, count) = shape(&mut rng);
                    if let Some(chosen) = naive_best_fit(&mut naive, mem, count) {
                        for &j in &chosen {
                            naive[j].free += mem;
                        }
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_policies);
criterion_main!(benches);
