//! The indexed search decides as a plain scan of every node does: property tests over random
//! cluster histories (mixed node sizes, GPU sizes and models, topology groups, gangs, drained
//! GPUs, external usage, releases), for every policy and both scoring modes.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::choose::{best_on_node, Request, Score, Scoring};
use super::cluster::{selector_ok, shape_of, Cluster};
use super::fragmentation::ShapeFrag;
use super::node_index::better;
use super::policy::{PolicyKind, ScoreMode};
use super::workload::Workload;
use crate::inventory::{GpuSpec, NodeSpec};

#[derive(Debug, Clone)]
enum Op {
    AddNode {
        gpus: u8,
        size: u8,
        grouped: bool,
    },
    Place {
        policy: u8,
        count: u8,
        gb: u8,
        milli: u16,
    },
    Release(u8),
    Health(u8, bool),
    External(u8, u8),
    RemoveNode(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..9, 0u8..3, any::<bool>()).prop_map(|(gpus, size, grouped)| Op::AddNode {
            gpus,
            size,
            grouped
        }),
        (0u8..8, 0u8..5, 0u8..81, 0u16..1001).prop_map(|(policy, count, gb, milli)| {
            Op::Place {
                policy,
                count,
                gb,
                milli,
            }
        }),
        (0u8..64).prop_map(Op::Release),
        (0u8..64, any::<bool>()).prop_map(|(g, h)| Op::Health(g, h)),
        (0u8..64, 0u8..41).prop_map(|(g, gb)| Op::External(g, gb)),
        (0u8..16).prop_map(Op::RemoveNode),
    ]
}

const SIZES_MIB: [u64; 3] = [81_920, 40_960, 24_576];
const MODELS: [&str; 3] = ["H100", "A100", "L4"];

fn node(n: usize, gpus: u8, size: u8, grouped: bool) -> NodeSpec {
    let gpu = |i: u8| GpuSpec {
        model: MODELS[size as usize].into(),
        memory_mib: SIZES_MIB[size as usize],
        compute_milli: 1000,
        topology_group: grouped.then(|| format!("g{}", i / 4)),
        id: None,
    };
    let mut labels = BTreeMap::new();
    labels.insert("zone".to_string(), format!("z{}", n % 2));
    NodeSpec {
        name: format!("n{n}"),
        gpus: (0..gpus).map(gpu).collect(),
        cpu_milli: 64_000,
        memory_mib: 512_000,
        labels,
    }
}

fn workload(id: String, count: u8, gb: u8, milli: u16) -> Workload {
    let mem = if count == 0 { 0 } else { gb as u64 * 1024 };
    let milli = if count == 0 { 0 } else { milli as u32 };
    let mem = if count > 0 && mem == 0 && milli == 0 {
        1024
    } else {
        mem
    };
    Workload {
        compute_milli: milli,
        cpu_milli: 2_000,
        host_memory_mib: 16_000,
        ..Workload::new(id, mem, count as u32)
    }
}

fn apply(c: &mut Cluster, op: &Op, n: &mut usize) {
    *n += 1;
    match *op {
        Op::AddNode {
            gpus,
            size,
            grouped,
        } => c.add_node(node(*n, gpus, size, grouped)).unwrap(),
        Op::Place {
            policy,
            count,
            gb,
            milli,
        } => {
            let policy = PolicyKind::ALL[policy as usize];
            let _ = c.place(workload(format!("w{n}"), count, gb, milli), Some(policy));
        }
        Op::Release(i) => {
            let ids: Vec<String> = c.allocations().map(|a| a.workload.id.clone()).collect();
            if !ids.is_empty() {
                c.release(&ids[i as usize % ids.len()]).unwrap();
            }
        }
        Op::Health(g, healthy) => {
            if let Some(id) = nth_gpu(c, g) {
                c.set_gpu_health(&id, healthy).unwrap();
            }
        }
        Op::External(g, gb) => {
            if let Some(id) = nth_gpu(c, g) {
                let total = c
                    .inventory()
                    .gpu(c.inventory().gpu_idx(&id).unwrap())
                    .memory_mib;
                let _ = c.set_external_usage(&id, (gb as u64 * 1024).min(total));
            }
        }
        Op::RemoveNode(i) => {
            let names: Vec<String> = c
                .inventory()
                .live_nodes()
                .map(|(_, n)| n.name.clone())
                .collect();
            if names.len() > 1 {
                c.remove_node(&names[i as usize % names.len()]).unwrap();
            }
        }
    }
}

fn nth_gpu(c: &Cluster, g: u8) -> Option<String> {
    let ids: Vec<String> = c
        .inventory()
        .live_gpus()
        .map(|(_, g)| g.id.clone())
        .collect();
    (!ids.is_empty()).then(|| ids[g as usize % ids.len()].clone())
}

/// The reference: score every live node's own view, best score then lowest index.
fn plain_scan(c: &Cluster, w: &Workload, req: &Request, policy: PolicyKind) -> Option<usize> {
    let shapes = if policy.uses_distribution() {
        c.distribution.weighted()
    } else {
        Vec::new()
    };
    let mut best: Option<(Score, usize)> = None;
    for (idx, _) in c.inventory().live_nodes() {
        if !selector_ok(c.labelsets.value(c.node_labels[idx]), &w.node_selector) {
            continue;
        }
        // `clustering` asked of a cluster deciding otherwise scans nodes' own (unsorted) views.
        let view = c.node_view_for(idx, policy);
        let view = if policy == PolicyKind::Clustering && c.policy != policy {
            view
        } else {
            view.sorted()
        };
        let bases = ShapeFrag::by_slot(&view, &shapes);
        let mut scoring = Scoring {
            policy,
            mode: c.scoring,
            shapes: &shapes,
            rng: None,
        };
        if let Some(cand) = best_on_node(&view, req, &bases, &mut scoring) {
            if best.is_none_or(|(s, n)| better(cand.score, idx, s, n)) {
                best = Some((cand.score, idx));
            }
        }
    }
    best.map(|(_, node)| node)
}

fn probe(count: u8, gb: u8, milli: u16, zone: Option<u8>) -> Workload {
    let mut w = workload("probe".into(), count, gb, milli);
    if let Some(z) = zone {
        w.node_selector.insert("zone".into(), format!("z{z}"));
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Every policy but `random` picks the node a plain scan of every node picks, after any
    /// history, under either scoring mode, the cluster deciding with any policy.
    #[test]
    fn indexed_search_equals_plain_scan(
        own in 0usize..8,
        artifact in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
        probes in prop::collection::vec((0u8..5, 0u8..81, 0u16..1001, prop::option::of(0u8..2)), 1..12),
    ) {
        let mut c = Cluster::new(PolicyKind::ALL[own], 3);
        let mut n = 0;
        c.add_node(node(0, 8, 0, false)).unwrap();
        for op in &ops {
            apply(&mut c, op, &mut n);
        }
        if artifact {
            c.set_scoring(ScoreMode::Artifact);
        }
        for &(count, gb, milli, zone) in &probes {
            let w = probe(count, gb, milli, zone);
            let Ok(req) = c.request_of(&w) else { continue };
            for policy in PolicyKind::ALL.into_iter().filter(|&p| p != PolicyKind::Random) {
                let shapes = if policy.uses_distribution() { c.distribution.weighted() } else { Vec::new() };
                let indexed = c.best_node(&w, &req, policy, &shapes);
                prop_assert_eq!(indexed, plain_scan(&c, &w, &req, policy), "policy {}", policy);
            }
        }
    }

    /// `random` places exactly when some node fits, and only on a node that fits.
    #[test]
    fn random_lands_on_a_fitting_node(
        ops in prop::collection::vec(op(), 1..120),
        probes in prop::collection::vec((0u8..5, 0u8..81, 0u16..1001, prop::option::of(0u8..2)), 1..12),
    ) {
        let mut c = Cluster::new(PolicyKind::BestFit, 5);
        let mut n = 0;
        c.add_node(node(0, 8, 0, false)).unwrap();
        for op in &ops {
            apply(&mut c, op, &mut n);
        }
        for &(count, gb, milli, zone) in &probes {
            let w = probe(count, gb, milli, zone);
            let Ok(req) = c.request_of(&w) else { continue };
            let fitting: Vec<usize> = c.inventory().live_nodes().map(|(i, _)| i)
                .filter(|&i| fits_node(&c, &w, &req, i)).collect();
            match c.place(w, Some(PolicyKind::Random)) {
                Ok(p) => {
                    let idx = c.inventory().node_idx(&p.node).unwrap();
                    c.release("probe").unwrap();
                    prop_assert!(fitting.contains(&idx), "{} does not fit", p.node);
                }
                Err(_) => prop_assert!(fitting.is_empty(), "no placement but {:?} fit", fitting),
            }
        }
    }
}

/// A cluster of `nodes` 8-GPU nodes of mixed sizes filled at random by `fills` (count, GB,
/// milli-GPU): many distinct node states, as a fragmented fleet has, so walks cross levels and
/// tiers and `fgd`'s bound prunes (or, broken, would prune a winner).
fn fragmented(nodes: usize, fills: &[(u8, u8, u16)], given: &[(u8, u8, u16, u8)]) -> Cluster {
    let mut c = Cluster::new(PolicyKind::Random, 9);
    for n in 0..nodes {
        c.add_node(node(n, 8, (n % 3) as u8, n % 4 == 0)).unwrap();
    }
    for (i, &(count, gb, milli)) in fills.iter().enumerate() {
        let _ = c.place(workload(format!("f{i}"), count, gb, milli), None);
    }
    if !given.is_empty() {
        let shapes = given
            .iter()
            .map(|&(count, gb, milli, weight)| {
                let shape = shape_of(&workload(String::new(), count, gb, milli));
                (shape, weight as f64 + 1.0)
            })
            .collect();
        c.set_workload_distribution(Some(shapes)).unwrap();
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// On fragmented clusters (up to 40 nodes, most in a state of their own), under a learned
    /// or a given distribution, every policy but `random` picks what a plain scan picks.
    #[test]
    fn fragmented_search_equals_plain_scan(
        nodes in 8usize..40,
        artifact in any::<bool>(),
        fills in prop::collection::vec((1u8..5, 1u8..60, 0u16..1001), 20..200),
        given in prop::collection::vec((0u8..5, 1u8..60, 0u16..1001, 0u8..8), 0..6),
        probes in prop::collection::vec((0u8..5, 1u8..81, 0u16..1001), 1..16),
    ) {
        let mut c = fragmented(nodes, &fills, &given);
        if artifact {
            c.set_scoring(ScoreMode::Artifact);
        }
        for &(count, gb, milli) in &probes {
            let w = probe(count, gb, milli, None);
            let Ok(req) = c.request_of(&w) else { continue };
            for policy in PolicyKind::ALL.into_iter().filter(|&p| p != PolicyKind::Random) {
                let shapes = if policy.uses_distribution() { c.distribution.weighted() } else { Vec::new() };
                let indexed = c.best_node(&w, &req, policy, &shapes);
                prop_assert_eq!(indexed, plain_scan(&c, &w, &req, policy), "policy {}", policy);
            }
        }
    }
}

fn fits_node(c: &Cluster, w: &Workload, req: &Request, idx: usize) -> bool {
    let view = c.node_view_for(idx, c.policy);
    let mut scoring = Scoring {
        policy: PolicyKind::FirstFit,
        mode: ScoreMode::Native,
        shapes: &[],
        rng: None,
    };
    selector_ok(c.labelsets.value(c.node_labels[idx]), &w.node_selector)
        && best_on_node(&view, req, &[], &mut scoring).is_some()
}

/// `random` stays uniform over the nodes that fit when most nodes do not (the draws by index
/// mostly miss, so the listed fallback decides) and when most do (the draws decide).
#[test]
fn random_is_uniform_over_fitting_nodes() {
    for fitting in [3usize, 60] {
        let mut c = Cluster::new(PolicyKind::FirstFit, 11);
        for n in 0..64 {
            c.add_node(node(n, 2, 0, false)).unwrap();
        }
        for n in fitting..64 {
            let w = workload(format!("fill{n}"), 2, 60, 0);
            let id = c.inventory().node_idx(&format!("n{n}")).unwrap();
            let req = c.request_of(&w).unwrap();
            c.place_on(w, &req, id);
        }
        let mut counts = vec![0usize; fitting];
        let draws = 200 * fitting;
        for _ in 0..draws {
            let p = c
                .place(workload("probe".into(), 2, 60, 0), Some(PolicyKind::Random))
                .unwrap();
            counts[c.inventory().node_idx(&p.node).unwrap()] += 1;
            c.release("probe").unwrap();
        }
        for (node, &k) in counts.iter().enumerate() {
            assert!(
                (140..=260).contains(&k),
                "node {node} drawn {k} of {draws} times"
            );
        }
    }
}
