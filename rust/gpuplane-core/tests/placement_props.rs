//! Invariants of the placement engine over random operation sequences.

use std::collections::{BTreeMap, BTreeSet};

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, ScoreMode, Workload};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    AddNode(u8, u8),
    Place(u8, u16, u16, u8, i8),
    Release(u8),
    Preempt(u16, u8, i8),
    Health(u8, bool),
    External(u8, u16),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..5, 0u8..3).prop_map(|(g, m)| Op::AddNode(g, m)),
        (0u8..4, 1u16..100, 0u16..1000, 0u8..3, -2i8..3)
            .prop_map(|(c, m, k, t, p)| Op::Place(c, m, k, t, p)),
        (0u8..40).prop_map(Op::Release),
        (1u16..100, 1u8..3, 0i8..4).prop_map(|(m, c, p)| Op::Preempt(m, c, p)),
        (0u8..40, any::<bool>()).prop_map(|(g, h)| Op::Health(g, h)),
        (0u8..40, 0u16..81).prop_map(|(g, m)| Op::External(g, m)),
        Just(Op::Snapshot),
    ]
}

const MODELS: [&str; 3] = ["H100", "A100", "L4"];

fn apply(c: &mut Cluster, op: &Op, n: &mut usize) {
    match *op {
        Op::AddNode(g, m) => {
            let gpus = (0..g)
                .map(|i| GpuSpec {
                    model: MODELS[m as usize].into(),
                    memory_mib: 80_000,
                    compute_milli: 1000,
                    topology_group: Some(format!("g{}", i / 2)),
                    id: None,
                })
                .collect();
            let spec = NodeSpec {
                name: format!("n{n}"),
                gpus,
                cpu_milli: 32_000,
                memory_mib: 256_000,
                labels: BTreeMap::new(),
            };
            c.add_node(spec).unwrap();
        }
        Op::Place(count, mem, milli, tenant, prio) => {
            let w = Workload {
                tenant: format!("t{tenant}"),
                compute_milli: milli as u32,
                cpu_milli: 1000,
                priority: prio as i32,
                ..Workload::new(format!("w{n}"), mem as u64 * 1000, count as u32)
            };
            let _ = c.place(
                if count == 0 {
                    Workload {
                        memory_mib: 0,
                        compute_milli: 0,
                        ..w
                    }
                } else {
                    w
                },
                None,
            );
        }
        Op::Release(i) => {
            let ids: Vec<String> = c.allocations().map(|a| a.workload.id.clone()).collect();
            if !ids.is_empty() {
                c.release(&ids[i as usize % ids.len()]).unwrap();
            }
        }
        Op::Preempt(mem, count, prio) => {
            let w = Workload {
                priority: prio as i32,
                ..Workload::new(format!("p{n}"), mem as u64 * 1000, count as u32)
            };
            if let Ok(Some(plan)) = c.preemption_plan(&w) {
                let prio_ok = plan.victims.iter().all(|v| {
                    c.allocation(v)
                        .is_some_and(|a| a.workload.priority < w.priority && a.workload.preemptible)
                });
                assert!(prio_ok, "plan proposes an equal or higher priority victim");
                c.preempt(&plan).unwrap();
                assert!(c.allocation(&w.id).is_some());
            }
        }
        Op::Health(g, h) => {
            let ids: Vec<String> = c
                .inventory()
                .live_gpus()
                .map(|(_, g)| g.id.clone())
                .collect();
            if !ids.is_empty() {
                let id = &ids[g as usize % ids.len()];
                let displaced = c.set_gpu_health(id, h).unwrap();
                assert!(
                    h || c
                        .allocations()
                        .all(|a| !a.gpus.iter().any(|&x| c.inventory().gpu(x).id == *id))
                );
                assert!(displaced.iter().all(|d| c.allocation(d).is_none()));
            }
        }
        Op::External(g, m) => {
            let ids: Vec<String> = c
                .inventory()
                .live_gpus()
                .map(|(_, g)| g.id.clone())
                .collect();
            if !ids.is_empty() {
                c.set_external_usage(&ids[g as usize % ids.len()], m as u64 * 1000)
                    .unwrap();
            }
        }
        Op::Snapshot => {
            let snap = c.snapshot();
            let r = Cluster::restore(&snap).unwrap();
            assert!(
                r.snapshot() == snap,
                "restore round-trips to an identical state"
            );
            *c = r;
        }
    }
    *n += 1;
}

fn check_invariants(c: &Cluster) {
    let inv = c.inventory();
    let mut mem: BTreeMap<usize, u64> = BTreeMap::new();
    let mut milli: BTreeMap<usize, u32> = BTreeMap::new();
    for a in c.allocations() {
        let nodes: BTreeSet<usize> = a.gpus.iter().map(|&g| inv.gpu(g).node).collect();
        assert!(
            nodes.len() <= 1 && nodes.iter().all(|&n| n == a.node),
            "gang split across nodes"
        );
        assert_eq!(
            a.gpus.len(),
            a.workload.gpu_count as usize,
            "gangs are all or nothing"
        );
        for &g in &a.gpus {
            *mem.entry(g).or_default() += a.workload.memory_mib;
            *milli.entry(g).or_default() += a.workload.compute_milli;
        }
    }
    for (i, g) in inv.live_gpus() {
        assert_eq!(
            g.used_mib,
            mem.get(&i).copied().unwrap_or(0),
            "used equals the sum of placements"
        );
        assert_eq!(g.used_milli, milli.get(&i).copied().unwrap_or(0));
        assert!(
            g.used_mib <= g.memory_mib,
            "memory over-committed on {}",
            g.id
        );
        assert!(
            g.used_milli <= g.compute_milli,
            "compute over-committed on {}",
            g.id
        );
        assert_eq!(
            g.free_mib() + g.used_mib + g.external_mib.min(g.memory_mib - g.used_mib),
            g.memory_mib
        );
    }
    for (_, n) in inv.live_nodes() {
        assert!(n.used_cpu_milli <= n.cpu_milli && n.used_memory_mib <= n.memory_mib);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_operations(
        policy in 0usize..PolicyKind::ALL.len(),
        mode in 0usize..ScoreMode::ALL.len(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let policy = PolicyKind::ALL[policy];
        let mut c = Cluster::new(policy, 11);
        let mut twin = Cluster::new(policy, 11);
        c.set_scoring(ScoreMode::ALL[mode]);
        twin.set_scoring(ScoreMode::ALL[mode]);
        let (mut n, mut n2) = (0, 0);
        for op in &ops {
            apply(&mut c, op, &mut n);
            check_invariants(&c);
            apply(&mut twin, op, &mut n2);
        }
        prop_assert!(c.snapshot() == twin.snapshot(), "same inputs and seed give the same state");
    }
}
