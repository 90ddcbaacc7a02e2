//! Usage statistics: per GPU, node and model, allocation ratios and fragmentation.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cluster::Cluster;
use super::fragmentation::expected;

/// One GPU's capacity and usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuStats {
    pub id: String,
    pub node: String,
    pub model: String,
    pub healthy: bool,
    pub memory_total_mib: u64,
    pub memory_used_mib: u64,
    pub memory_external_mib: u64,
    pub memory_free_mib: u64,
    pub compute_total_milli: u32,
    pub compute_used_milli: u32,
    pub compute_free_milli: u32,
    pub workloads: u32,
}

/// Capacity and usage summed over a set of GPUs (a node, a model, the cluster).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub gpus: u32,
    pub healthy_gpus: u32,
    pub memory_total_mib: u64,
    pub memory_used_mib: u64,
    pub memory_external_mib: u64,
    pub memory_free_mib: u64,
    pub compute_total_milli: u64,
    pub compute_used_milli: u64,
    pub compute_free_milli: u64,
}

impl Totals {
    fn add(&mut self, g: &GpuStats) {
        self.gpus += 1;
        self.healthy_gpus += g.healthy as u32;
        self.memory_total_mib += g.memory_total_mib;
        self.memory_used_mib += g.memory_used_mib;
        self.memory_external_mib += g.memory_external_mib;
        self.memory_free_mib += g.memory_free_mib;
        self.compute_total_milli += g.compute_total_milli as u64;
        self.compute_used_milli += g.compute_used_milli as u64;
        self.compute_free_milli += g.compute_free_milli as u64;
    }
}

/// The cluster's statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStats {
    pub nodes: u32,
    pub workloads: u32,
    pub totals: Totals,
    /// Share of GPU capacity placed, per GPU the larger of its memory and compute shares.
    pub allocation_ratio: f64,
    pub memory_allocation_ratio: f64,
    pub compute_allocation_ratio: f64,
    /// Expected fragmented capacity in GPUs, the measure `fgd` minimizes.
    pub fragmentation_gpus: f64,
    /// Fragmented capacity over free capacity.
    pub fragmentation_ratio: f64,
    /// Distinct node states in the placement index.
    pub node_classes: u32,
    pub gpus: Vec<GpuStats>,
    pub by_node: BTreeMap<String, Totals>,
    pub by_model: BTreeMap<String, Totals>,
}

impl Cluster {
    /// Statistics of the whole cluster (a full pass; not for the decision hot path).
    pub fn stats(&self) -> ClusterStats {
        let gpus = self.gpu_stats();
        let mut totals = Totals::default();
        let mut by_node: BTreeMap<String, Totals> = BTreeMap::new();
        let mut by_model: BTreeMap<String, Totals> = BTreeMap::new();
        let mut placed_share = 0.0;
        for g in &gpus {
            totals.add(g);
            by_node.entry(g.node.clone()).or_default().add(g);
            by_model.entry(g.model.clone()).or_default().add(g);
            let mem = g.memory_used_mib as f64 / g.memory_total_mib as f64;
            let milli = g.compute_used_milli as f64 / g.compute_total_milli as f64;
            placed_share += mem.max(milli);
        }
        let (frag, free) = self.fragmentation();
        ClusterStats {
            nodes: self.inv.live_nodes().count() as u32,
            workloads: self.allocations.len() as u32,
            allocation_ratio: ratio(placed_share, totals.gpus as f64),
            memory_allocation_ratio: ratio(
                totals.memory_used_mib as f64,
                totals.memory_total_mib as f64,
            ),
            compute_allocation_ratio: ratio(
                totals.compute_used_milli as f64,
                totals.compute_total_milli as f64,
            ),
            fragmentation_gpus: frag / 1000.0,
            fragmentation_ratio: ratio(frag, free),
            node_classes: self.classes.len() as u32,
            totals,
            gpus,
            by_node,
            by_model,
        }
    }

    fn gpu_stats(&self) -> Vec<GpuStats> {
        let mut count = vec![0u32; self.inv.gpus.len()];
        for a in self.allocations.values() {
            for &g in &a.gpus {
                count[g] += 1;
            }
        }
        self.inv
            .live_gpus()
            .map(|(i, g)| GpuStats {
                id: g.id.clone(),
                node: self.inv.node(g.node).name.clone(),
                model: g.model.clone(),
                healthy: g.healthy,
                memory_total_mib: g.memory_mib,
                memory_used_mib: g.used_mib,
                memory_external_mib: g.external_mib,
                memory_free_mib: g.free_mib(),
                compute_total_milli: g.compute_milli,
                compute_used_milli: g.used_milli,
                compute_free_milli: g.free_milli(),
                workloads: count[i],
            })
            .collect()
    }

    /// (expected fragmented milli-GPU, free milli-GPU) summed over nodes.
    pub fn fragmentation(&self) -> (f64, f64) {
        let shapes = self.distribution.weighted();
        let mut frag = 0.0;
        let mut free = 0.0;
        for class in self.classes.iter() {
            let n = class.members.len() as f64;
            frag += n * expected(&class.view, &shapes);
            free += n * class.view.total_share() as f64;
        }
        (frag, free)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}
