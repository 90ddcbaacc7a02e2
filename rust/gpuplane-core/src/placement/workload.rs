//! What a caller asks to place, and what it gets back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inventory::MAX_GPU_MEMORY_MIB;
use crate::names;

/// Upper bound for CPU milli-cores and host memory MiB in one request (a unit-mistake guard).
const MAX_HOST_AMOUNT: u64 = 1 << 40;

/// A request for GPUs: `gpu_count` GPUs on one node (all or nothing), each with
/// `memory_mib` of memory and `compute_milli` of compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub id: String,
    pub tenant: String,
    pub memory_mib: u64,
    pub gpu_count: u32,
    pub compute_milli: u32,
    pub cpu_milli: u64,
    pub host_memory_mib: u64,
    /// Empty means any model.
    pub allowed_models: Vec<String>,
    pub node_selector: BTreeMap<String, String>,
    pub priority: i32,
    pub preemptible: bool,
    /// A priority class of the cluster's policy engine. When set, the class gives the
    /// priority and preemptibility (the two fields above are ignored); `None` keeps them.
    #[serde(default)]
    pub priority_class: Option<String>,
}

impl Workload {
    /// A workload with only the required fields set; the rest take their defaults.
    pub fn new(id: impl Into<String>, memory_mib: u64, gpu_count: u32) -> Self {
        Workload {
            id: id.into(),
            tenant: "default".into(),
            memory_mib,
            gpu_count,
            compute_milli: 0,
            cpu_milli: 0,
            host_memory_mib: 0,
            allowed_models: Vec::new(),
            node_selector: BTreeMap::new(),
            priority: 0,
            preemptible: true,
            priority_class: None,
        }
    }

    /// Checks every field; an error names the first bad one. The GPU count is bounded by the
    /// cluster it is placed on (its largest node), not here.
    pub fn validate(&self) -> Result<()> {
        names::check_id("id", &self.id)?;
        names::check_name("tenant", &self.tenant)?;
        if let Some(class) = &self.priority_class {
            names::check_name("priority_class", class)?;
        }
        if self.memory_mib > MAX_GPU_MEMORY_MIB {
            return Err(Error::invalid(
                "memory_mib",
                format!("{} exceeds {MAX_GPU_MEMORY_MIB}", self.memory_mib),
            ));
        }
        if self.compute_milli > 100_000 {
            return Err(Error::invalid(
                "compute_milli",
                format!("{} exceeds 100000", self.compute_milli),
            ));
        }
        for (field, v) in [
            ("cpu_milli", self.cpu_milli),
            ("host_memory_mib", self.host_memory_mib),
        ] {
            if v > MAX_HOST_AMOUNT {
                return Err(Error::invalid(
                    field,
                    format!("{v} exceeds {MAX_HOST_AMOUNT}"),
                ));
            }
        }
        self.validate_shape()
    }

    fn validate_shape(&self) -> Result<()> {
        let asks_gpu = self.memory_mib > 0 || self.compute_milli > 0;
        if self.gpu_count == 0 {
            if asks_gpu {
                return Err(Error::invalid(
                    "gpu_count",
                    "is 0 but memory_mib or compute_milli per GPU is set",
                ));
            }
            if self.cpu_milli == 0 && self.host_memory_mib == 0 {
                return Err(Error::invalid(
                    "memory_mib",
                    "the workload asks for nothing (no GPU, CPU or host memory)",
                ));
            }
        } else if !asks_gpu {
            return Err(Error::invalid(
                "memory_mib",
                "must be > 0 (or compute_milli > 0) when gpu_count > 0",
            ));
        }
        if self.priority_class.as_deref() == Some("") {
            return Err(Error::invalid("priority_class", "must not be empty"));
        }
        if self.allowed_models.iter().any(|m| m.is_empty()) {
            return Err(Error::invalid(
                "allowed_models",
                "contains an empty model name",
            ));
        }
        Ok(())
    }

    /// GPU memory this workload holds in total.
    pub fn total_memory_mib(&self) -> u64 {
        self.memory_mib * self.gpu_count as u64
    }
}

/// Where a workload was placed and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub workload_id: String,
    pub node: String,
    pub gpu_ids: Vec<String>,
    pub memory_mib: u64,
    pub compute_milli: u32,
    pub policy: String,
    /// The policy's score of the chosen candidate (lower is better).
    pub score: f64,
    pub reason: String,
    /// The workload's tenant.
    #[serde(default)]
    pub tenant: String,
}

/// A placed workload as the cluster stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub workload: Workload,
    pub node: usize,
    pub gpus: Vec<usize>,
    /// Placement sequence number: larger is newer.
    pub seq: u64,
}
