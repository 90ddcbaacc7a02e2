//! `fgd_fill`: FGD whose measure also counts capacity that repeated pods of a typical shape
//! could not take (for lack of room per GPU, CPU or host memory).

use gpuplane_core::placement::{Cluster, PolicyKind, Shape};

#[path = "support/openb.rs"]
mod openb;
use openb::{node, pod};

fn shape(cpu: u64, count: u32, milli: u32) -> Shape {
    Shape {
        gpu_count: count,
        memory_mib: 0,
        compute_milli: milli,
        cpu_milli: cpu,
        host_memory_mib: 0,
    }
}

fn cluster(policy: PolicyKind, nodes: &[(usize, u64)], shapes: Vec<(Shape, f64)>) -> Cluster {
    let mut c = Cluster::new(policy, 0);
    for (i, &(gpus, cpu)) in nodes.iter().enumerate() {
        c.add_node(node(&format!("n{i}"), gpus, cpu)).unwrap();
    }
    c.set_workload_distribution(Some(shapes)).unwrap();
    c
}

#[test]
fn cpu_only_pods_go_where_their_cpu_strands_no_gpu() {
    // n0 has 24 cores beside 8 idle GPUs: two 12-core GPU pods can still come, so taking 12
    // cores strands one more GPU. n1's 120 cores feed all eight GPUs even after. fgd sees no
    // change on either (one 12-core pod still fits on both) and takes the first node.
    let shapes = vec![(shape(12_000, 1, 1000), 1.0)];
    for (policy, expected) in [(PolicyKind::Fgd, "n0"), (PolicyKind::FgdFill, "n1")] {
        let mut c = cluster(policy, &[(8, 24_000), (8, 120_000)], shapes.clone());
        let p = c.place(pod("cpu", 12_000, 0, 0), None).unwrap();
        assert_eq!(p.node, expected, "{policy}");
    }
}

#[test]
fn shared_pods_stack_where_the_remainder_is_filled() {
    // A 500 milli-GPU pod on n0's idle GPU or on n1's half-used GPU: for 500 milli-GPU pods
    // either leaves nothing unfillable in the end, but for 810 milli-GPU pods (the other typical
    // shape) the idle GPU would keep its use. fgd_fill stacks the pod on the half-used GPU.
    let shapes = vec![(shape(0, 1, 500), 0.5), (shape(0, 1, 810), 0.5)];
    let mut c = cluster(PolicyKind::FgdFill, &[(1, 64_000), (1, 64_000)], shapes);
    c.place(pod("first", 0, 1, 500), None).unwrap();
    let first = c.placement_of("first").unwrap().node;
    let second = c.place(pod("second", 0, 1, 500), None).unwrap();
    assert_eq!(second.node, first);
}

#[test]
fn fgd_fill_is_a_named_policy() {
    assert_eq!(
        "fgd_fill".parse::<PolicyKind>().unwrap(),
        PolicyKind::FgdFill
    );
    assert_eq!(PolicyKind::FgdFill.name(), "fgd_fill");
}
