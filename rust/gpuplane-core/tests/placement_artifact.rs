//! Scoring as the FGD paper's artifact does (`ScoreMode::Artifact`) and the paper's DotProd
//! and Clustering baselines, on clusters small enough to check by hand.

use gpuplane_core::placement::{Cluster, PolicyKind, ScoreMode, Shape, Workload};

#[path = "support/openb.rs"]
mod openb;
use openb::{node, pod};

fn artifact(policy: PolicyKind, nodes: &[(usize, u64)]) -> Cluster {
    let mut c = Cluster::new(policy, 3);
    c.set_scoring(ScoreMode::Artifact);
    for (i, &(gpus, cpu)) in nodes.iter().enumerate() {
        c.add_node(node(&format!("n{i}"), gpus, cpu)).unwrap();
    }
    c
}

fn place(c: &mut Cluster, w: Workload) -> (String, Vec<String>) {
    let p = c.place(w, None).unwrap();
    (p.node, p.gpu_ids)
}

#[test]
fn fgd_ties_of_the_integer_score_go_to_the_first_node() {
    // A whole GPU taken from n0 (idle) or n1 (half of one GPU shared) changes no
    // fragmentation for a whole-GPU distribution. Native fgd breaks the tie towards the busy
    // node n1; in the artifact both score int(sigmoid(0) x 100) = 50 and the first node wins.
    for (mode, expected) in [(ScoreMode::Native, "n1"), (ScoreMode::Artifact, "n0")] {
        let mut c = Cluster::new(PolicyKind::Fgd, 0);
        c.set_scoring(mode);
        c.add_node(node("n0", 2, 64_000)).unwrap();
        c.add_node(node("n1", 2, 64_000)).unwrap();
        let whole = Shape {
            gpu_count: 1,
            memory_mib: 0,
            compute_milli: 1000,
            cpu_milli: 0,
            host_memory_mib: 0,
        };
        c.set_workload_distribution(Some(vec![(whole, 1.0)]))
            .unwrap();
        c.place(pod("shared", 0, 1, 500), Some(PolicyKind::Spread))
            .unwrap();
        let shared_on = c.placement_of("shared").unwrap().node;
        assert_eq!(shared_on, "n0", "spread's tie goes to the first node");
        // Move the shared pod to n1 by filling n0 first and freeing it again.
        c.release("shared").unwrap();
        c.place(pod("filler", 0, 2, 1000), Some(PolicyKind::FirstFit))
            .unwrap();
        c.place(pod("shared", 0, 1, 500), Some(PolicyKind::FirstFit))
            .unwrap();
        c.release("filler").unwrap();
        let (n, _) = place(&mut c, pod("whole", 0, 1, 1000));
        assert_eq!(n, expected, "{mode:?}");
    }
}

#[test]
fn fgd_artifact_scores_are_integers_and_name_the_mode() {
    let mut c = artifact(PolicyKind::Fgd, &[(2, 64_000), (2, 64_000)]);
    let half = Shape {
        gpu_count: 1,
        memory_mib: 0,
        compute_milli: 500,
        cpu_milli: 0,
        host_memory_mib: 0,
    };
    c.set_workload_distribution(Some(vec![(half, 1.0)]))
        .unwrap();
    let p = c.place(pod("a", 1000, 1, 700), None).unwrap();
    // 700 taken from an idle GPU leaves 300 that no 500 pod can use: fragmentation +300,
    // int(sigmoid(-0.3) x 100) = 42 on either node; the first node wins the tie.
    assert_eq!(p.node, "n0");
    assert_eq!(p.score, -42.0);
    assert!(
        p.reason.contains("42 of 100 as the FGD artifact does"),
        "{}",
        p.reason
    );
}

#[test]
fn artifact_shared_pods_take_the_tightest_gpu_and_gangs_the_first_idle_ones() {
    let mut c = artifact(PolicyKind::BestFit, &[(4, 64_000)]);
    place(&mut c, pod("a", 0, 1, 600));
    place(&mut c, pod("b", 0, 1, 300));
    let (_, gpus) = place(&mut c, pod("c", 0, 1, 300));
    assert_eq!(
        gpus,
        vec!["n0/1"],
        "400 left on n0/0, 700 on n0/1: the tightest that fits"
    );
    let (_, gpus) = place(&mut c, pod("d", 0, 2, 1000));
    assert_eq!(gpus, vec!["n0/2", "n0/3"]);
}

#[test]
fn artifact_best_fit_counts_cpu_and_gpu_half_each() {
    // n0: 2 GPUs and 96 cores, n1: 4 GPUs and 8 cores. A 1-GPU pod with 4 cores leaves
    // n0 0.5 x (92/128) + 0.5 x (1000/8000) = 0.42, n1 0.5 x (4/128) + 0.5 x (3000/8000) =
    // 0.20: n1 is the better fit (int(79.7) = 79 against int(57.8) = 57).
    let mut c = artifact(PolicyKind::BestFit, &[(2, 96_000), (4, 8_000)]);
    let p = c.place(pod("a", 4000, 1, 1000), None).unwrap();
    assert_eq!((p.node.as_str(), p.score), ("n1", -79.0));
}

#[test]
fn dotprod_prefers_free_resources_least_aligned_with_the_request() {
    // A CPU-heavy pod: n0 has much free CPU (aligned, higher dot product), n1 little.
    for mode in [ScoreMode::Native, ScoreMode::Artifact] {
        let mut c = Cluster::new(PolicyKind::DotProd, 0);
        c.set_scoring(mode);
        c.add_node(node("n0", 2, 128_000)).unwrap();
        c.add_node(node("n1", 2, 16_000)).unwrap();
        let p = c.place(pod("a", 8000, 1, 1000), None).unwrap();
        assert_eq!(p.node, "n1", "{mode:?}");
        // 100 x (1 - ((16/128)(8/128) + (2000/8000)(1000/8000)) / 2) = 98.05
        let expected = if mode == ScoreMode::Native {
            -98.046875
        } else {
            -98.0
        };
        assert_eq!(p.score, expected, "{mode:?}");
    }
}

#[test]
fn clustering_groups_work_of_the_same_gpu_kind() {
    for mode in [ScoreMode::Native, ScoreMode::Artifact] {
        let mut c = Cluster::new(PolicyKind::Clustering, 0);
        c.set_scoring(mode);
        for n in 0..3 {
            c.add_node(node(&format!("n{n}"), 8, 128_000)).unwrap();
        }
        let (shared, _) = place(&mut c, pod("s", 0, 1, 300));
        let (whole, _) = place(&mut c, pod("w", 0, 1, 1000));
        assert_ne!(
            shared, whole,
            "{mode:?}: an idle node beats one running shared GPUs"
        );
        let (again, _) = place(&mut c, pod("s2", 0, 1, 300));
        assert_eq!(again, shared, "{mode:?}: shared work joins shared work");
        let (gang, _) = place(&mut c, pod("g", 0, 2, 1000));
        assert!(
            gang != shared && gang != whole,
            "{mode:?}: a 2-GPU gang is another kind"
        );
        // CPU-only work scores 0 everywhere: the artifact takes the first node, native the
        // tightest (the gang's node).
        let (cpu, _) = place(&mut c, pod("cpu", 1000, 0, 0));
        let expected = if mode == ScoreMode::Artifact {
            "n0"
        } else {
            gang.as_str()
        };
        assert_eq!(cpu, expected, "{mode:?}");
    }
}

#[test]
fn artifact_packing_tiers() {
    let mut c = artifact(
        PolicyKind::Packing,
        &[(2, 64_000), (2, 64_000), (2, 64_000)],
    );
    let (first, _) = place(&mut c, pod("a", 0, 1, 500));
    // Sharing a used GPU: 100 - (500 x 100 / 1000) / 10 = 95.
    let p = c.place(pod("b", 0, 1, 400), None).unwrap();
    assert_eq!((p.node.clone(), p.score), (first.clone(), -95.0));
    // An idle GPU of a used node (50 - 1) beats an idle node (max(33 - 2, 2)).
    let p = c.place(pod("c", 0, 1, 1000), None).unwrap();
    assert_eq!((p.node, p.score), (first, -49.0));
}

#[test]
fn scoring_mode_survives_a_snapshot_and_unknown_modes_are_refused() {
    let c = artifact(PolicyKind::Fgd, &[(2, 64_000)]);
    let back = Cluster::restore(&c.snapshot()).unwrap();
    assert_eq!(back.scoring(), ScoreMode::Artifact);
    let err = "exact".parse::<ScoreMode>().unwrap_err().to_string();
    assert!(err.contains("scoring") && err.contains("exact"), "{err}");
}

#[test]
fn artifact_fgd_picks_the_shared_gpu_by_its_score_not_the_tightest() {
    // n0/0 has 500 left, n0/1 is idle; the distribution is 500-milli pods. A 300 pod on n0/0
    // would leave 200 no 500 pod can use (score int(sigmoid(-0.2) x 100) = 45); on n0/1 it
    // leaves 700 and 500, both usable (score 50). Best-fit takes the tightest GPU instead.
    for (policy, expected) in [(PolicyKind::Fgd, "n0/1"), (PolicyKind::BestFit, "n0/0")] {
        let mut c = artifact(policy, &[(2, 64_000)]);
        let half = Shape {
            gpu_count: 1,
            memory_mib: 0,
            compute_milli: 500,
            cpu_milli: 0,
            host_memory_mib: 0,
        };
        c.set_workload_distribution(Some(vec![(half, 1.0)]))
            .unwrap();
        place(&mut c, pod("a", 0, 1, 500));
        let p = c.place(pod("b", 0, 1, 300), None).unwrap();
        assert_eq!(p.gpu_ids, vec![expected], "{policy}");
    }
}

#[test]
fn clustering_asked_of_another_policy_decides_as_a_clustering_cluster() {
    // Only a clustering cluster's node classes keep the kinds of work; asked per call, the
    // cluster scans its nodes instead and must decide the same.
    let pods = [
        pod("s", 0, 1, 300),
        pod("w", 0, 1, 1000),
        pod("s2", 0, 1, 300),
        pod("g", 0, 2, 1000),
        pod("w2", 0, 1, 1000),
        pod("s3", 0, 1, 600),
    ];
    for mode in [ScoreMode::Native, ScoreMode::Artifact] {
        let mut own = Cluster::new(PolicyKind::Clustering, 0);
        let mut asked = Cluster::new(PolicyKind::Fgd, 0);
        for c in [&mut own, &mut asked] {
            c.set_scoring(mode);
            for n in 0..3 {
                c.add_node(node(&format!("n{n}"), 8, 128_000)).unwrap();
            }
        }
        for p in &pods {
            let a = own.place(p.clone(), None).unwrap();
            let b = asked
                .place(p.clone(), Some(PolicyKind::Clustering))
                .unwrap();
            assert_eq!(
                (a.node, a.gpu_ids, a.score),
                (b.node, b.gpu_ids, b.score),
                "{mode:?}"
            );
        }
    }
}

#[test]
fn kubernetes_scoring_draws_among_tied_nodes_and_artifact_takes_the_first() {
    // Four idle nodes (one class of interchangeable nodes) score alike for best_fit; once a
    // filler takes one GPU of a node, that node scores better and must always win.
    let cluster = |mode: ScoreMode, seed: u64| {
        let mut c = Cluster::new(PolicyKind::BestFit, seed);
        c.set_scoring(mode);
        for i in 0..4 {
            c.add_node(node(&format!("n{i}"), 2, 64_000)).unwrap();
        }
        c
    };
    let drawn: std::collections::BTreeSet<String> = (0..40)
        .map(|seed| {
            place(
                &mut cluster(ScoreMode::Kubernetes, seed),
                pod("p", 0, 1, 1000),
            )
            .0
        })
        .collect();
    assert_eq!(drawn.len(), 4, "every tied node is drawn: {drawn:?}");
    for seed in 0..10 {
        let mut first = cluster(ScoreMode::Artifact, seed);
        assert_eq!(place(&mut first, pod("p", 0, 1, 1000)).0, "n0");
        let mut k8s = cluster(ScoreMode::Kubernetes, seed);
        let (busy, _) = place(&mut k8s, pod("filler", 0, 1, 1000));
        let (n, _) = place(&mut k8s, pod("p", 0, 1, 1000));
        assert_eq!(n, busy, "the best score wins over the draw");
    }
}
