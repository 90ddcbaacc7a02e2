//! A node's schedulable state reduced to plain numbers: what every policy scores.
//!
//! Nodes whose sorted views are equal are interchangeable for every policy, which is what
//! [`super::classes`] exploits to score each distinct state once instead of every node.

use crate::inventory::{Gpu, Node};

/// One GPU as the policies see it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GpuView {
    /// Topology group, numbered per node by first appearance (0 = none).
    pub group: u16,
    pub healthy: bool,
    pub model: u32,
    pub mem_total: u64,
    pub mem_free: u64,
    pub milli_total: u32,
    pub milli_free: u32,
    /// Holds at least one placement.
    pub occupied: bool,
}

impl GpuView {
    /// Free capacity in milli-GPU, limited by the scarcer of memory and compute (0 if unhealthy).
    pub fn share(&self) -> u32 {
        if !self.healthy {
            return 0;
        }
        let mem = self.mem_free.saturating_mul(1000) / self.mem_total.max(1);
        let milli = self.milli_free as u64 * 1000 / self.milli_total.max(1) as u64;
        mem.min(milli) as u32
    }

    /// Whether one GPU's worth of `req` fits here.
    pub fn hosts(&self, mem: u64, milli: u32) -> bool {
        self.healthy && self.mem_free >= mem && self.milli_free >= milli
    }

    /// This GPU after one GPU's worth of `req` is placed on it.
    pub fn after(&self, mem: u64, milli: u32) -> GpuView {
        GpuView {
            mem_free: self.mem_free - mem,
            milli_free: self.milli_free - milli,
            occupied: true,
            ..*self
        }
    }
}

/// A node as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeView {
    pub labels: u32,
    pub cpu_free: u64,
    pub mem_free: u64,
    /// Some GPU or host resource is in use.
    pub occupied: bool,
    /// The kinds of GPU work running on the node, a [`super::baselines::kind_bit`] set (what
    /// the `clustering` policy groups by).
    pub kinds: u16,
    pub gpus: Vec<GpuView>,
}

impl NodeView {
    /// Builds the view of `node`; `model_id` and `labels_id` intern names to numbers.
    pub fn of(
        node: &Node,
        gpus: &[Option<Gpu>],
        labels_id: u32,
        model_id: &mut dyn FnMut(&str) -> u32,
    ) -> NodeView {
        let mut groups: Vec<&str> = Vec::new();
        let gpu_views: Vec<GpuView> = node
            .gpus
            .iter()
            .map(|&g| {
                let gpu = gpus[g].as_ref().expect("live GPU of a live node");
                gpu_view(gpu, &mut groups, model_id(&gpu.model))
            })
            .collect();
        let occupied = node.used_cpu_milli > 0
            || node.used_memory_mib > 0
            || gpu_views.iter().any(|g| g.occupied);
        NodeView {
            labels: labels_id,
            cpu_free: node.free_cpu_milli(),
            mem_free: node.free_memory_mib(),
            occupied,
            kinds: 0,
            gpus: gpu_views,
        }
    }

    /// The canonical form shared by interchangeable nodes.
    pub fn sorted(mut self) -> NodeView {
        self.gpus.sort_unstable();
        self
    }

    /// Sum of the GPUs' free shares.
    pub fn total_share(&self) -> u32 {
        self.gpus.iter().map(GpuView::share).sum()
    }
}

fn gpu_view<'a>(gpu: &'a Gpu, groups: &mut Vec<&'a str>, model: u32) -> GpuView {
    let group = match gpu.topology_group.as_deref() {
        None => 0,
        Some(name) => match groups.iter().position(|g| *g == name) {
            Some(i) => i as u16 + 1,
            None => {
                groups.push(name);
                groups.len() as u16
            }
        },
    };
    GpuView {
        group,
        healthy: gpu.healthy,
        model,
        mem_total: gpu.memory_mib,
        mem_free: gpu.free_mib(),
        milli_total: gpu.compute_milli,
        milli_free: gpu.free_milli(),
        occupied: gpu.used_mib > 0 || gpu.used_milli > 0,
    }
}
