//! Preemption under an attached policy engine: victims are filtered through the engine's
//! reclaim laws (see [`crate::policy::reclaim`]).
//!
//! A workload `w` may evict a set `S` of workloads on one node when
//!
//! * each victim is preemptible and of effective priority at most `w`'s (never higher), and
//!   the engine allows `w` to preempt it on its own ([`Policy::check_preemption`]: lower class
//!   priority, or equal priority only to reclaim `w`'s tenant's own deserved quota from
//!   borrowed work; never below a guarantee; no loops; minimum run time);
//! * the whole set, in eviction order, keeps every law and the collateral bound
//!   ([`Policy::check_victim_set`]);
//! * it frees what the engine says `w` needs beyond its tenant's headroom
//!   ([`Policy::needed_for`]), and `w` fits on the node once `S` is gone;
//! * the engine admits `w` (on the node's GPU model) once `S` is released
//!   ([`Reclaim::admits_after`]): freeing `needed` is not enough by itself, since what a
//!   victim frees may stay reserved for its tenant's now idle guarantee. The plan search and
//!   the execution of a plan apply this same test, so a proposed plan is never refused as
//!   stale unless the state changed in between;
//! * no tenant, at any level of the tree, ends below the smaller of its allocation before and
//!   its guarantee, counting both what `S` evicts and what placing `w` adds (law 3 of
//!   [`crate::policy::reclaim`]; checked by [`Policy::check_victim_set`]).
//!
//! A preemptor the engine rejects outright (limit, rate, budget, deadline, queue cap) gets no
//! plan but `Error::Quota`.

use super::tenancy::{admission, quota_error, terms};
use super::workload::{Allocation, Workload};
use crate::error::{Error, Result};
use crate::policy::{AdmissionRequest, Decision, Policy, Resources, Running};

/// What the engine says about one preemptor at one time.
pub(super) struct Reclaim<'a> {
    pub policy: &'a Policy,
    pub preemptor: AdmissionRequest,
    /// The preemptor's effective priority.
    priority: i32,
    /// What must be freed, in the engine's terms.
    needed: Resources,
    pub now: f64,
}

impl<'a> Reclaim<'a> {
    /// The context for preemptor `w` at `now`; `Quota` if the engine rejects `w` outright.
    pub fn new(policy: &'a Policy, w: &Workload, now: f64) -> Result<Self> {
        let t = terms(policy, w)?;
        let preemptor = admission(w, &t);
        let d = policy.evaluate(&preemptor, now)?;
        if d.reason.is_rejected() {
            return Err(quota_error(&w.tenant, &d));
        }
        let needed = policy
            .needed_for(&preemptor)
            .map_err(|r| Error::invalid("tenant", r.text))?;
        Ok(Reclaim {
            policy,
            preemptor,
            priority: t.priority,
            needed,
            now: now.max(policy.clock()),
        })
    }

    fn running(&self, a: &Allocation) -> Option<&'a Running> {
        self.policy.running(&a.workload.id)
    }

    /// Whether `a` may be a victim at all (see the module docs).
    pub fn may_evict(&self, a: &Allocation) -> bool {
        let Some(r) = self.running(a) else {
            return false;
        };
        let Ok(t) = terms(self.policy, &a.workload) else {
            return false;
        };
        t.preemptible
            && t.priority <= self.priority
            && self
                .policy
                .check_preemption(&self.preemptor, r, self.now)
                .is_ok()
    }

    /// What evicting `set` (in order) frees, if every law holds for it.
    pub fn lawful(&self, set: &[&Allocation]) -> Option<Resources> {
        let runs: Option<Vec<&Running>> = set.iter().map(|a| self.running(a)).collect();
        self.policy
            .check_victim_set(&self.preemptor, &runs?, self.now)
            .ok()
    }

    /// Whether evicting `set` is lawful and frees what the preemptor needs.
    pub fn allows(&self, set: &[&Allocation]) -> bool {
        self.lawful(set).is_some_and(|freed| self.needed.le(&freed))
    }

    /// The engine's decision on the preemptor (on GPU model `model`) once `set` is evicted:
    /// the one test both the plan search and [`Cluster::preempt_at`] apply, so that no plan is
    /// proposed that executing it would refuse.
    ///
    /// [`Cluster::preempt_at`]: super::cluster::Cluster::preempt_at
    pub fn decide_after(&self, set: &[&Allocation], model: Option<String>) -> Result<Decision> {
        let mut trial = self.policy.clone();
        for a in set {
            trial.release(&a.workload.id, self.now)?;
        }
        let mut areq = self.preemptor.clone();
        areq.gpu_model = model;
        trial.evaluate(&areq, self.now)
    }

    /// Whether the engine admits the preemptor once `set` is evicted (see
    /// [`Reclaim::decide_after`]).
    pub fn admits_after(&self, set: &[&Allocation], model: Option<String>) -> bool {
        self.decide_after(set, model)
            .is_ok_and(|d| d.reason.is_admitted())
    }
}

/// The rejection of an executed plan whose laws no longer hold.
pub(super) fn stale_by_laws(victims: &[String]) -> Error {
    Error::Conflict(format!(
        "stale plan: the policy engine's reclaim laws no longer allow evicting {victims:?}"
    ))
}

/// Adds candidates in order while the laws hold until `ok`, then spares victims (heaviest
/// first) that `ok` does not need. `None` if no lawful prefix is `ok`.
pub(super) fn grow<'a>(
    cands: &[&'a Allocation],
    ok: &dyn Fn(&[&Allocation]) -> bool,
    lawful: &dyn Fn(&[&Allocation]) -> bool,
) -> Option<Vec<&'a Allocation>> {
    let mut chosen: Vec<&Allocation> = Vec::new();
    for &c in cands {
        if ok(&chosen) {
            break;
        }
        chosen.push(c);
        if !lawful(&chosen) {
            chosen.pop();
        }
    }
    if !ok(&chosen) {
        return None;
    }
    for i in (0..chosen.len()).rev() {
        let mut trial = chosen.clone();
        trial.remove(i);
        if ok(&trial) {
            chosen = trial;
        }
    }
    Some(chosen)
}
