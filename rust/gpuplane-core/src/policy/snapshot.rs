//! The serialized form of a [`Policy`]: specs, classes, usage, spend, buckets, demand, running
//! and queued work. Restoring re-validates everything through the ordinary mutators, so a
//! damaged snapshot is refused (`Error::Snapshot`) rather than trusted.

use serde::{Deserialize, Serialize};

use super::admission::Decision;
use super::classes::PriorityClass;
use super::engine::{Policy, PolicyConfig, Running};
use super::programs::ProgramLedger;
use super::rate::TokenBucket;
use super::resources::Resources;
use super::tree::{TenantSpec, ROOT};
use super::usage::Decayed;
use crate::error::{Error, Result};

/// Version of the snapshot format.
pub const POLICY_SNAPSHOT_VERSION: u32 = 1;

/// One node's spec and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    /// The node's spec.
    pub spec: TenantSpec,
    /// Reported demand.
    pub demand: Resources,
    /// Decayed usage.
    pub usage: Decayed,
    /// Cost charged.
    pub spent: f64,
    /// Token bucket, where the node has one.
    pub bucket: Option<TokenBucket>,
    /// Last admission decision.
    pub last: Option<Decision>,
}

/// Everything a [`Policy`] holds, in a stable, validated form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    /// [`POLICY_SNAPSHOT_VERSION`].
    pub version: u32,
    /// The configuration.
    pub config: PolicyConfig,
    /// Cluster capacity.
    pub capacity: Resources,
    /// Latest time seen.
    pub clock: f64,
    /// Root usage (the sum over top-level nodes).
    pub root_usage: Decayed,
    /// Priority classes.
    pub classes: Vec<PriorityClass>,
    /// Nodes, parents before children.
    pub tenants: Vec<TenantState>,
    /// Running work.
    pub running: Vec<Running>,
    /// Queued request ids with their tenant.
    pub queued: Vec<(String, String)>,
    /// Agent programs in flight and their figures.
    #[serde(default)]
    pub programs: ProgramLedger,
}

impl From<Policy> for PolicySnapshot {
    fn from(p: Policy) -> Self {
        let order = p.tree.bfs();
        let tenants = order[1..]
            .iter()
            .map(|&i| {
                let n = p.tree.node(i);
                TenantState {
                    spec: n.spec.clone(),
                    demand: n.demand,
                    usage: n.usage,
                    spent: n.spent,
                    bucket: n.bucket,
                    last: n.last.clone(),
                }
            })
            .collect();
        let queued = p
            .queued
            .iter()
            .map(|(id, &i)| (id.clone(), p.tree.node(i).spec.name.clone()))
            .collect();
        PolicySnapshot {
            version: POLICY_SNAPSHOT_VERSION,
            root_usage: p.tree.node(ROOT).usage,
            classes: p.classes.iter().cloned().collect(),
            tenants,
            running: p.running.into_values().collect(),
            queued,
            programs: p.programs,
            config: p.config,
            capacity: p.capacity,
            clock: p.clock,
        }
    }
}

impl TryFrom<PolicySnapshot> for Policy {
    type Error = Error;

    fn try_from(s: PolicySnapshot) -> Result<Self> {
        restore(s).map_err(|e| Error::Snapshot(e.to_string()))
    }
}

fn restore(s: PolicySnapshot) -> Result<Policy> {
    if s.version != POLICY_SNAPSHOT_VERSION {
        return Err(Error::invalid(
            "version",
            format!("unsupported version {}", s.version),
        ));
    }
    let mut p = Policy::new(s.config)?;
    p.tick(s.clock)?;
    p.set_capacity(s.capacity)?;
    for c in s.classes {
        p.upsert_class(c)?;
    }
    p.tree.node_mut(ROOT).usage = s.root_usage;
    for t in s.tenants {
        restore_tenant(&mut p, t)?;
    }
    for r in s.running {
        restore_running(&mut p, r)?;
    }
    for (id, tenant) in s.queued {
        let i = p.leaf(&tenant)?;
        p.tree.node_mut(i).queued += 1;
        p.queued.insert(id, i);
    }
    s.programs.validate()?;
    p.programs = s.programs;
    Ok(p)
}

fn restore_tenant(p: &mut Policy, t: TenantState) -> Result<()> {
    let name = t.spec.name.clone();
    p.add_tenant(t.spec)?;
    let i = p.node_idx(&name)?;
    t.demand.validate("demand")?;
    t.usage.value.validate("usage")?;
    let n = p.tree.node_mut(i);
    n.demand = t.demand;
    n.usage = t.usage;
    n.spent = t.spent;
    if n.bucket.is_some() {
        n.bucket = t.bucket;
    }
    n.last = t.last;
    p.tree.update_capped(i);
    p.tree.mark_stale(i);
    Ok(())
}

fn restore_running(p: &mut Policy, r: Running) -> Result<()> {
    r.resources.validate("running.resources")?;
    let i = p.leaf(&r.tenant)?;
    if p.class(&r.class).is_none() {
        return Err(Error::invalid(
            "running.class",
            format!("unknown class {:?}", r.class),
        ));
    }
    if p.running.contains_key(&r.id) {
        return Err(Error::invalid(
            "running.id",
            format!("duplicate {:?}", r.id),
        ));
    }
    p.account(i, &r, 1.0);
    p.running.insert(r.id.clone(), r);
    Ok(())
}
