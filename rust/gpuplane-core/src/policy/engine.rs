//! [`Policy`]: the tenant tree, classes, quotas, usage, buckets and running work, and every
//! mutation of them. Deterministic: time is always an argument (seconds, `f64`), never read
//! from a clock; times earlier than the latest one seen count as the latest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::classes::{ClassBook, PriorityClass};
use super::fairshare::{max_ratio, ShareParams};
use super::programs::{ProgramFigures, ProgramLedger};
use super::rate::TokenBucket;
use super::resources::{non_negative, Resources};
use super::snapshot::PolicySnapshot;
use super::tree::{TenantSpec, Tree, ROOT};
use crate::error::{Error, Result};

/// Engine-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// Usage half-life in seconds (finite, > 0).
    pub half_life_s: f64,
    /// How much decayed usage lowers the over-quota weight, in `[0, 1)` (see
    /// [`super::fairshare`]).
    pub usage_factor: f64,
    /// Weighted-token charge per prompt token (same as the batching scheduler's `w_in`).
    pub w_in: f64,
    /// Weighted-token charge per output token (same as the batching scheduler's `w_out`).
    pub w_out: f64,
    /// Collateral bound: memory evicted by one preemption is at most this times the memory
    /// requested (finite, >= 0).
    pub collateral_factor: f64,
    /// Work younger than this many seconds is never preempted (finite, >= 0).
    pub min_runtime_s: f64,
    /// Default token-bucket burst, in seconds of the tokens-per-second limit (finite, > 0).
    pub default_burst_s: f64,
    /// Price per GPU-hour by GPU model; models not listed cost 0.
    pub gpu_prices: BTreeMap<String, f64>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            half_life_s: 86_400.0,
            usage_factor: 0.5,
            w_in: 1.0,
            w_out: 2.0,
            collateral_factor: 2.0,
            min_runtime_s: 60.0,
            default_burst_s: 1.0,
            gpu_prices: BTreeMap::new(),
        }
    }
}

fn positive(field: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v <= 0.0 {
        return Err(Error::invalid(
            field,
            format!("must be finite and > 0, got {v}"),
        ));
    }
    Ok(())
}

impl PolicyConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        positive("half_life_s", self.half_life_s)?;
        if !(0.0..1.0).contains(&self.usage_factor) {
            return Err(Error::invalid("usage_factor", "must be in [0, 1)"));
        }
        non_negative("w_in", self.w_in)?;
        non_negative("w_out", self.w_out)?;
        non_negative("collateral_factor", self.collateral_factor)?;
        non_negative("min_runtime_s", self.min_runtime_s)?;
        positive("default_burst_s", self.default_burst_s)?;
        for (model, &p) in &self.gpu_prices {
            non_negative(&format!("gpu_prices[{model}]"), p)?;
        }
        Ok(())
    }
}

/// What [`Policy::finish`] did to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Whether it was running (released) rather than queued (cancelled).
    pub was_running: bool,
    /// The program (workflow id) it ended, completed or aborted: state kept per program
    /// elsewhere (a router's) can end with it.
    pub ended_program: Option<String>,
}

/// A workload or request the engine admitted and that holds resources until released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Running {
    /// Caller-chosen unique id.
    pub id: String,
    /// Leaf tenant.
    pub tenant: String,
    /// Priority class name.
    pub class: String,
    /// Resources held.
    pub resources: Resources,
    /// GPU model, for per-model quotas.
    pub gpu_model: Option<String>,
    /// Admission time, seconds.
    pub start: f64,
}

/// The policy engine. See the [module docs](super).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "PolicySnapshot", into = "PolicySnapshot")]
pub struct Policy {
    pub(crate) config: PolicyConfig,
    pub(crate) capacity: Resources,
    pub(crate) clock: f64,
    pub(crate) tree: Tree,
    pub(crate) classes: ClassBook,
    pub(crate) running: BTreeMap<String, Running>,
    pub(crate) queued: BTreeMap<String, usize>,
    /// Agent programs whose calls were admitted with a [`super::ProgramCall`].
    pub(crate) programs: ProgramLedger,
    /// Bumped by every tenant change, so that linked schedulers re-read their weights.
    pub(crate) spec_version: u64,
}

impl Policy {
    /// An empty engine (no tenants, zero capacity, the default classes).
    pub fn new(config: PolicyConfig) -> Result<Self> {
        config.validate()?;
        Ok(Policy {
            config,
            capacity: Resources::ZERO,
            clock: 0.0,
            tree: Tree::default(),
            classes: ClassBook::with_defaults(),
            running: BTreeMap::new(),
            queued: BTreeMap::new(),
            programs: ProgramLedger::default(),
            spec_version: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The latest time seen.
    pub fn clock(&self) -> f64 {
        self.clock
    }

    /// The cluster capacity shared by the top-level nodes.
    pub fn capacity(&self) -> Resources {
        self.capacity
    }

    /// Sets the cluster capacity (each amount finite, >= 0).
    pub fn set_capacity(&mut self, capacity: Resources) -> Result<()> {
        capacity.validate("capacity")?;
        self.capacity = capacity;
        let root = self.tree.node_mut(ROOT);
        root.share = capacity;
        root.stale = true;
        Ok(())
    }

    pub(crate) fn sp(&self) -> ShareParams {
        ShareParams {
            half_life_s: self.config.half_life_s,
            usage_factor: self.config.usage_factor,
        }
    }

    /// Advances the clock to `t` (finite) and returns the time to use.
    pub(crate) fn tick(&mut self, t: f64) -> Result<f64> {
        if !t.is_finite() {
            return Err(Error::invalid("now", format!("must be finite, got {t}")));
        }
        self.clock = self.clock.max(t);
        Ok(self.clock)
    }

    /// The index of leaf `tenant`; `InvalidRequest` on `tenant` if unknown or not a leaf.
    pub(crate) fn leaf(&self, tenant: &str) -> Result<usize> {
        let i = self.node_idx(tenant)?;
        if !self.tree.node(i).is_leaf() {
            return Err(Error::invalid(
                "tenant",
                format!("{tenant:?} has children; only leaves hold work"),
            ));
        }
        Ok(i)
    }

    /// Whether `tenant` can hold work (a known leaf): what `BatchScheduler::add` and
    /// `Cluster::place` check, for callers that refuse a request before it gets there.
    /// `InvalidRequest` on `tenant` if unknown or not a leaf.
    pub fn check_leaf(&self, tenant: &str) -> Result<()> {
        self.leaf(tenant).map(|_| ())
    }

    pub(crate) fn node_idx(&self, tenant: &str) -> Result<usize> {
        self.tree
            .lookup(tenant)
            .ok_or_else(|| Error::invalid("tenant", format!("unknown tenant {tenant:?}")))
    }

    /// Adds a tree node. Errors: `InvalidRequest` (bad quota, unknown parent, guarantees above
    /// the parent's), `Conflict` (duplicate name, parent holds work).
    pub fn add_tenant(&mut self, spec: TenantSpec) -> Result<()> {
        let i = self.tree.add(spec)?;
        self.spec_version += 1;
        self.sync_bucket(i);
        self.tree.update_capped(i);
        self.tree.mark_stale(i);
        Ok(())
    }

    /// Replaces a node's spec, possibly moving it under another parent (cycles are refused).
    pub fn update_tenant(&mut self, spec: TenantSpec) -> Result<()> {
        let (i, old_parent) = self.tree.update(spec)?;
        self.spec_version += 1;
        self.sync_bucket(i);
        if self.tree.node(i).parent != old_parent {
            self.rebuild_aggregates();
        }
        self.tree.update_capped(i);
        self.tree.mark_stale(i);
        self.tree.update_capped(old_parent);
        self.tree.mark_stale(old_parent);
        Ok(())
    }

    /// Removes a node without children, running or queued work. Its past usage and spend stay
    /// charged to its ancestors.
    pub fn remove_tenant(&mut self, name: &str) -> Result<()> {
        let parent = self.tree.remove(name)?;
        self.spec_version += 1;
        self.tree.update_capped(parent);
        self.tree.mark_stale(parent);
        Ok(())
    }

    /// A number that changes whenever a tenant is added, updated or removed.
    pub fn spec_version(&self) -> u64 {
        self.spec_version
    }

    /// The spec of a node.
    pub fn tenant(&self, name: &str) -> Option<&TenantSpec> {
        self.tree.lookup(name).map(|i| &self.tree.node(i).spec)
    }

    /// Number of tree nodes (the root excluded).
    pub fn tenant_count(&self) -> usize {
        self.tree.len()
    }

    /// Every node's spec, parents before children.
    pub fn tenants(&self) -> Vec<&TenantSpec> {
        let order = self.tree.bfs();
        order[1..]
            .iter()
            .map(|&i| &self.tree.node(i).spec)
            .collect()
    }

    /// Adds or replaces a priority class.
    pub fn upsert_class(&mut self, class: PriorityClass) -> Result<()> {
        self.classes.upsert(class)
    }

    /// Removes a priority class; `Conflict` while running or queued work uses it.
    pub fn remove_class(&mut self, name: &str) -> Result<()> {
        if self.running.values().any(|r| r.class == name) {
            return Err(Error::Conflict(format!("class {name:?} is in use")));
        }
        self.classes.remove(name).map(|_| ())
    }

    /// A priority class by name.
    pub fn class(&self, name: &str) -> Option<&PriorityClass> {
        self.classes.get(name)
    }

    /// Every priority class, by name.
    pub fn classes(&self) -> impl Iterator<Item = &PriorityClass> {
        self.classes.iter()
    }

    fn sync_bucket(&mut self, i: usize) {
        let (clock, burst_s) = (self.clock, self.config.default_burst_s);
        let n = self.tree.node_mut(i);
        let rate = n.spec.quota.limit.0[super::Resource::TokensPerSec.index()];
        n.bucket = rate.map(|rate| {
            let burst = n.spec.burst_tokens.unwrap_or(rate * burst_s);
            let mut b = n
                .bucket
                .unwrap_or_else(|| TokenBucket::new(rate, burst, clock));
            b.reconfigure(rate, burst, clock);
            b
        });
    }

    /// Recomputes every inner node's allocations from the running work (after a move).
    fn rebuild_aggregates(&mut self) {
        for i in self.tree.bfs() {
            let n = self.tree.node_mut(i);
            n.alloc = Resources::ZERO;
            n.alloc_np = Resources::ZERO;
            n.model_alloc.clear();
            n.running = 0;
        }
        let running: Vec<Running> = self.running.values().cloned().collect();
        for r in &running {
            if let Ok(i) = self.leaf(&r.tenant) {
                self.account(i, r, 1.0);
            }
        }
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) a running workload's resources on its path.
    pub(crate) fn account(&mut self, leaf: usize, r: &Running, sign: f64) {
        let np = self.classes.get(&r.class).is_some_and(|c| !c.preemptible);
        let path: Vec<usize> = self.tree.ancestors(leaf).collect();
        for n in path {
            let node = self.tree.node_mut(n);
            let delta = r.resources.scale(sign);
            node.alloc = node.alloc.plus(delta).zip(Resources::ZERO, f64::max);
            if np {
                node.alloc_np = node.alloc_np.plus(delta).zip(Resources::ZERO, f64::max);
            }
            if let Some(m) = &r.gpu_model {
                let e = node.model_alloc.entry(m.clone()).or_default();
                *e = (*e + sign * r.resources.get(super::Resource::Gpus)).max(0.0);
            }
        }
        let leaf = self.tree.node_mut(leaf);
        leaf.running = if sign > 0.0 {
            leaf.running + 1
        } else {
            leaf.running.saturating_sub(1)
        };
    }

    /// Sets a leaf's demand (what it would use unconstrained: running plus waiting work).
    pub fn set_demand(&mut self, tenant: &str, demand: Resources) -> Result<()> {
        demand.validate("demand")?;
        let i = self.leaf(tenant)?;
        if self.tree.node(i).demand == demand {
            return Ok(());
        }
        self.tree.node_mut(i).demand = demand;
        self.tree.update_capped(i);
        self.tree.mark_stale(i);
        Ok(())
    }

    /// A leaf's reported demand.
    pub fn demand(&self, tenant: &str) -> Result<Resources> {
        Ok(self.tree.node(self.node_idx(tenant)?).demand)
    }

    /// Charges `amount` of usage to a leaf and its ancestors at time `now`.
    pub fn charge_usage(&mut self, tenant: &str, amount: Resources, now: f64) -> Result<()> {
        amount.validate("amount")?;
        let i = self.leaf(tenant)?;
        let now = self.tick(now)?;
        self.charge_path(i, amount, now);
        Ok(())
    }

    pub(crate) fn charge_path(&mut self, i: usize, amount: Resources, now: f64) {
        let h = self.config.half_life_s;
        let path: Vec<usize> = self.tree.ancestors(i).collect();
        for n in path {
            self.tree.node_mut(n).usage.charge(amount, now, h);
        }
        self.tree.mark_stale(i);
    }

    /// Charges weighted tokens (`w_in * prompt + w_out * output`) to a leaf's usage.
    pub fn charge_tokens(
        &mut self,
        tenant: &str,
        prompt: u64,
        output: u64,
        now: f64,
    ) -> Result<()> {
        let t = super::rate::weighted_tokens(self.config.w_in, self.config.w_out, prompt, output);
        let mut amount = Resources::ZERO;
        amount.set(super::Resource::TokensPerSec, t);
        self.charge_usage(tenant, amount, now)
    }

    /// Decayed usage of a node at time `now` (not advancing the clock).
    pub fn usage(&self, tenant: &str, now: f64) -> Result<Resources> {
        let i = self.node_idx(tenant)?;
        Ok(self.tree.node(i).usage.at(now, self.config.half_life_s))
    }

    /// Resources held by a node's subtree.
    pub fn allocated(&self, tenant: &str) -> Result<Resources> {
        Ok(self.tree.node(self.node_idx(tenant)?).alloc)
    }

    /// A node's fair share, without changing any state (stale parts are computed on the fly).
    pub fn fair_share(&self, tenant: &str) -> Result<Resources> {
        Ok(self.tree.share_of(self.node_idx(tenant)?, self.sp()))
    }

    /// Makes a node's fair share current (recomputes its path and the siblings along it) and
    /// returns it. This is the incremental recomputation.
    pub fn resolve_fair_share(&mut self, tenant: &str) -> Result<Resources> {
        let i = self.node_idx(tenant)?;
        self.tree.resolve(i, self.sp());
        Ok(self.tree.node(i).share)
    }

    /// Makes every fair share current, recomputing only what is stale.
    pub fn refresh_fair_shares(&mut self) {
        self.tree.refresh_all(self.sp());
    }

    /// Recomputes every fair share from scratch (the baseline of the incremental path).
    pub fn recompute_all_fair_shares(&mut self) {
        for i in self.tree.bfs() {
            self.tree.node_mut(i).stale = true;
        }
        self.tree.refresh_all(self.sp());
    }

    /// Every node's fair share computed from scratch, without touching state.
    pub fn full_fair_shares(&self) -> BTreeMap<String, Resources> {
        let shares = self.tree.full_shares(self.capacity, self.sp());
        shares
            .into_iter()
            .filter(|&(i, _)| i != ROOT)
            .map(|(i, s)| (self.tree.node(i).spec.name.clone(), s))
            .collect()
    }

    /// Dominant share (DRF): `max_r allocated_r / capacity_r`.
    pub fn dominant_share(&self, tenant: &str) -> Result<f64> {
        let i = self.node_idx(tenant)?;
        Ok(max_ratio(&self.tree.node(i).alloc, &self.capacity))
    }

    /// Dominant share against fair share: `max_r allocated_r / fair_share_r`.
    pub fn fair_share_ratio(&self, tenant: &str) -> Result<f64> {
        let i = self.node_idx(tenant)?;
        let share = self.tree.share_of(i, self.sp());
        Ok(max_ratio(&self.tree.node(i).alloc, &share))
    }

    /// `tenants` ordered for service: lowest dominant share against fair share first, then
    /// lowest dominant share (DRF), then name. Unknown names are dropped.
    pub fn order(&self, tenants: &[&str]) -> Vec<String> {
        let mut keyed: Vec<(f64, f64, &str)> = tenants
            .iter()
            .filter_map(|&t| {
                Some((
                    self.fair_share_ratio(t).ok()?,
                    self.dominant_share(t).ok()?,
                    t,
                ))
            })
            .collect();
        keyed.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.cmp(b.2))
        });
        keyed.into_iter().map(|k| k.2.to_owned()).collect()
    }

    /// A running workload by id.
    pub fn running(&self, id: &str) -> Option<&Running> {
        self.running.get(id)
    }

    /// Every running workload, by id.
    pub fn running_all(&self) -> impl Iterator<Item = &Running> {
        self.running.values()
    }

    /// Releases a running workload at `now`: its resources are freed and
    /// `resources * (now - start)` is charged to its usage.
    pub fn release(&mut self, id: &str, now: f64) -> Result<Running> {
        self.release_call(id, now, false)
    }

    /// [`Policy::release`] of a program's call: with `more_calls` its program goes on (the
    /// next call comes with the next [`super::ProgramCall`] index), otherwise it completes.
    pub fn release_call(&mut self, id: &str, now: f64, more_calls: bool) -> Result<Running> {
        let r = self.release_work(id, now)?;
        self.programs.released(id, self.clock, more_calls);
        Ok(r)
    }

    /// Ends request `id` at `now`: releases it if running (a program's call: its program goes
    /// on with `more_calls`, else completes) or cancels it if queued (aborting its program).
    /// `NotFound` if it is neither.
    pub fn finish(&mut self, id: &str, now: f64, more_calls: bool) -> Result<Finished> {
        if self.running.contains_key(id) {
            self.release_work(id, now)?;
            let ended_program = self.programs.released(id, self.clock, more_calls);
            return Ok(Finished {
                was_running: true,
                ended_program,
            });
        }
        self.unqueue(id)?;
        Ok(Finished {
            was_running: false,
            ended_program: self.programs.abort(id),
        })
    }

    /// Each tenant's agent programs (see [`ProgramLedger`]).
    pub fn program_figures(&self) -> Vec<ProgramFigures> {
        self.programs.figures()
    }

    fn release_work(&mut self, id: &str, now: f64) -> Result<Running> {
        let now = self.tick(now)?;
        let r = self
            .running
            .remove(id)
            .ok_or_else(|| Error::not_found("running workload", id))?;
        if let Ok(i) = self.leaf(&r.tenant) {
            self.account(i, &r, -1.0);
            let used = r.resources.scale((now - r.start).max(0.0));
            self.charge_path(i, used, now);
        }
        Ok(r)
    }

    /// Records work that is already running without an admission decision (for example
    /// workloads placed before this engine was attached to a cluster): no quota is checked.
    /// Errors: `InvalidRequest` (unknown leaf or class, bad resources), `Conflict` (id running).
    pub fn adopt(&mut self, r: Running) -> Result<()> {
        r.resources.validate("resources")?;
        let i = self.leaf(&r.tenant)?;
        if self.classes.get(&r.class).is_none() {
            return Err(Error::invalid(
                "class",
                format!("unknown priority class {:?}", r.class),
            ));
        }
        if self.running.contains_key(&r.id) {
            return Err(Error::Conflict(format!("{:?} is already running", r.id)));
        }
        self.account(i, &r, 1.0);
        self.running.insert(r.id.clone(), r);
        Ok(())
    }

    /// Whether any node on a tenant's path has per-GPU-model quotas (so the GPU model of a
    /// request matters to its admission). `false` for an unknown tenant.
    pub fn has_model_quotas(&self, tenant: &str) -> bool {
        self.tree.lookup(tenant).is_some_and(|i| {
            self.tree
                .ancestors(i)
                .any(|n| !self.tree.node(n).spec.quota.models.is_empty())
        })
    }

    /// Drops a queued request; `NotFound` if it is not queued.
    pub fn cancel(&mut self, id: &str) -> Result<()> {
        self.unqueue(id)?;
        self.programs.abort(id);
        Ok(())
    }

    /// Drops a queued request from the queue (not from its program).
    pub(crate) fn unqueue(&mut self, id: &str) -> Result<()> {
        let i = self
            .queued
            .remove(id)
            .ok_or_else(|| Error::not_found("queued request", id))?;
        let n = self.tree.node_mut(i);
        n.queued = n.queued.saturating_sub(1);
        Ok(())
    }

    /// Ids of queued requests.
    pub fn queued(&self) -> impl Iterator<Item = &str> {
        self.queued.keys().map(String::as_str)
    }
}
