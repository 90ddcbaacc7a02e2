//! Frozen statistics classes returned by `Cluster.stats()`.

use std::collections::BTreeMap;

use gpuplane_core::placement::{ClusterStats, GpuStats, Totals};
use pyo3::prelude::*;

use crate::repr::{Ratio, Raw, Repr};

/// One GPU's capacity and usage.
#[pyclass(frozen, get_all, module = "gpuplane", name = "GpuStats")]
#[derive(Clone)]
pub struct PyGpuStats {
    id: String,
    node: String,
    model: String,
    healthy: bool,
    memory_total_mib: u64,
    memory_used_mib: u64,
    memory_external_mib: u64,
    memory_free_mib: u64,
    compute_total_milli: u32,
    compute_used_milli: u32,
    compute_free_milli: u32,
    workloads: u32,
}

impl From<GpuStats> for PyGpuStats {
    fn from(g: GpuStats) -> Self {
        PyGpuStats {
            id: g.id,
            node: g.node,
            model: g.model,
            healthy: g.healthy,
            memory_total_mib: g.memory_total_mib,
            memory_used_mib: g.memory_used_mib,
            memory_external_mib: g.memory_external_mib,
            memory_free_mib: g.memory_free_mib,
            compute_total_milli: g.compute_total_milli,
            compute_used_milli: g.compute_used_milli,
            compute_free_milli: g.compute_free_milli,
            workloads: g.workloads,
        }
    }
}

#[pymethods]
impl PyGpuStats {
    fn __repr__(&self) -> String {
        Repr::new("GpuStats")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("healthy", self.healthy)
            .field("memory_used_mib", self.memory_used_mib)
            .field("memory_external_mib", self.memory_external_mib)
            .field("memory_free_mib", self.memory_free_mib)
            .field("compute_free_milli", self.compute_free_milli)
            .field("workloads", self.workloads)
            .finish()
    }
}

/// Capacity and usage summed over a set of GPUs (a node, a model, the cluster).
#[pyclass(frozen, get_all, module = "gpuplane", name = "Totals")]
#[derive(Clone)]
pub struct PyTotals {
    gpus: u32,
    healthy_gpus: u32,
    memory_total_mib: u64,
    memory_used_mib: u64,
    memory_external_mib: u64,
    memory_free_mib: u64,
    compute_total_milli: u64,
    compute_used_milli: u64,
    compute_free_milli: u64,
}

impl From<Totals> for PyTotals {
    fn from(t: Totals) -> Self {
        PyTotals {
            gpus: t.gpus,
            healthy_gpus: t.healthy_gpus,
            memory_total_mib: t.memory_total_mib,
            memory_used_mib: t.memory_used_mib,
            memory_external_mib: t.memory_external_mib,
            memory_free_mib: t.memory_free_mib,
            compute_total_milli: t.compute_total_milli,
            compute_used_milli: t.compute_used_milli,
            compute_free_milli: t.compute_free_milli,
        }
    }
}

#[pymethods]
impl PyTotals {
    fn __repr__(&self) -> String {
        Repr::new("Totals")
            .field("gpus", self.gpus)
            .field("healthy_gpus", self.healthy_gpus)
            .field("memory_total_mib", self.memory_total_mib)
            .field("memory_free_mib", self.memory_free_mib)
            .field("compute_total_milli", self.compute_total_milli)
            .field("compute_free_milli", self.compute_free_milli)
            .finish()
    }
}

/// Cluster-wide statistics: totals, allocation ratios, fragmentation, per GPU/node/model.
#[pyclass(frozen, get_all, module = "gpuplane", name = "ClusterStats")]
pub struct PyClusterStats {
    nodes: u32,
    workloads: u32,
    totals: PyTotals,
    allocation_ratio: f64,
    memory_allocation_ratio: f64,
    compute_allocation_ratio: f64,
    fragmentation_gpus: f64,
    fragmentation_ratio: f64,
    node_classes: u32,
    gpus: Vec<PyGpuStats>,
    by_node: BTreeMap<String, PyTotals>,
    by_model: BTreeMap<String, PyTotals>,
}

impl From<ClusterStats> for PyClusterStats {
    fn from(s: ClusterStats) -> Self {
        let map = |m: BTreeMap<String, Totals>| m.into_iter().map(|(k, v)| (k, v.into())).collect();
        PyClusterStats {
            nodes: s.nodes,
            workloads: s.workloads,
            totals: s.totals.into(),
            allocation_ratio: s.allocation_ratio,
            memory_allocation_ratio: s.memory_allocation_ratio,
            compute_allocation_ratio: s.compute_allocation_ratio,
            fragmentation_gpus: s.fragmentation_gpus,
            fragmentation_ratio: s.fragmentation_ratio,
            node_classes: s.node_classes,
            gpus: s.gpus.into_iter().map(Into::into).collect(),
            by_node: map(s.by_node),
            by_model: map(s.by_model),
        }
    }
}

#[pymethods]
impl PyClusterStats {
    fn __repr__(&self) -> String {
        Repr::new("ClusterStats")
            .field("nodes", self.nodes)
            .field("gpus", self.totals.gpus)
            .field("workloads", self.workloads)
            .field("allocation_ratio", Ratio(self.allocation_ratio))
            .field(
                "memory_allocation_ratio",
                Ratio(self.memory_allocation_ratio),
            )
            .field(
                "compute_allocation_ratio",
                Ratio(self.compute_allocation_ratio),
            )
            .field(
                "fragmentation_gpus",
                Raw(format!("{:.3}", self.fragmentation_gpus)),
            )
            .field("node_classes", self.node_classes)
            .finish()
    }
}
