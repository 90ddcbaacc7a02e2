//! The cluster's attached policy engine: tenants, quotas and priority classes at placement.
//!
//! With an engine attached ([`Cluster::set_policy_engine`]):
//!
//! * a workload's `tenant` must be a leaf of the engine's tree, and a `priority_class` it names
//!   must exist (`InvalidRequest` naming the field otherwise). A named class gives the
//!   workload's priority and preemptibility. A workload without a class keeps its own
//!   `priority` and `preemptible` fields and is accounted in the engine under the class
//!   `default` (preemptible) or `critical` (not preemptible), which must exist.
//! * [`Cluster::place_at`] asks the engine to admit the workload's GPUs
//!   (`gpus = gpu_count`) and GPU memory (`memory_mib = memory_mib * gpu_count`) before it
//!   chooses a node. A queue or reject decision is [`Error::Quota`] with the decision's reason
//!   code and text; nothing is placed, started or queued, and the decision becomes the tenant's
//!   last one in `explain`. Where per-GPU-model quotas apply to the tenant, only GPU models
//!   the engine admits are considered.
//! * A placed workload runs in the engine (under its id, with the GPU model of its node), so
//!   fair shares, dominant shares and usage see it; releasing it (directly, by draining or
//!   removing its node, or by preemption) releases it there and charges its usage.
//! * Preemption plans follow the engine's reclaim laws (see `reclaim.rs`).
//!
//! Time: the `*_at` methods take `now` in seconds (the engine's clock); the plain ones use the
//! engine's latest time. The engine never reads a clock.

use super::choose::Request;
use super::cluster::Cluster;
use super::workload::{Allocation, Workload};
use crate::error::{Error, Result};
use crate::policy::{
    lock, AdmissionRequest, Decision, Policy, Reason, Resources, Running, SharedPolicy,
};

/// A workload's priority class in the engine and its effective priority and preemptibility.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Terms {
    pub class: String,
    pub priority: i32,
    pub preemptible: bool,
}

/// `InvalidRequest` on `now` unless it is finite.
pub(super) fn check_now(now: f64) -> Result<()> {
    if now.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid("now", format!("must be finite, got {now}")))
    }
}

/// The engine's view of a workload's terms; errors name `tenant` or `priority_class`.
pub(super) fn terms(p: &Policy, w: &Workload) -> Result<Terms> {
    p.leaf(&w.tenant)?;
    if let Some(name) = &w.priority_class {
        let c = p.class(name).ok_or_else(|| {
            Error::invalid("priority_class", format!("unknown priority class {name:?}"))
        })?;
        return Ok(Terms {
            class: c.name.clone(),
            priority: c.value,
            preemptible: c.preemptible,
        });
    }
    let class = if w.preemptible { "default" } else { "critical" };
    if p.class(class).is_none() {
        return Err(Error::invalid(
            "priority_class",
            format!("the workload names no class and the policy engine has no {class:?} class"),
        ));
    }
    Ok(Terms {
        class: class.to_owned(),
        priority: w.priority,
        preemptible: w.preemptible,
    })
}

/// What a workload holds in the engine's terms: its GPUs and GPU memory.
pub(super) fn resources_of(w: &Workload) -> Resources {
    Resources::new(
        f64::from(w.gpu_count),
        w.total_memory_mib() as f64,
        0.0,
        0.0,
    )
}

/// The admission request for a workload (no tokens, cost, deadline or queue estimate).
pub(super) fn admission(w: &Workload, terms: &Terms) -> AdmissionRequest {
    let mut r = AdmissionRequest::new(w.id.clone(), w.tenant.clone(), resources_of(w));
    r.class = terms.class.clone();
    r
}

/// The error for a decision that is not an admission.
pub(super) fn quota_error(tenant: &str, d: &Decision) -> Error {
    Error::Quota(format!("tenant {tenant:?}: {}: {}", d.reason, d.text))
}

/// Records a refusal as the tenant's last decision (keeping nothing queued) and returns it as
/// an error.
fn refuse(p: &mut Policy, req: &AdmissionRequest, now: f64) -> Error {
    match p.admit(req, now) {
        Ok(d) => {
            if d.reason == Reason::QueuedQuota {
                let _ = p.cancel(&req.id);
            } else if d.reason.is_admitted() {
                let _ = p.release(&req.id, now);
            }
            quota_error(&req.tenant, &d)
        }
        Err(e) => e,
    }
}

/// Admits a placed workload for real; the caller evaluated it in the same state.
pub(super) fn admit_running(
    p: &mut Policy,
    mut req: AdmissionRequest,
    model: Option<String>,
    now: f64,
) -> Result<()> {
    req.gpu_model = model;
    let d = p.admit(&req, now)?;
    if d.reason.is_admitted() {
        return Ok(());
    }
    if d.reason == Reason::QueuedQuota {
        let _ = p.cancel(&req.id);
    }
    Err(quota_error(&req.tenant, &d))
}

impl Cluster {
    /// Attaches a policy engine (or detaches it with `None`). Workloads already placed are
    /// recorded in the engine as running since `now` (no quota is checked for them); one whose
    /// tenant or class the engine does not know refuses the attachment, which then changes
    /// nothing. Detaching leaves the engine's records as they are.
    pub fn set_policy_engine(&mut self, engine: Option<SharedPolicy>, now: f64) -> Result<()> {
        check_now(now)?;
        if let Some(e) = &engine {
            let mut p = lock(e);
            if !self.allocations.is_empty() {
                let mut trial = p.clone();
                for a in self.allocations.values() {
                    self.adopt_into(&mut trial, a, now)?;
                }
                *p = trial;
            }
        }
        self.engine = engine;
        Ok(())
    }

    /// The attached policy engine, if any.
    pub fn policy_engine(&self) -> Option<&SharedPolicy> {
        self.engine.as_ref()
    }

    /// The attached engine's latest time (0 without one).
    pub(super) fn engine_clock(&self) -> f64 {
        self.engine.as_ref().map_or(0.0, |e| lock(e).clock())
    }

    fn adopt_into(&self, p: &mut Policy, a: &Allocation, now: f64) -> Result<()> {
        let w = &a.workload;
        if let Some(r) = p.running(&w.id) {
            if r.tenant != w.tenant {
                return Err(Error::Conflict(format!(
                    "workload {:?} of tenant {:?} runs in the policy engine for tenant {:?}",
                    w.id, w.tenant, r.tenant
                )));
            }
            return Ok(());
        }
        let t = terms(p, w)?;
        p.adopt(Running {
            id: w.id.clone(),
            tenant: w.tenant.clone(),
            class: t.class,
            resources: resources_of(w),
            gpu_model: self.model_on(a.node, None),
            start: now,
        })
    }

    /// The GPU model a workload gets on `node`: that of the first GPU `req` allows.
    pub(super) fn model_on(&self, node: usize, req: Option<&Request>) -> Option<String> {
        self.inv.node(node).gpus.iter().find_map(|&g| {
            let model = &self.inv.gpu(g).model;
            let id = self.models.get(model.as_str())?;
            let ok = req
                .and_then(|r| r.models.as_ref())
                .is_none_or(|m| m.binary_search(&id).is_ok());
            ok.then(|| model.clone())
        })
    }

    /// Checks a workload's tenant, class and id against the engine without admitting it.
    pub(super) fn check_terms(&self, w: &Workload) -> Result<()> {
        let Some(e) = &self.engine else {
            return no_class_without_engine(w);
        };
        let p = lock(e);
        terms(&p, w)?;
        if p.running(&w.id).is_some() {
            return Err(Error::Conflict(format!(
                "{:?} is already running in the policy engine",
                w.id
            )));
        }
        Ok(())
    }

    /// The quota gate of `place`: the admission request to record once placed, or an error
    /// (`Quota` for a refusal). Narrows `req`'s GPU models to those within per-model quotas.
    pub(super) fn gate(
        &self,
        p: Option<&mut Policy>,
        w: &Workload,
        req: &mut Request,
        now: f64,
    ) -> Result<Option<AdmissionRequest>> {
        let Some(p) = p else {
            return no_class_without_engine(w).map(|_| None);
        };
        let areq = admission(w, &terms(p, w)?);
        let d = p.evaluate(&areq, now)?;
        if !d.reason.is_admitted() {
            return Err(refuse(p, &areq, now));
        }
        if p.has_model_quotas(&w.tenant) {
            self.narrow_models(p, &areq, req, now)?;
        }
        Ok(Some(areq))
    }

    /// Keeps in `req.models` only the GPU models the engine admits the request on.
    fn narrow_models(
        &self,
        p: &mut Policy,
        areq: &AdmissionRequest,
        req: &mut Request,
        now: f64,
    ) -> Result<()> {
        let all: Vec<u32> = match &req.models {
            Some(m) => m.clone(),
            None => self.models.ids().collect(),
        };
        let (mut ok, mut refused) = (Vec::new(), None);
        for id in all {
            let mut r = areq.clone();
            r.gpu_model = Some(self.models.value(id).clone());
            if p.evaluate(&r, now)?.reason.is_admitted() {
                ok.push(id);
            } else {
                refused = Some(r);
            }
        }
        match (ok.is_empty(), refused) {
            (true, Some(r)) => Err(refuse(p, &r, now)),
            _ => {
                req.models = Some(ok);
                Ok(())
            }
        }
    }
}

fn no_class_without_engine(w: &Workload) -> Result<()> {
    if w.priority_class.is_some() {
        return Err(Error::invalid(
            "priority_class",
            "names a priority class but the cluster has no policy engine attached",
        ));
    }
    Ok(())
}
