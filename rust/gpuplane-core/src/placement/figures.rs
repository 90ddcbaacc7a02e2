//! A tenant's figures: what it holds on the cluster and where it stands in the attached policy
//! engine. The one query behind the service's tenant views, `gpuplane status` and metrics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cluster::Cluster;
use crate::error::{Error, Result};
use crate::policy::{lock, Policy, Resources};

/// One tenant's figures at a time `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantFigures {
    pub tenant: String,
    /// Workloads placed on the cluster for this tenant.
    pub placed_workloads: u32,
    /// GPUs those workloads hold (a fractional workload counts its GPUs).
    pub placed_gpus: u64,
    /// GPU memory those workloads hold, MiB.
    pub placed_memory_mib: u64,
    /// Work the engine runs for it (placed workloads and admitted requests; leaves only).
    pub admitted: u32,
    /// Requests queued in the engine (leaves only).
    pub queued: u32,
    /// Resources its subtree holds in the engine.
    pub allocated: Resources,
    /// Decayed usage at `now`.
    pub usage: Resources,
    /// Its fair share now.
    pub fair_share: Resources,
    /// `max_r allocated_r / capacity_r` (DRF).
    pub dominant_share: f64,
}

#[derive(Default, Clone, Copy)]
struct Held {
    workloads: u32,
    gpus: u64,
    memory_mib: u64,
}

impl TenantFigures {
    fn of(tenant: &str, held: Held, engine: Option<&Policy>, now: f64) -> TenantFigures {
        let mut f = TenantFigures {
            tenant: tenant.to_owned(),
            placed_workloads: held.workloads,
            placed_gpus: held.gpus,
            placed_memory_mib: held.memory_mib,
            admitted: 0,
            queued: 0,
            allocated: Resources::ZERO,
            usage: Resources::ZERO,
            fair_share: Resources::ZERO,
            dominant_share: 0.0,
        };
        if let Some(e) = engine.and_then(|p| p.explain(tenant, now).ok()) {
            f.admitted = e.running;
            f.queued = e.queued;
            f.allocated = e.allocated;
            f.usage = e.usage;
            f.fair_share = e.fair_share;
            f.dominant_share = e.dominant_share;
        }
        f
    }
}

impl Cluster {
    fn held_by_tenant(&self) -> BTreeMap<&str, Held> {
        let mut held: BTreeMap<&str, Held> = BTreeMap::new();
        for a in self.allocations.values() {
            let h = held.entry(a.workload.tenant.as_str()).or_default();
            h.workloads += 1;
            h.gpus += u64::from(a.workload.gpu_count);
            h.memory_mib += a.workload.total_memory_mib();
        }
        held
    }

    /// The figures of every tenant: those of the attached engine's tree (parents before
    /// children), then any other tenant holding placements, by name.
    pub fn tenant_figures(&self, now: f64) -> Vec<TenantFigures> {
        let held = self.held_by_tenant();
        let guard = self.engine.as_ref().map(lock);
        let engine = guard.as_deref();
        let mut names: Vec<&str> = engine.map_or_else(Vec::new, |p| {
            p.tenants().into_iter().map(|t| t.name.as_str()).collect()
        });
        let known: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        names.extend(held.keys().copied().filter(|t| !known.contains(t)));
        names
            .into_iter()
            .map(|t| TenantFigures::of(t, held.get(t).copied().unwrap_or_default(), engine, now))
            .collect()
    }

    /// One tenant's figures; `NotFound` if neither the engine nor a placement knows it.
    pub fn tenant_figure(&self, tenant: &str, now: f64) -> Result<TenantFigures> {
        let held = self.held_by_tenant().get(tenant).copied();
        let guard = self.engine.as_ref().map(lock);
        let engine = guard.as_deref();
        let known = engine.is_some_and(|p| p.tenant(tenant).is_some());
        if held.is_none() && !known {
            return Err(Error::not_found("tenant", tenant));
        }
        Ok(TenantFigures::of(
            tenant,
            held.unwrap_or_default(),
            engine,
            now,
        ))
    }
}
