//! Builders for small openb-like clusters shared by the placement tests.

use std::collections::BTreeMap;

use gpuplane_core::inventory::{GpuSpec, NodeSpec};
use gpuplane_core::placement::Workload;

/// A node of `gpus` 16 GiB GPUs (1,000 milli-GPU each) with `cpu_milli` CPU and 1 TiB of host memory.
pub fn node(name: &str, gpus: usize, cpu_milli: u64) -> NodeSpec {
    let gpu = GpuSpec {
        model: "G".into(),
        memory_mib: 16_384,
        compute_milli: 1000,
        topology_group: None,
        id: None,
    };
    NodeSpec {
        name: name.into(),
        gpus: vec![gpu; gpus],
        cpu_milli,
        memory_mib: 1 << 20,
        labels: BTreeMap::new(),
    }
}

/// A pod of the openb kind: CPU, and `count` GPUs of `milli` each, no GPU memory.
pub fn pod(id: &str, cpu: u64, count: u32, milli: u32) -> Workload {
    Workload {
        compute_milli: milli,
        cpu_milli: cpu,
        ..Workload::new(id, 0, count)
    }
}
