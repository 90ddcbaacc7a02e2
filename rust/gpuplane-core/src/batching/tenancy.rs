//! A batching scheduler that shares a policy engine ([`crate::policy`]) with the placement
//! cluster and other schedulers.
//!
//! With an engine attached ([`BatchScheduler::with_policy`]):
//!
//! * a request's tenant must be a leaf of the engine's tree (`InvalidRequest` on `tenant`);
//! * a tenant's fair-share weight is its quota's over-quota weight (floored at
//!   [`MIN_WEIGHT`]), read when the scheduler first sees the tenant and again after any tenant
//!   change in the engine (from the next step on; service already counted keeps its weight);
//! * [`BatchScheduler::add_in_class`] takes a request's priority from an engine priority class;
//! * after each [`BatchScheduler::update`], the tokens each tenant was served in the step
//!   (prompt tokens computed, output tokens generated) are charged to the engine's usage
//!   accounts with [`Policy::charge_tokens`](crate::policy::Policy::charge_tokens), that is in
//!   the engine's weighted-token currency (its `w_in` / `w_out`), at the scheduler's clock.

use super::request::Request;
use super::scheduler::BatchScheduler;
use super::BatchConfig;
use crate::error::{Error, Result};
use crate::policy::{lock, Policy, SharedPolicy};

/// Smallest fair-share weight a tenant gets (an over-quota weight of 0 takes almost nothing).
pub const MIN_WEIGHT: f64 = 1e-6;

/// The attached engine and what has been charged to it.
#[derive(Debug)]
pub(crate) struct PolicyLink {
    engine: SharedPolicy,
    /// Per scheduler tenant: (prompt, output) tokens already charged to the engine.
    charged: Vec<(u64, u64)>,
    /// The engine's [`Policy::spec_version`] the tenants' weights were read at.
    weights_at: u64,
}

impl BatchScheduler {
    /// A scheduler for `cfg` whose tenants, weights and priority classes come from `engine`
    /// and that charges the tokens it serves to the engine's usage accounts (see the
    /// [module docs](self)). `cfg.tenant_weights` must be empty: the engine gives them.
    pub fn with_policy(cfg: BatchConfig, engine: SharedPolicy) -> Result<Self> {
        if !cfg.tenant_weights.is_empty() {
            return Err(Error::invalid(
                "tenant_weights",
                "must be empty when a policy engine gives the tenants",
            ));
        }
        let mut s = Self::new(cfg)?;
        let weights_at = lock(&engine).spec_version();
        s.link = Some(PolicyLink {
            engine,
            charged: Vec::new(),
            weights_at,
        });
        Ok(s)
    }

    /// The attached policy engine, if any.
    pub fn policy_engine(&self) -> Option<&SharedPolicy> {
        self.link.as_ref().map(|l| &l.engine)
    }

    /// Adds a request whose priority is that of the engine's priority class `class`.
    /// `InvalidRequest` on `priority_class` if the class is unknown or no engine is attached.
    pub fn add_in_class(&mut self, mut req: Request, class: &str) -> Result<()> {
        let link = self.link.as_ref().ok_or_else(|| {
            Error::invalid(
                "priority_class",
                "names a priority class but no policy engine is attached",
            )
        })?;
        let value = lock(&link.engine).class(class).map(|c| c.value);
        req.priority = value.ok_or_else(|| {
            Error::invalid(
                "priority_class",
                format!("unknown priority class {class:?}"),
            )
        })?;
        self.add(req)
    }

    /// With an engine attached: `InvalidRequest` on `tenant` unless it is a leaf there.
    pub(crate) fn check_linked_tenant(&self, tenant: &str) -> Result<()> {
        match &self.link {
            Some(l) => lock(&l.engine).leaf(tenant).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The fair-share weight of a tenant seen for the first time.
    pub(crate) fn linked_weight(&self, tenant: &str) -> f64 {
        match &self.link {
            Some(l) => weight_in(&lock(&l.engine), tenant),
            None => 1.0,
        }
    }

    /// Charges the engine what the tenants of the last step were served since the last sync.
    pub(crate) fn sync_usage(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.charged.resize(self.tenant_stats.len(), (0, 0));
        let mut p = lock(&link.engine);
        for &pos in &self.last_runs {
            let t = self.running[pos as usize].tenant as usize;
            let s = &self.tenant_stats[t];
            let (done_in, done_out) = link.charged[t];
            if (s.input_tokens, s.output_tokens) == (done_in, done_out) {
                continue;
            }
            let (d_in, d_out) = (s.input_tokens - done_in, s.output_tokens - done_out);
            // A tenant removed from the engine meanwhile is no longer charged.
            let _ = p.charge_tokens(&self.tenant_names[t], d_in, d_out, self.now);
            link.charged[t] = (s.input_tokens, s.output_tokens);
        }
        if p.spec_version() != link.weights_at {
            link.weights_at = p.spec_version();
            for (t, name) in self.tenant_names.iter().enumerate() {
                self.tenants.set_weight(t as u32, weight_in(&p, name));
            }
        }
    }
}

/// A tenant's fair-share weight in `engine`: its over-quota weight, floored at [`MIN_WEIGHT`]
/// (1 for a tenant the engine no longer has).
fn weight_in(engine: &Policy, tenant: &str) -> f64 {
    let w = engine
        .tenant(tenant)
        .map_or(1.0, |s| s.quota.over_quota_weight);
    w.max(MIN_WEIGHT)
}
