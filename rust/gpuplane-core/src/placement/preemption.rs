//! Preemption plans: the cheapest set of lower-priority preemptible workloads whose eviction
//! lets a workload fit (fewest victims, then least memory evicted, then lowest node index).
//! Equal or higher priority and non-preemptible work is never proposed. With a policy engine
//! attached, victims are those its reclaim laws allow instead (see `reclaim.rs`): equal
//! priority work may then be reclaimed across tenants, but only where the laws say so.

use serde::{Deserialize, Serialize};

use super::choose::{best_on_node, Request, Scoring};
use super::cluster::{selector_ok, Cluster};
use super::policy::PolicyKind;
use super::reclaim::{grow, stale_by_laws, Reclaim};
use super::tenancy::{admit_running, check_now};
use super::view::NodeView;
use super::workload::{Allocation, Placement, Workload};
use crate::error::{Error, Result};
use crate::policy::{lock, AdmissionRequest};

/// Victim sets up to this size are searched exhaustively; larger ones greedily.
const EXACT_MAX_VICTIMS: usize = 3;
/// Bound on subsets tried per node and size before falling back to the greedy search.
const EXACT_MAX_SUBSETS: usize = 20_000;

/// A proposal to evict `victims` from `node` so that `workload` fits there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreemptionPlan {
    pub workload: Workload,
    pub node: String,
    pub victims: Vec<String>,
    pub evicted_memory_mib: u64,
    pub reason: String,
}

impl Cluster {
    /// The cheapest plan at the attached policy engine's latest time (see
    /// [`Cluster::preemption_plan_at`]).
    pub fn preemption_plan(&self, w: &Workload) -> Result<Option<PreemptionPlan>> {
        self.preemption_plan_at(w, self.engine_clock())
    }

    /// The cheapest plan at time `now`, or `None` if no eviction of allowed victims makes `w`
    /// fit. With a policy engine attached, `Quota` if the engine rejects `w` outright.
    pub fn preemption_plan_at(&self, w: &Workload, now: f64) -> Result<Option<PreemptionPlan>> {
        check_now(now)?;
        let mut req = self.request_of(w)?;
        let guard = self.engine.as_ref().map(lock);
        let rc = match guard.as_deref() {
            Some(p) => Some(Reclaim::new(p, w, now)?),
            None => {
                self.gate(None, w, &mut req, now)?;
                None
            }
        };
        let mut best: Option<(usize, u64, usize, Vec<String>)> = None;
        for (idx, _) in self.inv.live_nodes() {
            if let Some((victims, mem)) = self.node_plan(idx, w, &req, rc.as_ref()) {
                let key = (victims.len(), mem, idx);
                if best.as_ref().is_none_or(|b| key < (b.0, b.1, b.2)) {
                    best = Some((key.0, key.1, key.2, victims));
                }
            }
        }
        Ok(best.map(|(n, mem, idx, victims)| PreemptionPlan {
            workload: w.clone(),
            node: self.inv.node(idx).name.clone(),
            reason: format!(
                "evict {n} lower-priority preemptible workload(s) ({mem} MiB GPU memory) on {:?}, the fewest victims then least memory",
                self.inv.node(idx).name
            ),
            victims,
            evicted_memory_mib: mem,
        }))
    }

    /// The cheapest victim set on one node, if any.
    fn node_plan(
        &self,
        idx: usize,
        w: &Workload,
        req: &Request,
        rc: Option<&Reclaim>,
    ) -> Option<(Vec<String>, u64)> {
        if !selector_ok(
            self.labelsets.value(self.node_labels[idx]),
            &w.node_selector,
        ) {
            return None;
        }
        let mut cands: Vec<&Allocation> = self.node_workloads[idx]
            .iter()
            .map(|id| &self.allocations[id])
            .filter(|a| rc.map_or_else(|| may_evict(a, w), |rc| rc.may_evict(a)))
            .collect();
        cands.sort_by(|a, b| {
            let key = |x: &Allocation| (x.workload.total_memory_mib(), u64::MAX - x.seq);
            key(a).cmp(&key(b))
        });
        let fits = |set: &[&Allocation]| self.fits_without(idx, req, set);
        if !fits(&cands) {
            return None;
        }
        let chosen = match rc {
            None => exact_search(&cands, &fits).unwrap_or_else(|| greedy_search(&cands, &fits)),
            Some(rc) => {
                let model = self.model_on(idx, Some(req));
                let ok = |set: &[&Allocation]| {
                    fits(set) && rc.allows(set) && rc.admits_after(set, model.clone())
                };
                let lawful = |set: &[&Allocation]| rc.lawful(set).is_some();
                exact_search(&cands, &ok).or_else(|| grow(&cands, &ok, &lawful))?
            }
        };
        let mem = chosen.iter().map(|a| a.workload.total_memory_mib()).sum();
        Some((chosen.iter().map(|a| a.workload.id.clone()).collect(), mem))
    }

    /// Whether `req` fits on node `idx` once `victims` are gone.
    fn fits_without(&self, idx: usize, req: &Request, victims: &[&Allocation]) -> bool {
        let view = self.view_without(idx, victims);
        let mut scoring = Scoring {
            policy: PolicyKind::FirstFit,
            mode: super::policy::ScoreMode::Native,
            shapes: &[],
            rng: None,
        };
        best_on_node(&view, req, &[], &mut scoring).is_some()
    }

    /// The node as it would be without `victims`. Free memory is recomputed from the raw
    /// usage, since the saturated free figure hides over-commit by external usage.
    fn view_without(&self, idx: usize, victims: &[&Allocation]) -> NodeView {
        let mut view = self.node_view(idx);
        let node = self.inv.node(idx);
        let mut freed = vec![(0u64, 0u32); node.gpus.len()];
        for a in victims {
            for g in &a.gpus {
                let p = node
                    .gpus
                    .iter()
                    .position(|x| x == g)
                    .expect("victim GPU is on its node");
                freed[p].0 += a.workload.memory_mib;
                freed[p].1 += a.workload.compute_milli;
            }
            view.cpu_free += a.workload.cpu_milli;
            view.mem_free += a.workload.host_memory_mib;
        }
        for (p, &(mem, milli)) in freed.iter().enumerate() {
            let gpu = self.inv.gpu(node.gpus[p]);
            view.gpus[p].mem_free = gpu
                .memory_mib
                .saturating_sub(gpu.used_mib - mem + gpu.external_mib);
            view.gpus[p].milli_free = gpu.compute_milli - (gpu.used_milli - milli);
        }
        view
    }

    /// Executes a plan at the attached policy engine's latest time (see
    /// [`Cluster::preempt_at`]).
    pub fn preempt(&mut self, plan: &PreemptionPlan) -> Result<(Placement, Vec<Placement>)> {
        let now = self.engine_clock();
        self.preempt_at(plan, now)
    }

    /// Executes a plan at time `now`: evicts its victims and places its workload on its node.
    /// Fails with `Conflict` and changes nothing if the plan no longer holds (with a policy
    /// engine: if its laws no longer allow the victims, or it would not admit the workload once
    /// they are gone).
    pub fn preempt_at(
        &mut self,
        plan: &PreemptionPlan,
        now: f64,
    ) -> Result<(Placement, Vec<Placement>)> {
        check_now(now)?;
        let req = self.request_of(&plan.workload)?;
        let idx = self.inv.node_idx(&plan.node)?;
        let engine = self.engine.clone();
        let mut guard = engine.as_ref().map(lock);
        let admit = self.check_plan(plan, idx, &req, guard.as_deref(), now)?;
        let evicted = plan
            .victims
            .iter()
            .map(|v| self.release_with(v, guard.as_deref_mut(), now))
            .collect::<Result<Vec<_>>>()?;
        let placed = self.place_on(plan.workload.clone(), &req, idx);
        if let (Some(p), Some((areq, model))) = (guard.as_deref_mut(), admit) {
            admit_running(p, areq, model, now)?;
        }
        Ok((placed, evicted))
    }

    /// Checks that a plan still holds; with an engine, returns the admission to record (with
    /// the node's GPU model) once the victims are gone.
    fn check_plan(
        &self,
        plan: &PreemptionPlan,
        idx: usize,
        req: &Request,
        engine: Option<&crate::policy::Policy>,
        now: f64,
    ) -> Result<Option<(AdmissionRequest, Option<String>)>> {
        let rc = engine
            .map(|p| Reclaim::new(p, &plan.workload, now))
            .transpose()?;
        let victims = self.check_victims(plan, idx, rc.as_ref())?;
        if !self.fits_without(idx, req, &victims) {
            return Err(Error::Conflict(format!(
                "stale plan: {:?} no longer fits on {:?} after evicting {:?}",
                plan.workload.id, plan.node, plan.victims
            )));
        }
        let Some(rc) = rc else { return Ok(None) };
        if !rc.allows(&victims) {
            return Err(stale_by_laws(&plan.victims));
        }
        let model = self.model_on(idx, Some(req));
        let d = rc.decide_after(&victims, model.clone())?;
        if !d.reason.is_admitted() {
            return Err(Error::Conflict(format!(
                "stale plan: once {:?} are evicted the policy engine would not admit {:?}: {}",
                plan.victims, plan.workload.id, d.text
            )));
        }
        Ok(Some((rc.preemptor, model)))
    }

    fn check_victims(
        &self,
        plan: &PreemptionPlan,
        idx: usize,
        rc: Option<&Reclaim>,
    ) -> Result<Vec<&Allocation>> {
        plan.victims
            .iter()
            .map(|v| {
                let a = self
                    .allocations
                    .get(v)
                    .ok_or_else(|| Error::Conflict(format!("stale plan: victim {v:?} is no longer placed")))?;
                if a.node != idx {
                    return Err(Error::Conflict(format!("stale plan: victim {v:?} is not on {:?}", plan.node)));
                }
                if rc.is_some_and(|rc| !rc.may_evict(a)) {
                    return Err(stale_by_laws(&plan.victims));
                }
                if rc.is_none() && !may_evict(a, &plan.workload) {
                    return Err(Error::Conflict(format!(
                        "victim {v:?} (priority {}, preemptible {}) may not be preempted by priority {}",
                        a.workload.priority, a.workload.preemptible, plan.workload.priority
                    )));
                }
                Ok(a)
            })
            .collect()
    }
}

/// Only strictly lower-priority, preemptible work may be evicted.
fn may_evict(victim: &Allocation, by: &Workload) -> bool {
    victim.workload.preemptible && victim.workload.priority < by.priority
}

/// Fewest victims by exhaustive search over small subsets (sorted by memory, so the first
/// fitting subset of a size is usually the lightest; all of a size are checked to be sure).
fn exact_search<'a>(
    cands: &[&'a Allocation],
    fits: &dyn Fn(&[&Allocation]) -> bool,
) -> Option<Vec<&'a Allocation>> {
    for size in 0..=EXACT_MAX_VICTIMS.min(cands.len()) {
        let mut best: Option<(u64, Vec<usize>)> = None;
        let mut tried = 0;
        let mut combo: Vec<usize> = (0..size).collect();
        loop {
            tried += 1;
            if tried > EXACT_MAX_SUBSETS {
                return None;
            }
            let set: Vec<&Allocation> = combo.iter().map(|&i| cands[i]).collect();
            let mem: u64 = set.iter().map(|a| a.workload.total_memory_mib()).sum();
            if best.as_ref().is_none_or(|b| mem < b.0) && fits(&set) {
                best = Some((mem, combo.clone()));
            }
            if !next_combination(&mut combo, cands.len()) {
                break;
            }
        }
        if let Some((_, combo)) = best {
            return Some(combo.iter().map(|&i| cands[i]).collect());
        }
    }
    None
}

/// Advances `combo` to the next k-subset of `0..n` in lexicographic order.
fn next_combination(combo: &mut [usize], n: usize) -> bool {
    let k = combo.len();
    for i in (0..k).rev() {
        if combo[i] < n - k + i {
            combo[i] += 1;
            for j in i + 1..k {
                combo[j] = combo[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

/// Start from evicting everything allowed, then spare victims, heaviest first, while it still fits.
fn greedy_search<'a>(
    cands: &[&'a Allocation],
    fits: &dyn Fn(&[&Allocation]) -> bool,
) -> Vec<&'a Allocation> {
    let mut chosen: Vec<&Allocation> = cands.to_vec();
    for i in (0..cands.len()).rev() {
        let trial: Vec<&Allocation> = chosen
            .iter()
            .copied()
            .filter(|a| a.workload.id != cands[i].workload.id)
            .collect();
        if fits(&trial) {
            chosen = trial;
        }
    }
    chosen
}
