//! `explain(tenant)`: where a node stands and why its last request was queued or rejected.

use serde::{Deserialize, Serialize};

use super::admission::Decision;
use super::engine::Policy;
use super::fairshare::max_ratio;
use super::resources::{Limits, Resources};
use crate::error::Result;

/// A node's standing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The node.
    pub tenant: String,
    /// Its ancestors, top-down, then itself.
    pub path: Vec<String>,
    /// Its fair share now.
    pub fair_share: Resources,
    /// Its guaranteed quota.
    pub guaranteed: Resources,
    /// Its deserved quota.
    pub deserved: Resources,
    /// Its limits.
    pub limit: Limits,
    /// Reported demand (leaves) or capped demand summed (inner nodes), capped by the limit.
    pub demand: Resources,
    /// Resources its subtree holds.
    pub allocated: Resources,
    /// Decayed usage at the time asked.
    pub usage: Resources,
    /// `max_r allocated_r / capacity_r` (DRF).
    pub dominant_share: f64,
    /// `max_r allocated_r / fair_share_r`.
    pub fair_share_ratio: f64,
    /// Held above its deserved quota: `max(0, allocated - deserved)`.
    pub borrowed: Resources,
    /// Deserved quota it leaves for others: `max(0, deserved - max(allocated, guaranteed))`
    /// (unused guarantees are never lent).
    pub lent: Resources,
    /// Cost charged so far, and its budget.
    pub spent: f64,
    /// Its budget, if any.
    pub budget: Option<f64>,
    /// Requests queued (leaves).
    pub queued: u32,
    /// Workloads running (leaves).
    pub running: u32,
    /// Its last admission decision (leaves).
    pub last_decision: Option<Decision>,
    /// A one-paragraph summary.
    pub summary: String,
}

impl Policy {
    /// Explains a node at time `now` (the clock is not advanced).
    pub fn explain(&self, tenant: &str, now: f64) -> Result<Explanation> {
        let i = self.node_idx(tenant)?;
        let n = self.tree.node(i);
        let q = &n.spec.quota;
        let fair_share = self.tree.share_of(i, self.sp());
        let path = self.tree.path(i)[1..]
            .iter()
            .map(|&a| self.tree.node(a).spec.name.clone())
            .collect();
        let mut e = Explanation {
            tenant: tenant.to_owned(),
            path,
            fair_share,
            guaranteed: q.guaranteed,
            deserved: q.deserved,
            limit: q.limit,
            demand: n.capped,
            allocated: n.alloc,
            usage: n.usage.at(now, self.config.half_life_s),
            dominant_share: max_ratio(&n.alloc, &self.capacity),
            fair_share_ratio: max_ratio(&n.alloc, &fair_share),
            borrowed: n.alloc.minus(q.deserved),
            lent: q.deserved.minus(n.alloc.zip(q.guaranteed, f64::max)),
            spent: n.spent,
            budget: n.spec.budget,
            queued: n.queued,
            running: n.running,
            last_decision: n.last.clone(),
            summary: String::new(),
        };
        e.summary = summary(&e);
        Ok(e)
    }
}

fn summary(e: &Explanation) -> String {
    let last = match &e.last_decision {
        Some(d) => format!("last request {:?}: {} ({})", d.request_id, d.reason, d.text),
        None => "no request decided yet".to_owned(),
    };
    format!(
        "{}: fair share {}, allocated {}, dominant share {:.4}, {:.4} of its fair share, borrowed {}, lent {}; {last}",
        e.tenant, e.fair_share, e.allocated, e.dominant_share, e.fair_share_ratio, e.borrowed, e.lent
    )
}
