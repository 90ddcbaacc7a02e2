//! Preemption and reclaim, by stated laws. Each law is a predicate below; a preemption of
//! victim `v` by preemptor `p` is allowed only if all hold. Let `L` be the lowest common
//! ancestor of the two tenants, `cP` / `cV` the children of `L` on each side (absent for the
//! same tenant), and `share(n, x) = max_r x_r / deserved_r(n)` (`0/0 = 0`, `x/0 = inf`).
//! Evictions earlier in the same plan count as already done.
//!
//! 1. **Preemptible**: `v`'s class is preemptible ([`law_preemptible`]).
//! 2. **Priority**: `prio(v) < prio(p)`, or `prio(v) == prio(p)`, different tenants, and the
//!    preemption reclaims `p`'s own deserved quota: on `p`'s side below `L`,
//!    `alloc + request <= deserved`, and on `v`'s side below `L`, `alloc - v >= deserved` for
//!    what `v` holds (only borrowed work is reclaimed) ([`law_priority`], [`law_floor`]).
//! 3. **Guarantee**: on `v`'s side below `L`, `alloc - v >= guaranteed` for every resource `v`
//!    holds: no tenant is pushed below its guarantee ([`law_floor`]). And for a whole plan
//!    (victims `S`, preemptor `p`), counting what it evicts *and* what it places: for every
//!    tenant `n` (leaves, inner nodes, `L` and its ancestors included; also when `p` and a
//!    victim are the same tenant) and every resource `r`,
//!    `alloc_r(n) - evicted_r(n, S) + placed_r(n, p) >= min(alloc_r(n), guaranteed_r(n))`,
//!    where `evicted_r(n, S)` sums `S` over `n`'s subtree and `placed_r(n, p)` is `p`'s request
//!    if `p`'s tenant is in `n`'s subtree, else 0. A plan never leaves a tenant below the
//!    smaller of its allocation before and its guarantee ([`law_net_floor`]).
//! 4. **No loops**: `(share(cP, alloc(cP) + request), cP) <= (share(cV, alloc(cV)), cV)`,
//!    compared as (share, name): the preemptor's share after is at most the victim's share
//!    before, ties broken by name ([`law_no_loop`]). Each allowed preemption lowers the
//!    vector of (share, name) pairs at `L`'s children's depth in lexicographic order, so no
//!    sequence of preemptions can return to a previous state.
//! 5. **Collateral**: memory evicted by one plan `<= collateral_factor * memory requested`
//!    ([`law_collateral`]).
//! 6. **Minimum run time**: `now - start(v) >= min_runtime_s` ([`law_min_runtime`]).
//!
//! Every resource a workload holds counts: a resource with `deserved = 0` makes any use of it
//! borrowed, so configure deserved quota for each resource the workloads request.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::admission::AdmissionRequest;
use super::classes::PriorityClass;
use super::engine::{Policy, Running};
use super::fairshare::max_ratio;
use super::resources::{approx_le, Resource, Resources};
use super::tree::ROOT;

/// Why a preemption or reclaim is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RefusalCode {
    /// A tenant is unknown or not a leaf.
    UnknownTenant,
    /// A class is unknown.
    UnknownClass,
    /// The victim's class is not preemptible.
    NotPreemptible,
    /// The victim's priority is not lower, and this is no reclaim of own deserved quota.
    NotLowerPriority,
    /// Equal priority, but the preemptor would exceed its deserved quota.
    NotOwnDeserved,
    /// Equal priority, but the victim's tenant would drop below its deserved quota.
    NotBorrowed,
    /// The victim's tenant would drop below its guarantee.
    BelowGuarantee,
    /// The preemptor's share after would exceed the victim's share before.
    ShareLoop,
    /// The victim started less than the minimum run time ago.
    MinRunTime,
    /// Evicting it would exceed the collateral bound.
    Collateral,
    /// The preemptor cannot run even with every allowed eviction (or needs none).
    Insufficient,
}

/// A refusal with its code and text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The law that refused.
    pub code: RefusalCode,
    /// Why, in words.
    pub text: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.text)
    }
}

fn refuse<T>(code: RefusalCode, text: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        code,
        text: text.into(),
    })
}

/// An allowed set of victims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReclaimPlan {
    /// Victim ids, in eviction order.
    pub victims: Vec<String>,
    /// Resources the evictions free.
    pub freed: Resources,
    /// What the preemptor needed freed.
    pub needed: Resources,
    /// Why these victims.
    pub reason: String,
}

/// Law 1: only preemptible work is preempted.
pub fn law_preemptible(victim: &PriorityClass) -> bool {
    victim.preemptible
}

/// Law 2 (first half): lower priority, or equal priority across tenants when reclaiming own
/// deserved quota.
pub fn law_priority(
    p: &PriorityClass,
    v: &PriorityClass,
    same_tenant: bool,
    reclaims_deserved: bool,
) -> bool {
    v.value < p.value || (v.value == p.value && !same_tenant && reclaims_deserved)
}

/// Laws 2 and 3: for every resource the victim holds, `alloc - evicted >= floor`.
pub fn law_floor(alloc: &Resources, evicted: &Resources, floor: &Resources) -> bool {
    Resource::ALL
        .into_iter()
        .all(|r| evicted.get(r) <= 0.0 || approx_le(floor.get(r), alloc.get(r) - evicted.get(r)))
}

/// Law 3 for a whole plan: for every resource, `after >= min(before, guaranteed)`.
pub fn law_net_floor(before: &Resources, after: &Resources, guaranteed: &Resources) -> bool {
    Resource::ALL
        .into_iter()
        .all(|r| approx_le(before.get(r).min(guaranteed.get(r)), after.get(r)))
}

/// Law 4: `(share_after_p, p) <= (share_before_v, v)` in (share, name) order.
pub fn law_no_loop(share_after_p: f64, p: &str, share_before_v: f64, v: &str) -> bool {
    share_after_p < share_before_v || (share_after_p == share_before_v && p <= v)
}

/// Law 5: `evicted_memory <= factor * requested_memory`.
pub fn law_collateral(evicted_memory: f64, requested_memory: f64, factor: f64) -> bool {
    approx_le(evicted_memory, factor * requested_memory)
}

/// Law 6: `now - start >= min_runtime`.
pub fn law_min_runtime(start: f64, now: f64, min_runtime: f64) -> bool {
    now - start >= min_runtime
}

/// Evictions already in a plan, per tree node (summed over its subtree).
type Evicted = BTreeMap<usize, Resources>;

impl Policy {
    fn class_of(&self, name: &str) -> Result<&PriorityClass, Refusal> {
        match self.classes.get(name) {
            Some(c) => Ok(c),
            None => refuse(RefusalCode::UnknownClass, format!("unknown class {name:?}")),
        }
    }

    fn leaf_of(&self, tenant: &str) -> Result<usize, Refusal> {
        match self.leaf(tenant) {
            Ok(i) => Ok(i),
            Err(e) => refuse(RefusalCode::UnknownTenant, e.to_string()),
        }
    }

    /// Whether `p` may preempt `v` at `now` (all laws, with no other eviction planned).
    pub fn check_preemption(
        &self,
        p: &AdmissionRequest,
        v: &Running,
        now: f64,
    ) -> Result<(), Refusal> {
        self.check_victim(p, v, now, &Evicted::new())
    }

    fn check_victim(
        &self,
        p: &AdmissionRequest,
        v: &Running,
        now: f64,
        ev: &Evicted,
    ) -> Result<(), Refusal> {
        let (pc, vc) = (self.class_of(&p.class)?, self.class_of(&v.class)?);
        let (pl, vl) = (self.leaf_of(&p.tenant)?, self.leaf_of(&v.tenant)?);
        if !law_preemptible(vc) {
            return refuse(
                RefusalCode::NotPreemptible,
                format!("{:?} is in non-preemptible class {:?}", v.id, vc.name),
            );
        }
        if !law_min_runtime(v.start, now, self.config.min_runtime_s) {
            return refuse(
                RefusalCode::MinRunTime,
                format!(
                    "{:?} started {:.1} s ago, under the minimum run time",
                    v.id,
                    now - v.start
                ),
            );
        }
        let (p_side, v_side) = self.sides(pl, vl);
        let reclaim = vc.value == pc.value;
        if !law_priority(pc, vc, pl == vl, true) {
            return refuse(
                RefusalCode::NotLowerPriority,
                format!("{:?} has priority {} >= {}", v.id, vc.value, pc.value),
            );
        }
        if reclaim {
            self.check_own_deserved(p, &p_side)?;
        }
        self.check_floors(v, &v_side, ev, reclaim)?;
        self.check_no_loop(p, &p_side, &v_side, ev)
    }

    /// The nodes strictly below the lowest common ancestor on each side, top-down.
    fn sides(&self, a: usize, b: usize) -> (Vec<usize>, Vec<usize>) {
        let (pa, pb) = (self.tree.path(a), self.tree.path(b));
        let common = pa.iter().zip(&pb).take_while(|(x, y)| x == y).count();
        (pa[common..].to_vec(), pb[common..].to_vec())
    }

    fn check_own_deserved(&self, p: &AdmissionRequest, p_side: &[usize]) -> Result<(), Refusal> {
        for &n in p_side {
            let node = self.tree.node(n);
            let after = node.alloc.plus(p.resources);
            let within = Resource::ALL.into_iter().all(|r| {
                p.resources.get(r) <= 0.0
                    || approx_le(after.get(r), node.spec.quota.deserved.get(r))
            });
            if !within {
                return refuse(RefusalCode::NotOwnDeserved, format!("equal priority reclaims only deserved quota; {:?} would exceed its deserved", node.spec.name));
            }
        }
        Ok(())
    }

    fn check_floors(
        &self,
        v: &Running,
        v_side: &[usize],
        ev: &Evicted,
        reclaim: bool,
    ) -> Result<(), Refusal> {
        for &n in v_side {
            let node = self.tree.node(n);
            let alloc = node.alloc.minus(ev.get(&n).copied().unwrap_or_default());
            let q = &node.spec.quota;
            if !law_floor(&alloc, &v.resources, &q.guaranteed) {
                return refuse(
                    RefusalCode::BelowGuarantee,
                    format!(
                        "evicting {:?} would push {:?} below its guarantee",
                        v.id, node.spec.name
                    ),
                );
            }
            if reclaim && !law_floor(&alloc, &v.resources, &q.deserved) {
                return refuse(
                    RefusalCode::NotBorrowed,
                    format!(
                        "{:?} is not borrowed: {:?} would drop below its deserved quota",
                        v.id, node.spec.name
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_no_loop(
        &self,
        p: &AdmissionRequest,
        p_side: &[usize],
        v_side: &[usize],
        ev: &Evicted,
    ) -> Result<(), Refusal> {
        let (Some(&cp), Some(&cv)) = (p_side.first(), v_side.first()) else {
            return Ok(());
        };
        let (np, nv) = (self.tree.node(cp), self.tree.node(cv));
        let p_after = max_ratio(&np.alloc.plus(p.resources), &np.spec.quota.deserved);
        let v_alloc = nv.alloc.minus(ev.get(&cv).copied().unwrap_or_default());
        let v_before = max_ratio(&v_alloc, &nv.spec.quota.deserved);
        if law_no_loop(p_after, &np.spec.name, v_before, &nv.spec.name) {
            return Ok(());
        }
        refuse(RefusalCode::ShareLoop, format!("{:?}'s share after ({p_after:.4}) would exceed {:?}'s share before ({v_before:.4})", np.spec.name, nv.spec.name))
    }

    /// Whether evicting `victims`, in the order given, is allowed for `p` at `now`: every law
    /// holds for each victim given the ones before it, and their memory stays within the
    /// collateral bound. Returns what they free. Used by callers that choose victims by their
    /// own criteria (the placement engine chooses by node fit).
    pub fn check_victim_set(
        &self,
        p: &AdmissionRequest,
        victims: &[&Running],
        now: f64,
    ) -> Result<Resources, Refusal> {
        let requested = p.resources.get(Resource::MemoryMib);
        let mut ev = Evicted::new();
        let mut mem = 0.0;
        for &v in victims {
            mem += v.resources.get(Resource::MemoryMib);
            if !law_collateral(mem, requested, self.config.collateral_factor) {
                return refuse(
                    RefusalCode::Collateral,
                    format!("evicting {:?} would exceed the collateral bound", v.id),
                );
            }
            self.check_victim(p, v, now, &ev)?;
            self.add_evicted(&mut ev, v);
        }
        self.check_net_floors(p, &ev)?;
        Ok(sum(victims))
    }

    /// Law 3 for a whole plan: with `ev` evicted and `p` placed, no tenant ends below the
    /// smaller of its allocation before and its guarantee. Only tenants something is evicted
    /// from can lose allocation, so only those are checked.
    fn check_net_floors(&self, p: &AdmissionRequest, ev: &Evicted) -> Result<(), Refusal> {
        let pl = self.leaf_of(&p.tenant)?;
        let p_path = self.tree.path(pl);
        for (&n, e) in ev {
            let node = self.tree.node(n);
            let mut after = node.alloc.minus(*e);
            if p_path.contains(&n) {
                after = after.plus(p.resources);
            }
            if !law_net_floor(&node.alloc, &after, &node.spec.quota.guaranteed) {
                return refuse(
                    RefusalCode::BelowGuarantee,
                    format!(
                        "the plan (its evictions and {:?} placed) would leave {:?} below its guarantee",
                        p.id, node.spec.name
                    ),
                );
            }
        }
        Ok(())
    }

    /// What `p` needs freed to run now: `max(0, request - headroom)` per resource, where the
    /// headroom is capacity not allocated and not held by others' idle guarantees, within
    /// limits. `Err` if `p`'s tenant is unknown.
    pub fn needed_for(&self, p: &AdmissionRequest) -> Result<Resources, Refusal> {
        let leaf = self.leaf_of(&p.tenant)?;
        let path = self.tree.path(leaf);
        let mut headroom = self.capacity.minus(self.tree.node(ROOT).alloc);
        for w in path.windows(2) {
            headroom = self.child_headroom(w[0], w[1], headroom);
        }
        Ok(p.resources.minus(headroom))
    }

    /// The allowed, cheapest set of `candidates` to evict so that `p` can run at `now`:
    /// candidates are taken lowest priority first, then least memory, then newest, then id,
    /// each only if every law holds given those before it; victims that turn out unneeded are
    /// dropped again (largest first).
    pub fn reclaim_plan(
        &self,
        p: &AdmissionRequest,
        candidates: &[Running],
        now: f64,
    ) -> Result<ReclaimPlan, Refusal> {
        let needed = self.needed_for(p)?;
        self.reclaim_plan_for(p, needed, candidates, now)
    }

    /// [`Policy::reclaim_plan`] with an explicit amount to free (for callers that know their
    /// own free capacity, such as a node-level placement search).
    pub fn reclaim_plan_for(
        &self,
        p: &AdmissionRequest,
        needed: Resources,
        candidates: &[Running],
        now: f64,
    ) -> Result<ReclaimPlan, Refusal> {
        if needed.is_zero() {
            return refuse(RefusalCode::Insufficient, "nothing needs to be freed");
        }
        let mut order: Vec<&Running> = candidates.iter().collect();
        let key = |r: &Running| self.classes.get(&r.class).map_or(i32::MIN, |c| c.value);
        order.sort_by(|a, b| {
            key(a)
                .cmp(&key(b))
                .then(
                    a.resources
                        .get(Resource::MemoryMib)
                        .total_cmp(&b.resources.get(Resource::MemoryMib)),
                )
                .then(b.start.total_cmp(&a.start))
                .then(a.id.cmp(&b.id))
        });
        let (chosen, last_refusal) = self.greedy(p, needed, &order, now)?;
        let freed = sum(&chosen);
        if !needed.le(&freed) {
            let why = last_refusal.map_or("not enough preemptible work".into(), |r| r.to_string());
            return refuse(
                RefusalCode::Insufficient,
                format!("cannot free {needed:?}: {why}"),
            );
        }
        let chosen = prune(chosen, needed);
        let mut ev = Evicted::new();
        for &v in &chosen {
            self.add_evicted(&mut ev, v);
        }
        self.check_net_floors(p, &ev)?;
        Ok(ReclaimPlan {
            victims: chosen.iter().map(|r| r.id.clone()).collect(),
            freed: sum(&chosen),
            needed,
            reason: format!(
                "evict {} workload(s), lowest priority then least memory, every law holding",
                chosen.len()
            ),
        })
    }

    #[allow(clippy::type_complexity)]
    fn greedy<'a>(
        &self,
        p: &AdmissionRequest,
        needed: Resources,
        order: &[&'a Running],
        now: f64,
    ) -> Result<(Vec<&'a Running>, Option<Refusal>), Refusal> {
        self.class_of(&p.class)?;
        self.leaf_of(&p.tenant)?;
        let budget = self.config.collateral_factor * p.resources.get(Resource::MemoryMib);
        let (mut chosen, mut ev, mut mem, mut last) = (Vec::new(), Evicted::new(), 0.0, None);
        for &v in order {
            if needed.le(&sum(&chosen)) {
                break;
            }
            if chosen.iter().any(|c: &&Running| c.id == v.id) {
                continue;
            }
            let m = v.resources.get(Resource::MemoryMib);
            if !law_collateral(
                mem + m,
                p.resources.get(Resource::MemoryMib),
                self.config.collateral_factor,
            ) {
                last = Some(Refusal {
                    code: RefusalCode::Collateral,
                    text: format!("evicting {:?} would exceed {budget} MiB", v.id),
                });
                continue;
            }
            match self.check_victim(p, v, now, &ev) {
                Ok(()) => {
                    mem += m;
                    self.add_evicted(&mut ev, v);
                    chosen.push(v);
                }
                Err(r) => last = Some(r),
            }
        }
        Ok((chosen, last))
    }

    fn add_evicted(&self, ev: &mut Evicted, v: &Running) {
        if let Some(vl) = self.tree.lookup(&v.tenant) {
            for n in self.tree.ancestors(vl) {
                let e = ev.entry(n).or_default();
                *e = e.plus(v.resources);
            }
        }
    }
}

fn sum(rs: &[&Running]) -> Resources {
    rs.iter().fold(Resources::ZERO, |a, r| a.plus(r.resources))
}

/// Drops victims not needed to cover `needed`, trying the largest (by memory) first.
fn prune(mut chosen: Vec<&Running>, needed: Resources) -> Vec<&Running> {
    let mut by_size: Vec<usize> = (0..chosen.len()).collect();
    by_size.sort_by(|&a, &b| {
        let m = |i: usize| chosen[i].resources.get(Resource::MemoryMib);
        m(b).total_cmp(&m(a)).then(b.cmp(&a))
    });
    let mut keep = vec![true; chosen.len()];
    for i in by_size {
        keep[i] = false;
        let rest: Vec<&Running> = chosen
            .iter()
            .zip(&keep)
            .filter(|(_, &k)| k)
            .map(|(r, _)| *r)
            .collect();
        if !needed.le(&sum(&rest)) {
            keep[i] = true;
        }
    }
    let mut k = keep.into_iter();
    chosen.retain(|_| k.next().unwrap_or(true));
    chosen
}
