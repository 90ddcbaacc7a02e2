use std::collections::BTreeMap;

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Shape, Workload};
use gpuplane_core::Error;

fn gpu(model: &str, mib: u64) -> GpuSpec {
    GpuSpec {
        model: model.into(),
        memory_mib: mib,
        compute_milli: 1000,
        topology_group: None,
        id: None,
    }
}

fn node(name: &str, gpus: Vec<GpuSpec>) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        gpus,
        cpu_milli: 64_000,
        memory_mib: 512_000,
        labels: BTreeMap::new(),
    }
}

fn cluster(policy: PolicyKind, nodes: usize, per_node: usize) -> Cluster {
    let mut c = Cluster::new(policy, 7);
    for n in 0..nodes {
        c.add_node(node(&format!("n{n}"), vec![gpu("H100", 80_000); per_node]))
            .unwrap();
    }
    c
}

fn w(id: &str, mib: u64, count: u32) -> Workload {
    Workload::new(id, mib, count)
}

#[test]
fn best_fit_packs_onto_the_tightest_gpu() {
    let mut c = cluster(PolicyKind::BestFit, 2, 2);
    let a = c.place(w("a", 60_000, 1), None).unwrap();
    let b = c.place(w("b", 20_000, 1), None).unwrap();
    assert_eq!(
        a.gpu_ids, b.gpu_ids,
        "20 GB fits in the 20 GB left next to a"
    );
    assert!(b.reason.starts_with("best_fit"), "{}", b.reason);
}

#[test]
fn spread_uses_the_emptiest_node() {
    let mut c = cluster(PolicyKind::Spread, 2, 2);
    let a = c.place(w("a", 10_000, 1), None).unwrap();
    let b = c.place(w("b", 10_000, 1), None).unwrap();
    assert_ne!(a.node, b.node);
}

#[test]
fn first_fit_takes_first_node_and_policy_can_be_overridden() {
    let mut c = cluster(PolicyKind::FirstFit, 3, 1);
    assert_eq!(c.place(w("a", 10_000, 1), None).unwrap().node, "n0");
    assert_eq!(c.place(w("b", 10_000, 1), None).unwrap().node, "n0");
    let s = c
        .place(w("c", 10_000, 1), Some(PolicyKind::Spread))
        .unwrap();
    assert_eq!(s.node, "n1");
    assert_eq!(s.policy, "spread");
}

#[test]
fn gang_is_all_on_one_node_or_nothing() {
    let mut c = cluster(PolicyKind::BestFit, 2, 4);
    for (i, n) in ["n0", "n1"].iter().enumerate() {
        let gid = format!("{n}/0");
        c.place(
            w(&format!("filler{i}"), 80_000, 1),
            Some(PolicyKind::Spread),
        )
        .unwrap();
        assert!(c.allocation(&format!("filler{i}")).is_some(), "{gid}");
    }
    let err = c.place(w("gang", 80_000, 4), None).unwrap_err();
    match err {
        Error::NoFit { excluded, message } => {
            assert!(excluded.iter().any(|(r, _)| r == "gang"), "{message}");
            assert!(
                excluded.iter().any(|(r, n)| r == "memory" && *n == 2),
                "{message}"
            );
        }
        e => panic!("unexpected {e:?}"),
    }
    assert_eq!(c.stats().workloads, 2, "a failed gang changes nothing");
    let p = c.place(w("gang3", 80_000, 3), None).unwrap();
    let nodes: Vec<&str> = p
        .gpu_ids
        .iter()
        .map(|g| g.split('/').next().unwrap())
        .collect();
    assert!(nodes.iter().all(|n| *n == p.node));
}

#[test]
fn gang_prefers_one_topology_group() {
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    let gpus: Vec<GpuSpec> = (0..8)
        .map(|i| GpuSpec {
            topology_group: Some(format!("nvl{}", i / 4)),
            ..gpu("H100", 80_000)
        })
        .collect();
    c.add_node(node("n0", gpus)).unwrap();
    c.place(w("one", 80_000, 1), None).unwrap();
    let p = c.place(w("gang", 40_000, 4), None).unwrap();
    let groups: Vec<usize> = p
        .gpu_ids
        .iter()
        .map(|g| g[3..].parse::<usize>().unwrap() / 4)
        .collect();
    assert!(groups.iter().all(|&g| g == groups[0]), "{:?}", p.gpu_ids);
    assert!(p.reason.contains("one topology group"), "{}", p.reason);
}

#[test]
fn release_restores_exactly_and_unknown_id_is_not_found() {
    let mut c = cluster(PolicyKind::Fgd, 2, 2);
    let before = c.stats();
    c.place(w("a", 30_000, 2), None).unwrap();
    c.release("a").unwrap();
    assert_eq!(before.gpus, c.stats().gpus);
    assert!(matches!(c.release("a"), Err(Error::NotFound { .. })));
}

#[test]
fn bad_input_is_refused_and_names_the_field() {
    let mut c = cluster(PolicyKind::Fgd, 1, 2);
    let cases = [
        (w("", 1, 1), "id"),
        (w("x", 0, 1), "memory_mib"),
        (w("x", 1 << 40, 1), "memory_mib"),
        (w("x", 10, 3), "gpu_count"),
        (
            Workload {
                allowed_models: vec!["B200".into()],
                ..w("x", 10, 1)
            },
            "allowed_models",
        ),
        (w("x", 10, 0), "gpu_count"),
    ];
    for (bad, field) in cases {
        match c.place(bad.clone(), None) {
            Err(Error::InvalidRequest { field: f, .. }) => assert_eq!(f, field, "{bad:?}"),
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
    c.place(w("dup", 10, 1), None).unwrap();
    assert!(matches!(
        c.place(w("dup", 10, 1), None),
        Err(Error::Conflict(_))
    ));
    assert_eq!(c.stats().workloads, 1);
    assert!(matches!(
        c.add_node(node("n0", vec![])),
        Err(Error::Conflict(_))
    ));
    let bad_gpu = node(
        "z",
        vec![GpuSpec {
            memory_mib: 0,
            ..gpu("H100", 1)
        }],
    );
    assert!(
        matches!(c.add_node(bad_gpu), Err(Error::InvalidRequest { field, .. }) if field == "gpus[0].memory_mib")
    );
}

#[test]
fn model_and_selector_constraints_hold() {
    let mut c = Cluster::new(PolicyKind::BestFit, 0);
    c.add_node(node("a100", vec![gpu("A100", 80_000)])).unwrap();
    let mut labels = BTreeMap::new();
    labels.insert("zone".to_string(), "b".to_string());
    c.add_node(NodeSpec {
        labels,
        ..node("h100", vec![gpu("H100", 80_000)])
    })
    .unwrap();
    let p = c
        .place(
            Workload {
                allowed_models: vec!["H100".into()],
                ..w("m", 10, 1)
            },
            None,
        )
        .unwrap();
    assert_eq!(p.node, "h100");
    let mut sel = BTreeMap::new();
    sel.insert("zone".to_string(), "b".to_string());
    let p = c
        .place(
            Workload {
                node_selector: sel.clone(),
                ..w("s", 10, 1)
            },
            None,
        )
        .unwrap();
    assert_eq!(p.node, "h100");
    sel.insert("zone".to_string(), "c".to_string());
    let err = c
        .place(
            Workload {
                node_selector: sel,
                ..w("t", 10, 1)
            },
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NoFit { ref excluded, .. } if excluded == &vec![("node_selector".to_string(), 2)]),
        "{err:?}"
    );
}

#[test]
fn external_usage_is_subtracted_and_draining_displaces() {
    let mut c = cluster(PolicyKind::BestFit, 1, 2);
    c.set_external_usage("n0/0", 70_000).unwrap();
    let p = c.place(w("a", 20_000, 1), None).unwrap();
    assert_eq!(p.gpu_ids, vec!["n0/1"]);
    assert!(matches!(
        c.set_external_usage("n0/0", 90_000),
        Err(Error::InvalidRequest { .. })
    ));
    let displaced = c.set_gpu_health("n0/1", false).unwrap();
    assert_eq!(displaced, vec!["a"]);
    assert!(c.allocation("a").is_none());
    assert!(
        c.place(w("b", 20_000, 1), None).is_err(),
        "unhealthy GPU avoided, other has 10 GB"
    );
    c.set_gpu_health("n0/1", true).unwrap();
    c.place(w("b", 20_000, 1), None).unwrap();
}

#[test]
fn preemption_plan_is_cheapest_and_respects_priority() {
    let mut c = cluster(PolicyKind::FirstFit, 2, 1);
    c.place(
        Workload {
            priority: 5,
            ..w("high", 50_000, 1)
        },
        None,
    )
    .unwrap();
    c.place(
        Workload {
            priority: 1,
            ..w("low-big", 30_000, 1)
        },
        None,
    )
    .unwrap();
    c.place(
        Workload {
            priority: 1,
            ..w("low-a", 40_000, 1)
        },
        None,
    )
    .unwrap();
    c.place(
        Workload {
            priority: 1,
            ..w("low-b", 20_000, 1)
        },
        None,
    )
    .unwrap();
    let want = Workload {
        priority: 3,
        ..w("want", 60_000, 1)
    };
    assert!(c.place(want.clone(), None).is_err());
    let plan = c.preemption_plan(&want).unwrap().expect("a plan exists");
    assert_eq!(plan.node, "n1");
    assert_eq!(
        plan.victims,
        vec!["low-a".to_string()],
        "one victim beats two; n0 holds higher priority"
    );
    let equal = Workload {
        priority: 1,
        ..w("eq", 60_000, 1)
    };
    assert!(
        c.preemption_plan(&equal).unwrap().is_none(),
        "equal priority is never evicted"
    );
    let (placed, evicted) = c.preempt(&plan).unwrap();
    assert_eq!(placed.node, "n1");
    assert_eq!(evicted.len(), 1);
    assert!(
        matches!(c.preempt(&plan), Err(Error::Conflict(_))),
        "a used plan is stale"
    );
}

#[test]
fn non_preemptible_work_is_never_a_victim() {
    let mut c = cluster(PolicyKind::FirstFit, 1, 1);
    c.place(
        Workload {
            priority: 0,
            preemptible: false,
            ..w("pinned", 80_000, 1)
        },
        None,
    )
    .unwrap();
    let want = Workload {
        priority: 9,
        ..w("want", 10_000, 1)
    };
    assert!(c.preemption_plan(&want).unwrap().is_none());
}

#[test]
fn fgd_keeps_whole_gpus_free_for_whole_gpu_work() {
    let mut c = Cluster::new(PolicyKind::Fgd, 0);
    for n in 0..2 {
        let g = GpuSpec {
            compute_milli: 1000,
            ..gpu("T4", 16_000)
        };
        c.add_node(node(&format!("n{n}"), vec![g.clone(), g]))
            .unwrap();
    }
    let shape = |milli| Shape {
        gpu_count: 1,
        memory_mib: 0,
        compute_milli: milli,
        cpu_milli: 0,
        host_memory_mib: 0,
    };
    c.set_workload_distribution(Some(vec![(shape(500), 1.0), (shape(1000), 1.0)]))
        .unwrap();
    let half = |id: &str| Workload {
        compute_milli: 500,
        ..w(id, 0, 1)
    };
    let a = c.place(half("a"), None).unwrap();
    let b = c.place(half("b"), None).unwrap();
    assert_eq!(
        a.gpu_ids, b.gpu_ids,
        "the second half-GPU completes the first GPU"
    );
    c.place(
        Workload {
            compute_milli: 1000,
            ..w("c", 0, 1)
        },
        None,
    )
    .unwrap();
    c.place(
        Workload {
            compute_milli: 1000,
            ..w("d", 0, 1)
        },
        None,
    )
    .unwrap();
    c.place(
        Workload {
            compute_milli: 1000,
            ..w("e", 0, 1)
        },
        None,
    )
    .unwrap();
    assert!((c.stats().compute_allocation_ratio - 1.0).abs() < 1e-9);
}

#[test]
fn snapshot_round_trips_and_rejects_damage() {
    let mut c = cluster(PolicyKind::Random, 3, 4);
    for i in 0..7 {
        c.place(
            w(&format!("w{i}"), 10_000 * (i + 1), 1 + (i % 2) as u32),
            None,
        )
        .unwrap();
    }
    c.set_external_usage("n2/3", 1234).unwrap();
    let snap = c.snapshot();
    let mut r = Cluster::restore(&snap).unwrap();
    assert!(r.snapshot() == snap, "restore round-trips byte for byte");
    let next_a = c.place(w("next", 5000, 1), None).unwrap();
    let next_b = r.place(w("next", 5000, 1), None).unwrap();
    assert_eq!(
        next_a, next_b,
        "a restored cluster continues the same decisions"
    );
    let mut damaged = snap.clone();
    let last = damaged.len() - 2;
    damaged[last] ^= 1;
    assert!(
        matches!(Cluster::restore(&damaged), Err(Error::Snapshot(m)) if m.contains("checksum"))
    );
    assert!(
        matches!(Cluster::restore(b"not a snapshot at all, clearly"), Err(Error::Snapshot(m)) if m.contains("magic"))
    );
    assert!(matches!(
        Cluster::restore(&snap[..snap.len() - 3]),
        Err(Error::Snapshot(_))
    ));
}

#[test]
fn cpu_only_workloads_use_host_resources() {
    let mut c = cluster(PolicyKind::BestFit, 1, 1);
    let cpu = Workload {
        cpu_milli: 64_000,
        ..w("cpu", 0, 0)
    };
    c.place(cpu, None).unwrap();
    let err = c
        .place(
            Workload {
                cpu_milli: 1,
                ..w("g", 10, 1)
            },
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NoFit { ref excluded, .. } if excluded[0].0 == "cpu"),
        "{err:?}"
    );
}

#[test]
fn same_seed_same_decisions() {
    let run = |seed| {
        let mut c = Cluster::new(PolicyKind::Random, seed);
        for n in 0..8 {
            c.add_node(node(&format!("n{n}"), vec![gpu("H100", 80_000); 4]))
                .unwrap();
        }
        (0..40)
            .map(|i| {
                c.place(w(&format!("w{i}"), 7_000 + i * 100, 1), None)
                    .map(|p| p.gpu_ids)
                    .ok()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}
