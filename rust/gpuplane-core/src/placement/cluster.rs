//! The placement engine: a cluster's inventory, its placed workloads, and the decisions.

use std::collections::{BTreeMap, BTreeSet};

use super::baselines::kind_bit;
use super::choose::{best_on_node, score_lt, Candidate, Request, Score, Scoring, Topology};
use super::classes::{newest_first, ClassIndex};
use super::fgd_search::fgd_best;
use super::fragmentation::{Shape, ShapeDistribution, ShapeFrag, WeightedShape};
use super::intern::Interner;
use super::node_index::{better, fits, is_ordered, ordered_best, sample_fitting};
use super::policy::{PolicyKind, ScoreMode};
use super::tenancy::{admit_running, check_now};
use super::view::NodeView;
use super::workload::{Allocation, Placement, Workload};
use crate::error::{Error, Result};
use crate::inventory::{Inventory, NodeSpec};
use crate::policy::{lock, Policy, SharedPolicy};
use crate::rng::SplitMix64;

/// Where a bulk-placed workload went: node index and GPU indices.
pub type NodeAndGpus = (usize, Vec<usize>);

/// Label sets are interned; a node's labels are one number.
pub(super) type Labels = BTreeMap<String, String>;

/// A cluster of nodes and GPUs and the workloads placed on it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(super) policy: PolicyKind,
    pub(super) scoring: ScoreMode,
    pub(super) seed: u64,
    pub(super) rng: SplitMix64,
    pub(super) inv: Inventory,
    pub(super) allocations: BTreeMap<String, Allocation>,
    pub(super) distribution: ShapeDistribution,
    pub(super) models: Interner<String>,
    pub(super) labelsets: Interner<Labels>,
    pub(super) seq: u64,
    /// The attached policy engine (tenants, quotas, classes), if any; see `tenancy.rs`.
    pub(super) engine: Option<SharedPolicy>,
    // Derived from the fields above; rebuilt on restore.
    pub(super) node_labels: Vec<u32>,
    pub(super) node_workloads: Vec<BTreeSet<String>>,
    pub(super) node_sizes: BTreeMap<usize, usize>,
    pub(super) classes: ClassIndex,
}

impl Cluster {
    /// An empty cluster deciding with `policy`; `seed` drives the `random` policy.
    pub fn new(policy: PolicyKind, seed: u64) -> Self {
        Cluster {
            policy,
            scoring: ScoreMode::Native,
            seed,
            rng: SplitMix64::new(seed),
            inv: Inventory::default(),
            allocations: BTreeMap::new(),
            distribution: ShapeDistribution::default(),
            models: Interner::default(),
            labelsets: Interner::default(),
            seq: 0,
            engine: None,
            node_labels: Vec::new(),
            node_workloads: Vec::new(),
            node_sizes: BTreeMap::new(),
            classes: ClassIndex::default(),
        }
    }

    pub fn policy(&self) -> PolicyKind {
        self.policy
    }

    /// How node scores are computed (see [`ScoreMode`]).
    pub fn scoring(&self) -> ScoreMode {
        self.scoring
    }

    /// Switches how node scores are computed; placed workloads stay where they are.
    pub fn set_scoring(&mut self, mode: ScoreMode) {
        self.scoring = mode;
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    /// The live allocation of a workload.
    pub fn allocation(&self, id: &str) -> Option<&Allocation> {
        self.allocations.get(id)
    }

    /// Where a live workload is, as a [`Placement`].
    pub fn placement_of(&self, id: &str) -> Option<Placement> {
        let a = self.allocations.get(id)?;
        Some(self.describe(&a.workload, a.node, &a.gpus, "", 0.0, "placed".into()))
    }

    /// All live allocations, by workload id.
    pub fn allocations(&self) -> impl Iterator<Item = &Allocation> {
        self.allocations.values()
    }

    /// Number of distinct node states the index holds (a measure of decision cost).
    pub fn node_classes(&self) -> usize {
        self.classes.len()
    }

    /// Adds a node with its GPUs.
    pub fn add_node(&mut self, spec: NodeSpec) -> Result<()> {
        let labels = spec.labels.clone();
        let models: Vec<String> = spec.gpus.iter().map(|g| g.model.clone()).collect();
        let gpu_count = spec.gpus.len();
        let idx = self.inv.add_node(spec)?;
        for m in &models {
            self.models.intern(m);
        }
        let labels_id = self.labelsets.intern(&labels);
        self.track_node(idx, labels_id, gpu_count);
        self.reindex(idx);
        Ok(())
    }

    pub(super) fn track_node(&mut self, idx: usize, labels_id: u32, gpu_count: usize) {
        if self.node_labels.len() <= idx {
            self.node_labels.resize(idx + 1, 0);
            self.node_workloads.resize(idx + 1, BTreeSet::new());
        }
        self.node_labels[idx] = labels_id;
        *self.node_sizes.entry(gpu_count).or_default() += 1;
    }

    /// Removes a node; its workloads are released and their ids returned.
    pub fn remove_node(&mut self, name: &str) -> Result<Vec<String>> {
        let idx = self.inv.node_idx(name)?;
        let displaced: Vec<String> = self.node_workloads[idx].iter().cloned().collect();
        for id in &displaced {
            self.release(id)?;
        }
        let gpu_count = self.inv.node(idx).gpus.len();
        if let Some(n) = self.node_sizes.get_mut(&gpu_count) {
            *n -= 1;
            if *n == 0 {
                self.node_sizes.remove(&gpu_count);
            }
        }
        self.classes.remove(idx);
        self.inv.remove_node(idx);
        Ok(displaced)
    }

    /// The unsorted view of a live node, as the cluster's policy sees it.
    pub(super) fn node_view(&self, idx: usize) -> NodeView {
        self.node_view_for(idx, self.policy)
    }

    /// The unsorted view of a live node for `policy`: the kinds of work on it are kept only
    /// for `clustering`, so that they do not split the node classes of other policies.
    pub(super) fn node_view_for(&self, idx: usize, policy: PolicyKind) -> NodeView {
        let models = &self.models;
        let mut view = NodeView::of(
            self.inv.node(idx),
            &self.inv.gpus,
            self.node_labels[idx],
            &mut |m| models.get(m).unwrap_or(u32::MAX),
        );
        if policy == PolicyKind::Clustering {
            view.kinds = self.node_kinds(idx);
        }
        view
    }

    /// The kinds of GPU work placed on a node (see [`kind_bit`]).
    fn node_kinds(&self, idx: usize) -> u16 {
        let mut kinds = 0;
        for id in &self.node_workloads[idx] {
            let a = &self.allocations[id];
            let shared = a.gpus.first().is_some_and(|&g| {
                let gpu = self.inv.gpu(g);
                a.workload.gpu_count == 1
                    && a.workload.compute_milli < gpu.compute_milli
                    && a.workload.memory_mib < gpu.memory_mib
            });
            kinds |= kind_bit(a.workload.gpu_count, shared);
        }
        kinds
    }

    pub(super) fn reindex(&mut self, idx: usize) {
        let view = self.node_view(idx).sorted();
        self.classes.set(idx, view);
    }

    /// Checks a workload against the cluster and reduces it to a [`Request`].
    /// The largest node is checked before the workload's own bounds, so that a request too
    /// large for this cluster names the real cause (its largest node).
    pub(super) fn request_of(&self, w: &Workload) -> Result<Request> {
        if self.allocations.contains_key(&w.id) {
            return Err(Error::Conflict(format!(
                "workload {:?} is already placed",
                w.id
            )));
        }
        let largest = self.node_sizes.keys().next_back().copied().unwrap_or(0);
        if w.gpu_count as usize > largest {
            return Err(Error::invalid(
                "gpu_count",
                format!(
                    "{} GPUs requested but the largest node has {largest}",
                    w.gpu_count
                ),
            ));
        }
        w.validate()?;
        Ok(Request {
            count: w.gpu_count,
            mem: w.memory_mib,
            milli: w.compute_milli,
            cpu: w.cpu_milli,
            host_mem: w.host_memory_mib,
            models: self.model_ids(&w.allowed_models)?,
        })
    }

    fn model_ids(&self, names: &[String]) -> Result<Option<Vec<u32>>> {
        if names.is_empty() {
            return Ok(None);
        }
        let mut ids = names
            .iter()
            .map(|m| {
                self.models.get(m).ok_or_else(|| {
                    Error::invalid("allowed_models", format!("unknown GPU model {m:?}"))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        ids.sort_unstable();
        ids.dedup();
        Ok(Some(ids))
    }

    /// Places `w` with the cluster's policy or `policy` if given, at the attached policy
    /// engine's latest time (see [`Cluster::place_at`]).
    pub fn place(&mut self, w: Workload, policy: Option<PolicyKind>) -> Result<Placement> {
        let now = self.engine_clock();
        self.place_at(w, policy, now)
    }

    /// Places `w` at time `now` (seconds; used only by an attached policy engine, which first
    /// admits the workload against its tenant's quotas: a refusal is `Error::Quota`). Only
    /// placed workloads feed the learned distribution, so a refused call changes nothing (and
    /// journal replay is exact).
    pub fn place_at(
        &mut self,
        w: Workload,
        policy: Option<PolicyKind>,
        now: f64,
    ) -> Result<Placement> {
        check_now(now)?;
        let mut req = self.request_of(&w)?;
        let engine = self.engine.clone();
        let mut guard = engine.as_ref().map(lock);
        let areq = self.gate(guard.as_deref_mut(), &w, &mut req, now)?;
        let policy = policy.unwrap_or(self.policy);
        let Some((node, cand)) = self.choose(&w, &req, policy) else {
            return Err(self.no_fit(&w, &req));
        };
        if let (Some(p), Some(areq)) = (guard.as_deref_mut(), areq) {
            admit_running(p, areq, self.model_on(node, Some(&req)), now)?;
        }
        self.distribution.observe(shape_of(&w));
        Ok(self.commit(w, node, cand, policy))
    }

    /// Places many workloads in order. Every workload is checked first and one bad workload
    /// (named by its index) refuses the whole batch; otherwise each gets its (node, GPU indices),
    /// or `None` if it did not fit or an attached policy engine refused it.
    pub fn place_batch(
        &mut self,
        ws: Vec<Workload>,
        policy: Option<PolicyKind>,
    ) -> Result<Vec<Option<NodeAndGpus>>> {
        let now = self.engine_clock();
        self.place_batch_at(ws, policy, now)
    }

    /// [`Cluster::place_batch`] at time `now` (seconds; used only by an attached policy
    /// engine, which admits each workload as [`Cluster::place_at`] does).
    pub fn place_batch_at(
        &mut self,
        ws: Vec<Workload>,
        policy: Option<PolicyKind>,
        now: f64,
    ) -> Result<Vec<Option<NodeAndGpus>>> {
        check_now(now)?;
        let mut seen = std::collections::HashSet::with_capacity(ws.len());
        for (i, w) in ws.iter().enumerate() {
            self.request_of(w)
                .and_then(|_| self.check_terms(w))
                .map_err(|e| at_index(e, i))?;
            if !seen.insert(w.id.as_str()) {
                return Err(Error::invalid(
                    format!("workloads[{i}].id"),
                    format!("{:?} appears twice in the batch", w.id),
                ));
            }
        }
        let mut out = Vec::with_capacity(ws.len());
        for (i, w) in ws.into_iter().enumerate() {
            let id = w.id.clone();
            out.push(match self.place_at(w, policy, now) {
                Ok(_) => self.allocations.get(&id).map(|a| (a.node, a.gpus.clone())),
                Err(Error::NoFit { .. } | Error::Quota(_)) => None,
                Err(e) => return Err(at_index(e, i)),
            });
        }
        Ok(out)
    }

    /// Releases many workloads; `false` for an id that is not placed.
    pub fn release_batch(&mut self, ids: &[String]) -> Vec<bool> {
        ids.iter().map(|id| self.release(id).is_ok()).collect()
    }

    fn choose(
        &mut self,
        w: &Workload,
        req: &Request,
        policy: PolicyKind,
    ) -> Option<(usize, Candidate)> {
        let shapes = if policy.uses_distribution() {
            self.distribution.weighted()
        } else {
            Vec::new()
        };
        let node = match policy {
            PolicyKind::Random => self.random_node(w, req)?,
            _ => self.best_node(w, req, policy, &shapes)?,
        };
        let cand = self.candidate_on(node, req, policy, &shapes)?;
        Some((node, cand))
    }

    /// The policy's choice of GPUs on one real node.
    fn candidate_on(
        &mut self,
        node: usize,
        req: &Request,
        policy: PolicyKind,
        shapes: &[WeightedShape],
    ) -> Option<Candidate> {
        let view = self.node_view_for(node, policy);
        let bases = ShapeFrag::by_slot(&view, shapes);
        let mut scoring = Scoring {
            policy,
            mode: self.scoring,
            shapes,
            rng: Some(&mut self.rng),
        };
        best_on_node(&view, req, &bases, &mut scoring)
    }

    /// Places `w` on `node`, which the caller has checked it fits.
    pub(super) fn place_on(&mut self, w: Workload, req: &Request, node: usize) -> Placement {
        let policy = self.policy;
        let shapes = if policy.uses_distribution() {
            self.distribution.weighted()
        } else {
            Vec::new()
        };
        let cand = self
            .candidate_on(node, req, policy, &shapes)
            .expect("the caller checked the fit");
        self.distribution.observe(shape_of(&w));
        self.commit(w, node, cand, policy)
    }

    /// The best node over all classes: best score, then lowest node index.
    pub(super) fn best_node(
        &mut self,
        w: &Workload,
        req: &Request,
        policy: PolicyKind,
        shapes: &[WeightedShape],
    ) -> Option<usize> {
        if policy == PolicyKind::Clustering && self.policy != policy {
            return self.best_node_scan(w, req, policy);
        }
        let labelsets = &self.labelsets;
        let eligible = |c: &super::classes::Class| {
            w.node_selector.is_empty()
                || selector_ok(labelsets.value(c.view.labels), &w.node_selector)
        };
        if is_ordered(policy, self.scoring) {
            return ordered_best(&self.classes, req, policy, &eligible);
        }
        if policy == PolicyKind::Fgd && self.scoring == ScoreMode::Native {
            let selective = !w.node_selector.is_empty();
            return fgd_best(
                &mut self.classes,
                req,
                shapes,
                selective.then_some(&eligible),
            );
        }
        let mut best: Option<(Score, usize)> = None;
        let mut ties = Ties::new(self.scoring.random_ties());
        let hosting = self.classes.order().hosting_level(req);
        let newest = newest_first(shapes);
        for class in self.classes.iter_mut() {
            if !class.may_host(hosting)
                || !fits(&class.view, req)
                || (!w.node_selector.is_empty()
                    && !selector_ok(self.labelsets.value(class.view.labels), &w.node_selector))
            {
                continue;
            }
            let bases = class.frag.refresh(&class.view, &newest);
            let mut scoring = Scoring {
                policy,
                mode: self.scoring,
                shapes,
                rng: None,
            };
            if let Some(c) = best_on_node(&class.view, req, bases, &mut scoring) {
                let first = class.first();
                if best.is_some_and(|(s, _)| !score_lt(c.score, s) && !score_lt(s, c.score)) {
                    ties.offer(&class.members, &mut self.rng);
                }
                if best.is_none_or(|(s, n)| better(c.score, first, s, n)) {
                    if best.is_none_or(|(s, _)| score_lt(c.score, s)) {
                        ties.restart(&class.members, &mut self.rng);
                    }
                    best = Some((c.score, first));
                }
            }
        }
        ties.chosen().or(best.map(|(_, node)| node))
    }

    /// The best node by scanning every node: for `clustering` asked of a cluster whose classes
    /// do not tell the kinds of work apart (its policy is another one).
    fn best_node_scan(&mut self, w: &Workload, req: &Request, policy: PolicyKind) -> Option<usize> {
        let mut best: Option<(Score, usize)> = None;
        let live: Vec<usize> = self.inv.live_nodes().map(|(i, _)| i).collect();
        for idx in live {
            let labels = self.labelsets.value(self.node_labels[idx]);
            if !selector_ok(labels, &w.node_selector) {
                continue;
            }
            let view = self.node_view_for(idx, policy);
            let mut scoring = Scoring {
                policy,
                mode: self.scoring,
                shapes: &[],
                rng: None,
            };
            if let Some(c) = best_on_node(&view, req, &[], &mut scoring) {
                if best.is_none_or(|(s, _)| score_lt(c.score, s)) {
                    best = Some((c.score, idx));
                }
            }
        }
        best.map(|(_, node)| node)
    }

    /// A node drawn uniformly among all nodes where `req` fits: under native scoring by
    /// rejection sampling over node indices first (see [`sample_fitting`]), else (and under
    /// artifact scoring, whose published figures used these draws) from the full list.
    fn random_node(&mut self, w: &Workload, req: &Request) -> Option<usize> {
        if self.scoring.is_artifact() {
            return self.random_node_listed(w, req);
        }
        let labelsets = &self.labelsets;
        let eligible = |c: &super::classes::Class| {
            w.node_selector.is_empty()
                || selector_ok(labelsets.value(c.view.labels), &w.node_selector)
        };
        let slots = self.node_labels.len();
        let before = self.rng.clone();
        if let Some(node) = sample_fitting(&self.classes, req, slots, &eligible, &mut self.rng) {
            return Some(node);
        }
        let listed = self.random_node_listed(w, req);
        if listed.is_none() {
            // A refused placement changes nothing, the generator included.
            self.rng = before;
        }
        listed
    }

    /// A node drawn uniformly from the list of every node where `req` fits.
    fn random_node_listed(&mut self, w: &Workload, req: &Request) -> Option<usize> {
        let mut feasible: Vec<(usize, &BTreeSet<usize>)> = Vec::new();
        let mut scoring = Scoring {
            policy: PolicyKind::FirstFit,
            mode: ScoreMode::Native,
            shapes: &[],
            rng: None,
        };
        for class in self.classes.iter() {
            if selector_ok(self.labelsets.value(class.view.labels), &w.node_selector)
                && best_on_node(&class.view, req, &[], &mut scoring).is_some()
            {
                feasible.push((class.first(), &class.members));
            }
        }
        feasible.sort_unstable_by_key(|(first, _)| *first);
        let total: usize = feasible.iter().map(|(_, m)| m.len()).sum();
        if total == 0 {
            return None;
        }
        let mut pick = self.rng.below(total as u64) as usize;
        for (_, members) in feasible {
            if pick < members.len() {
                return members.iter().nth(pick).copied();
            }
            pick -= members.len();
        }
        unreachable!("pick is below the total")
    }

    fn commit(
        &mut self,
        w: Workload,
        node: usize,
        cand: Candidate,
        policy: PolicyKind,
    ) -> Placement {
        let gpus: Vec<usize> = cand
            .gpus
            .iter()
            .map(|&p| self.inv.node(node).gpus[p])
            .collect();
        for &g in &gpus {
            let gpu = self.inv.gpu_mut(g);
            gpu.used_mib += w.memory_mib;
            gpu.used_milli += w.compute_milli;
        }
        let n = self.inv.node_mut(node);
        n.used_cpu_milli += w.cpu_milli;
        n.used_memory_mib += w.host_memory_mib;
        self.seq += 1;
        let reason = reason(policy, self.scoring, &cand, self.classes.len());
        let placement = self.describe(&w, node, &gpus, policy.name(), cand.score.0, reason);
        self.node_workloads[node].insert(w.id.clone());
        let alloc = Allocation {
            workload: w,
            node,
            gpus,
            seq: self.seq,
        };
        self.allocations.insert(alloc.workload.id.clone(), alloc);
        self.reindex(node);
        placement
    }

    fn describe(
        &self,
        w: &Workload,
        node: usize,
        gpus: &[usize],
        policy: &str,
        score: f64,
        reason: String,
    ) -> Placement {
        Placement {
            workload_id: w.id.clone(),
            node: self.inv.node(node).name.clone(),
            gpu_ids: gpus.iter().map(|&g| self.inv.gpu(g).id.clone()).collect(),
            memory_mib: w.memory_mib,
            compute_milli: w.compute_milli,
            policy: policy.to_string(),
            score,
            reason,
            tenant: w.tenant.clone(),
        }
    }

    /// Frees exactly what `id` holds and returns where it was, at the attached policy engine's
    /// latest time.
    pub fn release(&mut self, id: &str) -> Result<Placement> {
        let now = self.engine_clock();
        self.release_at(id, now)
    }

    /// Frees exactly what `id` holds at time `now` (an attached policy engine charges the
    /// workload's usage up to `now`) and returns where it was.
    pub fn release_at(&mut self, id: &str, now: f64) -> Result<Placement> {
        check_now(now)?;
        let engine = self.engine.clone();
        let mut guard = engine.as_ref().map(lock);
        self.release_with(id, guard.as_deref_mut(), now)
    }

    /// [`Cluster::release_at`] with the engine already locked.
    pub(super) fn release_with(
        &mut self,
        id: &str,
        engine: Option<&mut Policy>,
        now: f64,
    ) -> Result<Placement> {
        if let Some(p) = engine {
            if self.allocations.contains_key(id) {
                // Absent when the engine forgot it (released there directly): nothing to charge.
                let _ = p.release(id, now);
            }
        }
        let alloc = self
            .allocations
            .remove(id)
            .ok_or_else(|| Error::not_found("workload", id))?;
        let w = &alloc.workload;
        for &g in &alloc.gpus {
            let gpu = self.inv.gpu_mut(g);
            gpu.used_mib -= w.memory_mib;
            gpu.used_milli -= w.compute_milli;
        }
        let n = self.inv.node_mut(alloc.node);
        n.used_cpu_milli -= w.cpu_milli;
        n.used_memory_mib -= w.host_memory_mib;
        self.node_workloads[alloc.node].remove(id);
        self.reindex(alloc.node);
        Ok(self.describe(w, alloc.node, &alloc.gpus, "", 0.0, "released".into()))
    }

    /// Records memory used on a GPU by processes gpuplane did not place (from NVML).
    pub fn set_external_usage(&mut self, gpu_id: &str, memory_mib: u64) -> Result<()> {
        let g = self.inv.gpu_idx(gpu_id)?;
        let total = self.inv.gpu(g).memory_mib;
        if memory_mib > total {
            return Err(Error::invalid(
                "memory_mib",
                format!("{memory_mib} MiB external usage exceeds the GPU's {total} MiB"),
            ));
        }
        self.inv.gpu_mut(g).external_mib = memory_mib;
        self.reindex(self.inv.gpu(g).node);
        Ok(())
    }

    /// Marks a GPU healthy or not. Draining releases the workloads on it; their ids are returned.
    pub fn set_gpu_health(&mut self, gpu_id: &str, healthy: bool) -> Result<Vec<String>> {
        let g = self.inv.gpu_idx(gpu_id)?;
        let node = self.inv.gpu(g).node;
        let displaced: Vec<String> = if healthy {
            Vec::new()
        } else {
            self.node_workloads[node]
                .iter()
                .filter(|id| self.allocations[*id].gpus.contains(&g))
                .cloned()
                .collect()
        };
        for id in &displaced {
            self.release(id)?;
        }
        self.inv.gpu_mut(g).healthy = healthy;
        self.reindex(node);
        Ok(displaced)
    }

    /// Fixes the workload distribution `fgd` optimizes for, or resumes learning it (`None`).
    pub fn set_workload_distribution(&mut self, given: Option<Vec<(Shape, f64)>>) -> Result<()> {
        if let Some(given) = &given {
            for (i, (shape, weight)) in given.iter().enumerate() {
                if !weight.is_finite() || *weight <= 0.0 {
                    return Err(Error::invalid(
                        format!("distribution[{i}].weight"),
                        format!("{weight} is not a positive finite number"),
                    ));
                }
                shape_workload(shape).validate().map_err(|e| prefix(e, i))?;
            }
        }
        self.distribution.set_given(given);
        Ok(())
    }

    /// The current workload distribution (shape, probability).
    pub fn workload_distribution(&self) -> Vec<(Shape, f64)> {
        self.distribution
            .weighted()
            .into_iter()
            .map(|w| (w.shape, w.probability))
            .collect()
    }
}

fn at_index(e: Error, i: usize) -> Error {
    match e {
        Error::InvalidRequest { field, reason } => {
            Error::invalid(format!("workloads[{i}].{field}"), reason)
        }
        Error::Conflict(m) => Error::Conflict(format!("workloads[{i}]: {m}")),
        other => other,
    }
}

fn prefix(e: Error, i: usize) -> Error {
    match e {
        Error::InvalidRequest { field, reason } => {
            Error::invalid(format!("distribution[{i}].{field}"), reason)
        }
        other => other,
    }
}

fn shape_workload(s: &Shape) -> Workload {
    Workload {
        compute_milli: s.compute_milli,
        cpu_milli: s.cpu_milli,
        host_memory_mib: s.host_memory_mib,
        ..Workload::new("shape", s.memory_mib, s.gpu_count)
    }
}

pub(super) fn shape_of(w: &Workload) -> Shape {
    Shape {
        gpu_count: w.gpu_count,
        memory_mib: w.memory_mib,
        compute_milli: w.compute_milli,
        cpu_milli: w.cpu_milli,
        host_memory_mib: w.host_memory_mib,
    }
}

pub(super) fn selector_ok(labels: &Labels, selector: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn reason(policy: PolicyKind, mode: ScoreMode, cand: &Candidate, classes: usize) -> String {
    let why = match (mode.is_artifact(), policy) {
        (true, PolicyKind::Random | PolicyKind::FgdFill) => native_why(policy, cand),
        (true, _) => format!(
            "scored {:.0} of 100 as the FGD artifact does, the highest",
            -cand.score.0
        ),
        _ => native_why(policy, cand),
    };
    let topology = match cand.topology {
        Topology::OneGroup => "; gang kept within one topology group",
        Topology::Spans => "; gang spans topology groups (no group could hold it)",
        Topology::NotApplicable => "",
    };
    format!("{policy}: {why} (over {classes} distinct node states){topology}")
}

fn native_why(policy: PolicyKind, cand: &Candidate) -> String {
    match policy {
        PolicyKind::Fgd => format!(
            "expected fragmentation {:+.1} milli-GPU, the least increase",
            cand.score.0
        ),
        PolicyKind::BestFit => format!(
            "leaves {:.0} milli-GPU free on the node, the tightest fit",
            cand.score.0
        ),
        PolicyKind::Spread => format!(
            "leaves {:.0} milli-GPU free on the node, the emptiest",
            -cand.score.0
        ),
        PolicyKind::Packing => [
            "packs onto GPUs already in use",
            "uses idle GPUs of a busy node",
            "opens an idle node",
        ][cand.score.0 as usize]
            .to_string(),
        PolicyKind::FirstFit => "first node in order that fits".to_string(),
        PolicyKind::Random => "drawn uniformly among nodes that fit".to_string(),
        PolicyKind::DotProd => format!(
            "free resources the least aligned with the request ({:.1} of 100)",
            -cand.score.0
        ),
        PolicyKind::Clustering => format!(
            "clusters with work of the same GPU kind ({:.0} of 100)",
            -cand.score.0
        ),
        PolicyKind::FgdFill => format!(
            "expected fragmentation and unfillable capacity {:+.1} milli-GPU, the least increase",
            cand.score.0
        ),
    }
}

/// Uniform choice among the nodes tied for the best score, by reservoir sampling over classes
/// (each class weighing its member count), as the Kubernetes scheduler's `selectHost` draws
/// among equal top scores. Inactive, it chooses nothing and the first node wins.
struct Ties {
    active: bool,
    seen: u64,
    chosen: Option<usize>,
}

impl Ties {
    fn new(active: bool) -> Self {
        Ties {
            active,
            seen: 0,
            chosen: None,
        }
    }

    /// A new best score: the draw starts again over `members`.
    fn restart(&mut self, members: &BTreeSet<usize>, rng: &mut SplitMix64) {
        self.seen = 0;
        self.offer(members, rng);
    }

    /// Another class tied with the best: it wins with the share of its members.
    fn offer(&mut self, members: &BTreeSet<usize>, rng: &mut SplitMix64) {
        if !self.active || members.is_empty() {
            return;
        }
        let n = members.len() as u64;
        self.seen += n;
        let draw = rng.below(self.seen);
        if draw < n {
            self.chosen = members.iter().nth(draw as usize).copied();
        }
    }

    fn chosen(&self) -> Option<usize> {
        self.chosen
    }
}
