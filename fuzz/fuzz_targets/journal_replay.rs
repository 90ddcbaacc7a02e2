//! Replays arbitrary journal lines, as the daemon does on start: a JSON workload places it,
//! `-ID` releases it. Every line is applied or refused with an error, never a panic, and the
//! cluster's snapshot survives a restore after the replay.
#![no_main]

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::{Cluster, PolicyKind, Workload};
use libfuzzer_sys::fuzz_target;

fn cluster() -> Cluster {
    let mut c = Cluster::new(PolicyKind::Fgd, 0);
    for n in 0..2 {
        let gpu = GpuSpec {
            model: "H100-80GB".into(),
            memory_mib: 81_920,
            compute_milli: 1000,
            topology_group: None,
            id: None,
        };
        let node = NodeSpec {
            name: format!("n{n}"),
            gpus: vec![gpu; 4],
            cpu_milli: 1 << 40,
            memory_mib: 1 << 40,
            labels: Default::default(),
        };
        c.add_node(node).expect("a valid node");
    }
    c
}

fuzz_target!(|data: &[u8]| {
    let mut c = cluster();
    for line in data.split(|&b| b == b'\n') {
        match line.strip_prefix(b"-") {
            Some(id) => drop(c.release_at(&String::from_utf8_lossy(id), 0.0)),
            None => {
                if let Ok(w) = serde_json::from_slice::<Workload>(line) {
                    drop(c.place_at(w, None, 0.0));
                }
            }
        }
    }
    Cluster::restore(&c.snapshot()).expect("a replayed cluster restores");
});
