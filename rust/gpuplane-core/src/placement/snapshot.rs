//! Snapshot and restore of a whole cluster in a stable, versioned, checksummed format:
//! `GPUPLSNP` magic, format version (u16 LE), CRC-32 of the payload (u32 LE), payload length
//! (u64 LE), then the payload as JSON.
//!
//! Version 2 adds the attached policy engine's state (tenants, quotas, classes, usage, spend,
//! buckets, running and queued work; see [`crate::policy::PolicySnapshot`]) and workloads'
//! priority classes, so placements and the quota accounting they feed are saved and restored
//! together, under one checksum. Version 1 snapshots (no engine) are still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cluster::{Cluster, Labels};
use super::fragmentation::ShapeDistribution;
use super::intern::Interner;
use super::policy::{PolicyKind, ScoreMode};
use super::workload::Allocation;
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::policy::{lock, shared, Policy};
use crate::rng::SplitMix64;

const MAGIC: &[u8; 8] = b"GPUPLSNP";
/// The snapshot format this build writes (it also reads every version from 1 up).
pub const SNAPSHOT_VERSION: u16 = 2;
const HEADER_LEN: usize = 8 + 2 + 4 + 8;

#[derive(Serialize, Deserialize)]
struct State {
    policy: PolicyKind,
    seed: u64,
    rng: SplitMix64,
    inventory: Inventory,
    allocations: Vec<Allocation>,
    distribution: ShapeDistribution,
    models: Interner<String>,
    labelsets: Interner<Labels>,
    seq: u64,
    /// The attached policy engine (absent in version 1).
    #[serde(default)]
    engine: Option<Policy>,
    /// How node scores are computed (absent before scoring modes: native).
    #[serde(default)]
    scoring: ScoreMode,
}

impl Cluster {
    /// The whole state as bytes; [`Cluster::restore`] rebuilds an identical cluster.
    pub fn snapshot(&self) -> Vec<u8> {
        let state = State {
            policy: self.policy,
            seed: self.seed,
            rng: self.rng.clone(),
            inventory: self.inv.clone(),
            allocations: self.allocations.values().cloned().collect(),
            distribution: self.distribution.clone(),
            models: self.models.clone(),
            labelsets: self.labelsets.clone(),
            seq: self.seq,
            engine: self.engine.as_ref().map(|e| lock(e).clone()),
            scoring: self.scoring,
        };
        let payload = serde_json::to_vec(&state).expect("cluster state serializes");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// A cluster rebuilt from [`Cluster::snapshot`] bytes; damaged or foreign data is refused.
    pub fn restore(data: &[u8]) -> Result<Cluster> {
        let payload = check_header(data)?;
        let state: State = serde_json::from_slice(payload)
            .map_err(|e| Error::Snapshot(format!("payload does not decode: {e}")))?;
        rebuild(state)
    }
}

fn check_header(data: &[u8]) -> Result<&[u8]> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err(Error::Snapshot(
            "not a gpuplane cluster snapshot (bad magic)".into(),
        ));
    }
    let version = u16::from_le_bytes([data[8], data[9]]);
    if !(1..=SNAPSHOT_VERSION).contains(&version) {
        return Err(Error::Snapshot(format!(
            "format version {version} is not supported (this build reads 1 to {SNAPSHOT_VERSION})"
        )));
    }
    let crc = u32::from_le_bytes(data[10..14].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(data[14..22].try_into().expect("8 bytes"));
    let payload = &data[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(Error::Snapshot(format!(
            "truncated or padded: header says {len} payload bytes, found {}",
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != crc {
        return Err(Error::Snapshot(
            "checksum mismatch: the snapshot is damaged".into(),
        ));
    }
    Ok(payload)
}

fn rebuild(mut s: State) -> Result<Cluster> {
    s.inventory.reindex()?;
    s.models.reindex();
    s.labelsets.reindex();
    s.distribution.reindex();
    let mut c = Cluster::new(s.policy, s.seed);
    c.rng = s.rng;
    c.scoring = s.scoring;
    c.inv = s.inventory;
    c.distribution = s.distribution;
    c.models = s.models;
    c.labelsets = s.labelsets;
    c.seq = s.seq;
    let nodes: Vec<(usize, Labels, usize)> = c
        .inv
        .live_nodes()
        .map(|(i, n)| (i, n.labels.clone(), n.gpus.len()))
        .collect();
    for (idx, labels, gpus) in nodes {
        let labels_id = c.labelsets.get(&labels).ok_or_else(|| {
            Error::Snapshot(format!(
                "node {idx} has labels missing from the label table"
            ))
        })?;
        c.track_node(idx, labels_id, gpus);
    }
    attach_allocations(&mut c, s.allocations)?;
    check_usage(&c)?;
    if let Some(p) = s.engine {
        let clock = p.clock();
        c.set_policy_engine(Some(shared(p)), clock)
            .map_err(|e| Error::Snapshot(format!("policy engine does not match: {e}")))?;
    }
    let live: Vec<usize> = c.inv.live_nodes().map(|(i, _)| i).collect();
    for idx in live {
        c.reindex(idx);
    }
    Ok(c)
}

fn attach_allocations(c: &mut Cluster, allocations: Vec<Allocation>) -> Result<()> {
    for a in allocations {
        let node_ok = c.inv.nodes.get(a.node).is_some_and(Option::is_some);
        let gpus_ok = a
            .gpus
            .iter()
            .all(|&g| matches!(c.inv.gpus.get(g), Some(Some(gpu)) if gpu.node == a.node));
        if !node_ok || !gpus_ok || a.gpus.len() != a.workload.gpu_count as usize {
            return Err(Error::Snapshot(format!(
                "workload {:?} refers to a missing node or GPU",
                a.workload.id
            )));
        }
        c.node_workloads[a.node].insert(a.workload.id.clone());
        if c.allocations.insert(a.workload.id.clone(), a).is_some() {
            return Err(Error::Snapshot("duplicate workload id".into()));
        }
    }
    Ok(())
}

/// The recorded usage must equal the sum of the allocations, and never exceed capacity.
fn check_usage(c: &Cluster) -> Result<()> {
    let mut gpu_use: BTreeMap<usize, (u64, u32)> = BTreeMap::new();
    let mut node_use: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
    for a in c.allocations.values() {
        for &g in &a.gpus {
            let e = gpu_use.entry(g).or_default();
            e.0 += a.workload.memory_mib;
            e.1 += a.workload.compute_milli;
        }
        let e = node_use.entry(a.node).or_default();
        e.0 += a.workload.cpu_milli;
        e.1 += a.workload.host_memory_mib;
    }
    for (i, gpu) in c.inv.live_gpus() {
        let (mem, milli) = gpu_use.get(&i).copied().unwrap_or_default();
        if gpu.used_mib != mem
            || gpu.used_milli != milli
            || mem > gpu.memory_mib
            || milli > gpu.compute_milli
        {
            return Err(Error::Snapshot(format!(
                "GPU {:?} usage does not match its workloads",
                gpu.id
            )));
        }
    }
    for (i, node) in c.inv.live_nodes() {
        let (cpu, mem) = node_use.get(&i).copied().unwrap_or_default();
        if node.used_cpu_milli != cpu
            || node.used_memory_mib != mem
            || cpu > node.cpu_milli
            || mem > node.memory_mib
        {
            return Err(Error::Snapshot(format!(
                "node {:?} usage does not match its workloads",
                node.name
            )));
        }
    }
    Ok(())
}
