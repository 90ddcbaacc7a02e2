//! Nodes and their GPUs: what exists, how much of it is used, and what is healthy.
//!
//! The inventory only stores state and checks its own consistency; deciding where work goes is
//! the job of [`crate::placement`].

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::names;

/// Largest GPU memory accepted (16 TiB): anything above is a unit mistake.
pub const MAX_GPU_MEMORY_MIB: u64 = 16 << 20;
/// Compute capacity of one whole GPU.
pub const WHOLE_GPU_MILLI: u32 = 1000;
/// Largest number of GPUs on one node.
pub const MAX_GPUS_PER_NODE: usize = 64;

/// The description of one GPU when a node is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuSpec {
    pub model: String,
    pub memory_mib: u64,
    pub compute_milli: u32,
    pub topology_group: Option<String>,
    /// A stable id (NVML UUID); defaults to `"{node}/{index}"`.
    pub id: Option<String>,
}

/// The description of a node when it is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub name: String,
    pub gpus: Vec<GpuSpec>,
    pub cpu_milli: u64,
    pub memory_mib: u64,
    pub labels: BTreeMap<String, String>,
}

/// One GPU and its current usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    pub id: String,
    pub node: usize,
    pub model: String,
    pub memory_mib: u64,
    pub compute_milli: u32,
    pub topology_group: Option<String>,
    pub healthy: bool,
    /// Memory used by processes gpuplane did not place (as NVML reports it).
    pub external_mib: u64,
    pub used_mib: u64,
    pub used_milli: u32,
}

impl Gpu {
    /// Memory a new placement may use: total minus placed minus external, never negative.
    pub fn free_mib(&self) -> u64 {
        self.memory_mib
            .saturating_sub(self.used_mib.saturating_add(self.external_mib))
    }

    pub fn free_milli(&self) -> u32 {
        self.compute_milli.saturating_sub(self.used_milli)
    }
}

/// One node: host resources and the indices of its GPUs in [`Inventory::gpus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub cpu_milli: u64,
    pub memory_mib: u64,
    pub labels: BTreeMap<String, String>,
    pub gpus: Vec<usize>,
    pub used_cpu_milli: u64,
    pub used_memory_mib: u64,
}

impl Node {
    pub fn free_cpu_milli(&self) -> u64 {
        self.cpu_milli.saturating_sub(self.used_cpu_milli)
    }

    pub fn free_memory_mib(&self) -> u64 {
        self.memory_mib.saturating_sub(self.used_memory_mib)
    }
}

/// All nodes and GPUs. Slots of removed nodes stay `None` so indices remain stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub nodes: Vec<Option<Node>>,
    pub gpus: Vec<Option<Gpu>>,
    #[serde(skip)]
    node_index: FxHashMap<String, usize>,
    #[serde(skip)]
    gpu_index: FxHashMap<String, usize>,
}

impl Inventory {
    /// Rebuilds the name lookups after deserialization.
    pub fn reindex(&mut self) -> Result<()> {
        self.node_index.clear();
        self.gpu_index.clear();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(node) = node {
                if self.node_index.insert(node.name.clone(), i).is_some() {
                    return Err(Error::Snapshot(format!("duplicate node {:?}", node.name)));
                }
            }
        }
        for (i, gpu) in self.gpus.iter().enumerate() {
            if let Some(gpu) = gpu {
                if self.gpu_index.insert(gpu.id.clone(), i).is_some() {
                    return Err(Error::Snapshot(format!("duplicate GPU {:?}", gpu.id)));
                }
            }
        }
        Ok(())
    }

    /// Adds a node after validating every field; returns its index.
    pub fn add_node(&mut self, spec: NodeSpec) -> Result<usize> {
        let ids = self.validate_node(&spec)?;
        let node_idx = self.nodes.len();
        let mut gpu_indices = Vec::with_capacity(spec.gpus.len());
        for (gpu, id) in spec.gpus.into_iter().zip(ids) {
            let gpu_idx = self.gpus.len();
            self.gpu_index.insert(id.clone(), gpu_idx);
            self.gpus.push(Some(Gpu {
                id,
                node: node_idx,
                model: gpu.model,
                memory_mib: gpu.memory_mib,
                compute_milli: gpu.compute_milli,
                topology_group: gpu.topology_group,
                healthy: true,
                external_mib: 0,
                used_mib: 0,
                used_milli: 0,
            }));
            gpu_indices.push(gpu_idx);
        }
        self.node_index.insert(spec.name.clone(), node_idx);
        self.nodes.push(Some(Node {
            name: spec.name,
            cpu_milli: spec.cpu_milli,
            memory_mib: spec.memory_mib,
            labels: spec.labels,
            gpus: gpu_indices,
            used_cpu_milli: 0,
            used_memory_mib: 0,
        }));
        Ok(node_idx)
    }

    /// Checks a node spec; returns the GPU ids it will use.
    fn validate_node(&self, spec: &NodeSpec) -> Result<Vec<String>> {
        names::check_name("name", &spec.name)?;
        if self.node_index.contains_key(&spec.name) {
            return Err(Error::Conflict(format!(
                "node {:?} already exists",
                spec.name
            )));
        }
        if spec.gpus.len() > MAX_GPUS_PER_NODE {
            return Err(Error::invalid(
                "gpus",
                format!(
                    "{} GPUs on one node (at most {MAX_GPUS_PER_NODE})",
                    spec.gpus.len()
                ),
            ));
        }
        let mut ids = Vec::with_capacity(spec.gpus.len());
        for (i, gpu) in spec.gpus.iter().enumerate() {
            validate_gpu(gpu, i)?;
            let id = gpu
                .id
                .clone()
                .unwrap_or_else(|| format!("{}/{i}", spec.name));
            if self.gpu_index.contains_key(&id) || ids.contains(&id) {
                return Err(Error::Conflict(format!("GPU id {id:?} already exists")));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Removes an empty node (the caller releases its workloads first).
    pub fn remove_node(&mut self, idx: usize) {
        if let Some(node) = self.nodes[idx].take() {
            self.node_index.remove(&node.name);
            for g in node.gpus {
                if let Some(gpu) = self.gpus[g].take() {
                    self.gpu_index.remove(&gpu.id);
                }
            }
        }
    }

    pub fn node_idx(&self, name: &str) -> Result<usize> {
        self.node_index
            .get(name)
            .copied()
            .ok_or_else(|| Error::not_found("node", name))
    }

    pub fn gpu_idx(&self, id: &str) -> Result<usize> {
        self.gpu_index
            .get(id)
            .copied()
            .ok_or_else(|| Error::not_found("GPU", id))
    }

    /// The node at a live index (callers only hold live indices).
    pub fn node(&self, idx: usize) -> &Node {
        self.nodes[idx].as_ref().expect("live node index")
    }

    pub fn node_mut(&mut self, idx: usize) -> &mut Node {
        self.nodes[idx].as_mut().expect("live node index")
    }

    pub fn gpu(&self, idx: usize) -> &Gpu {
        self.gpus[idx].as_ref().expect("live GPU index")
    }

    pub fn gpu_mut(&mut self, idx: usize) -> &mut Gpu {
        self.gpus[idx].as_mut().expect("live GPU index")
    }

    /// Live nodes with their indices, in insertion order.
    pub fn live_nodes(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// Live GPUs with their indices, in insertion order.
    pub fn live_gpus(&self) -> impl Iterator<Item = (usize, &Gpu)> {
        self.gpus
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
    }
}

fn validate_gpu(gpu: &GpuSpec, i: usize) -> Result<()> {
    let field = |f: &str| format!("gpus[{i}].{f}");
    names::check_name(&field("model"), &gpu.model)?;
    if let Some(id) = &gpu.id {
        names::check_id(&field("id"), id)?;
    }
    if gpu.memory_mib == 0 || gpu.memory_mib > MAX_GPU_MEMORY_MIB {
        return Err(Error::invalid(
            field("memory_mib"),
            format!("{} is not in 1..={MAX_GPU_MEMORY_MIB}", gpu.memory_mib),
        ));
    }
    if gpu.compute_milli == 0 || gpu.compute_milli > 100 * WHOLE_GPU_MILLI {
        return Err(Error::invalid(
            field("compute_milli"),
            format!("{} is not in 1..=100000", gpu.compute_milli),
        ));
    }
    if matches!(&gpu.id, Some(id) if id.is_empty()) {
        return Err(Error::invalid(field("id"), "must not be empty"));
    }
    Ok(())
}
