//! Routing requests across engine replicas: one router for the service's `Route`, the
//! simulator and embedded gateways (`gpuplane.Router`, Ray).
//!
//! A [`Router`] holds replicas (soft state: engines register at start and report their load
//! every few seconds) and picks one per request by the cost model of [`score`] under a
//! [`RoutingPolicy`] (the production default: [`RoutingPolicy::Cost`]). It also keeps the
//! fleet-wide tenant counters ([`FleetShare`]): requests dispatched with an id are backlog of
//! their tenant until [`Router::finish`], which charges what the replica served.
//!
//! Ties go to fewer waiting requests, then fewer in flight, then to the greater replica id. The
//! choice is deterministic: the same registrations, loads and requests give the same replica.

mod excess;
mod fleet;
mod index;
mod programs;
mod queues;
mod replica;
mod scan;
mod score;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::batching::CacheEvent;
use crate::{Error, Result};
use excess::ExcessColumns;
use index::{PrefixIndex, SlotLists};
use programs::ProgramPlaces;
use queues::QueueShares;
use replica::validate_waiting;
use scan::{overlap_of, rr_key, Best};

pub use programs::{MAX_PROGRAM_PLACES, MAX_TENANT_PROGRAM_PLACES};

pub use fleet::FleetShare;
pub use replica::{Counts, Load, ReplicaSpec, ReplicaStatus, RouteRequest, RouterLimits};
pub use score::{
    prefix_overlap, tenant_excess, Excess, Route, RoutingPolicy, ScoreTerms, Weights,
    ADAPTER_BLOCKS, OVERLAP_WEIGHT, QUEUE_WEIGHT,
};

/// The tenant id of a shared replica.
const SHARED: u32 = u32::MAX;

/// How a router scores: its policy and the cost model's overlap weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouterOptions {
    pub policy: RoutingPolicy,
    /// Blocks of load one cached prompt block is worth (finite, >= 0).
    pub overlap_weight: f64,
    /// Blocks of load one prompt block of a program's previous call is worth on the replica
    /// that served it (finite, >= 0; 0: off). Read by the `cost` and `prefix` policies only
    /// (see `programs.rs`).
    pub workflow_weight: f64,
    /// How much a tenant's queue-share excess on a replica weighs in the `fair` term (finite,
    /// >= 0; see `queues.rs`). Read by `cost` and `tenant_fair`.
    pub queue_weight: f64,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            policy: RoutingPolicy::Cost,
            overlap_weight: OVERLAP_WEIGHT,
            workflow_weight: OVERLAP_WEIGHT,
            queue_weight: QUEUE_WEIGHT,
        }
    }
}

/// What the route loop reads of a replica, packed: its interned model and tenant, its load
/// figures and its rank in id order (for ties).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Hot {
    model: u32,
    tenant: u32,
    load_blocks: f64,
    waiting: u32,
    in_flight: u32,
    routed: u64,
    rank: u32,
}

/// A request dispatched with an id and not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    replica: String,
    account: u32,
}

/// The replica registry, the routing choice and the fleet-wide tenant counters.
#[derive(Debug, Clone)]
pub struct Router {
    slots: Vec<ReplicaStatus>,
    hot: Vec<Hot>,
    /// Per slot, its load blocks (`hot[s].load_blocks`): the column every scoring route reads.
    loads: Vec<f64>,
    /// Per slot, round robin's order: `routed << 32 | rank`.
    rr_keys: Vec<u128>,
    /// Whether every slot is shared and serves one model (`uniform_model`): then every slot
    /// serves a request for that model or any model, with no per-slot check.
    uniform: bool,
    uniform_model: u32,
    prefixes: PrefixIndex,
    /// Per slot, `(tenant account, excess)` of its last load's tenant service.
    excess: Vec<Vec<(u32, f64)>>,
    /// Tenant account -> its excess per slot (`excess` by tenant).
    fair: ExcessColumns,
    /// Per slot, its waiting requests per tenant account, and the fleet's.
    queues: QueueShares,
    /// Adapter -> the slots where it is resident.
    adapters: SlotLists<String, bool>,
    by_id: BTreeMap<String, u32>,
    models: BTreeMap<String, u32>,
    limits: RouterLimits,
    options: RouterOptions,
    weights: Weights,
    fleet: FleetShare,
    tracked: FxHashMap<String, Tracked>,
    /// The replica of each program's last call.
    programs: ProgramPlaces,
    /// The last dispatch's number ([`Route::dispatch`]).
    dispatches: u64,
}

impl Default for Router {
    fn default() -> Self {
        Router::with_limits(RouterLimits::default())
    }
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// A router that refuses growth beyond `limits` (`Capacity` or `InvalidRequest`).
    pub fn with_limits(limits: RouterLimits) -> Self {
        let options = RouterOptions::default();
        Router {
            slots: Vec::new(),
            hot: Vec::new(),
            loads: Vec::new(),
            rr_keys: Vec::new(),
            uniform: true,
            uniform_model: 0,
            prefixes: PrefixIndex::default(),
            excess: Vec::new(),
            fair: ExcessColumns::default(),
            queues: QueueShares::default(),
            adapters: SlotLists::default(),
            by_id: BTreeMap::new(),
            models: BTreeMap::new(),
            limits,
            options,
            weights: options
                .policy
                .weights(options.overlap_weight, options.queue_weight),
            fleet: FleetShare::new(),
            tracked: FxHashMap::default(),
            programs: ProgramPlaces::default(),
            dispatches: 0,
        }
    }

    /// A router with `limits` scoring by `options`; `InvalidRequest` on `overlap_weight`,
    /// `workflow_weight` or `queue_weight` unless finite and >= 0.
    pub fn configured(limits: RouterLimits, options: RouterOptions) -> Result<Self> {
        let w = options.overlap_weight;
        for (field, v) in [
            ("overlap_weight", w),
            ("workflow_weight", options.workflow_weight),
            ("queue_weight", options.queue_weight),
        ] {
            if !v.is_finite() || v < 0.0 {
                let why = format!("must be finite and >= 0, got {v}");
                return Err(Error::invalid(field, why));
            }
        }
        let mut r = Router::with_limits(limits);
        r.options = options;
        r.weights = options.policy.weights(w, options.queue_weight);
        Ok(r)
    }

    pub fn limits(&self) -> RouterLimits {
        self.limits
    }

    pub fn options(&self) -> RouterOptions {
        self.options
    }

    /// The fleet-wide tenant counters.
    pub fn fleet(&self) -> &FleetShare {
        &self.fleet
    }

    /// The fleet-wide tenant counters, to charge what replicas served (the simulator charges
    /// every step; the service charges at [`Router::finish`]).
    pub fn fleet_mut(&mut self) -> &mut FleetShare {
        &mut self.fleet
    }

    /// Refuses a registration that would exceed the replica caps.
    fn check_room(&self, spec: &ReplicaSpec) -> Result<()> {
        let known = self.by_id.contains_key(&spec.id);
        if !known && self.slots.len() >= self.limits.max_replicas {
            let max = self.limits.max_replicas;
            return Err(Error::Capacity(format!(
                "{max} replicas registered, the most allowed"
            )));
        }
        if spec.tenant.is_empty() {
            return Ok(());
        }
        let same_tenant = |r: &&ReplicaStatus| r.spec.tenant == spec.tenant && r.spec.id != spec.id;
        let max = self.limits.max_replicas_per_tenant;
        if self.slots.iter().filter(same_tenant).count() >= max {
            return Err(Error::Capacity(format!(
                "tenant {:?} has {max} replicas registered, the most allowed",
                spec.tenant
            )));
        }
        Ok(())
    }

    /// Refuses a load whose maps exceed [`RouterLimits::max_load_entries`].
    fn check_load_size(&self, load: &Load) -> Result<()> {
        self.check_entries("tenant_service", load.tenant_service.len())?;
        self.check_entries("tenant_waiting", load.tenant_waiting.len())?;
        self.check_entries("resident_adapters", load.adapters.len())
    }

    /// Refuses `n` entries of a load's map `field` beyond [`RouterLimits::max_load_entries`].
    fn check_entries(&self, field: &str, n: usize) -> Result<()> {
        let max = self.limits.max_load_entries;
        if n > max {
            let why = format!("has {n} entries, at most {max} allowed");
            return Err(Error::invalid(field, why));
        }
        Ok(())
    }

    /// Up to `limit` replicas with ids after `after`, in id order, and whether more follow.
    /// With `visible_to`, only those dedicated to that tenant and the shared ones.
    pub fn page(
        &self,
        after: &str,
        limit: usize,
        visible_to: Option<&str>,
    ) -> (Vec<&ReplicaStatus>, bool) {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = if after.is_empty() {
            Unbounded
        } else {
            Excluded(after)
        };
        let visible = |r: &&ReplicaStatus| {
            visible_to.is_none_or(|t| r.spec.tenant.is_empty() || r.spec.tenant == t)
        };
        let mut rest = self
            .by_id
            .range::<str, _>((start, Unbounded))
            .map(|(_, &s)| &self.slots[s as usize])
            .filter(visible);
        let page: Vec<_> = rest.by_ref().take(limit).collect();
        (page, rest.next().is_some())
    }

    /// Re-reads slot `s` into its hot entry (after any change to it).
    fn refresh(&mut self, s: usize) {
        let r = &self.slots[s];
        let next = self.models.len() as u32;
        let model = *self.models.entry(r.spec.model.clone()).or_insert(next);
        let tenant = if r.spec.tenant.is_empty() {
            SHARED
        } else {
            self.fleet.account(&r.spec.tenant)
        };
        let rank = self.hot[s].rank;
        self.hot[s] = Hot {
            model,
            tenant,
            load_blocks: r.load_blocks(),
            waiting: r.effective_waiting(),
            in_flight: r.in_flight,
            routed: r.routed,
            rank,
        };
        self.loads[s] = self.hot[s].load_blocks;
        self.rr_keys[s] = rr_key(&self.hot[s]);
    }

    /// Ranks every slot by id and re-reads whether the fleet is uniform (after a replica
    /// came, went or changed its registration).
    fn rerank(&mut self) {
        for (rank, &s) in self.by_id.values().enumerate() {
            let h = &mut self.hot[s as usize];
            h.rank = rank as u32;
            self.rr_keys[s as usize] = rr_key(h);
        }
        let first = self.hot.first().map_or(0, |h| h.model);
        self.uniform_model = first;
        self.uniform = self
            .hot
            .iter()
            .all(|h| h.tenant == SHARED && h.model == first);
    }

    /// Adds slot `s`'s tenant excess to the by-tenant columns, or drops it.
    fn index_excess(&mut self, s: usize, add: bool) {
        let slot = s as u32;
        for &(a, e) in &self.excess[s] {
            if add {
                self.fair.insert(a, slot, e);
            } else {
                self.fair.remove(a, slot);
            }
        }
    }

    /// Adds slot `s`'s resident adapters to the by-adapter lists, or drops them.
    fn index_adapters(&mut self, s: usize, add: bool) {
        let slot = s as u32;
        for name in &self.slots[s].load.adapters {
            if add {
                self.adapters.insert(name.clone(), slot, true);
            } else {
                self.adapters.remove(name.as_str(), slot);
            }
        }
    }

    /// Replaces slot `s`'s tenant service and re-indexes each tenant's excess there.
    fn set_service(&mut self, s: usize, service: BTreeMap<String, f64>) {
        self.index_excess(s, false);
        let excess: Vec<(u32, f64)> = service
            .keys()
            .map(|t| (t, tenant_excess(&service, t)))
            .filter(|&(_, e)| e > 0.0)
            .map(|(t, e)| (self.fleet.account(t), e))
            .collect();
        self.excess[s] = excess;
        self.slots[s].load.tenant_service = service;
        self.index_excess(s, true);
    }

    fn index_cached(&mut self, s: usize, add: bool) {
        let slot = s as u32;
        for &h in &self.slots[s].load.cached {
            if add {
                self.prefixes.add(h, slot);
            } else {
                self.prefixes.remove(h, slot);
            }
        }
    }

    /// Adds or replaces a replica; a re-registered replica keeps its last load.
    pub fn register(&mut self, spec: ReplicaSpec) -> Result<()> {
        spec.validate_names()?;
        self.check_room(&spec)?;
        let s = match self.by_id.get(&spec.id) {
            Some(&s) => {
                self.slots[s as usize].spec = spec;
                s as usize
            }
            None => {
                let s = self.slots.len();
                self.by_id.insert(spec.id.clone(), s as u32);
                self.slots.push(ReplicaStatus {
                    spec,
                    ..Default::default()
                });
                self.hot.push(Hot::default());
                self.loads.push(0.0);
                self.rr_keys.push(0);
                self.excess.push(Vec::new());
                self.fair.push_slot();
                self.queues.push_slot();
                s
            }
        };
        self.refresh(s);
        self.rerank();
        Ok(())
    }

    /// Removes a replica; `NotFound` if it is not registered.
    pub fn unregister(&mut self, id: &str) -> Result<ReplicaStatus> {
        let s = self
            .by_id
            .remove(id)
            .ok_or_else(|| Error::not_found("replica", id))? as usize;
        self.index_cached(s, false);
        self.index_excess(s, false);
        self.index_adapters(s, false);
        let last = self.slots.len() - 1;
        let gone = self.slots.swap_remove(s);
        self.hot.swap_remove(s);
        self.loads.swap_remove(s);
        self.rr_keys.swap_remove(s);
        self.excess.swap_remove(s);
        self.queues.swap_remove(s);
        if let Some(moved) = self.slots.get(s) {
            self.by_id.insert(moved.spec.id.clone(), s as u32);
            let hashes = moved.load.cached.iter().copied();
            self.prefixes.move_slot(hashes, last as u32, s as u32);
            let (from, to) = (last as u32, s as u32);
            for &(a, _) in &self.excess[s] {
                self.fair.move_slot(a, from, to);
            }
            for name in &moved.load.adapters {
                self.adapters.move_slot(name.as_str(), from, to);
            }
        }
        self.fair.pop_slot();
        self.rerank();
        Ok(gone)
    }

    /// Records a replica's load (replacing the last one); `NotFound` if it is not registered,
    /// `InvalidRequest` for out-of-range values (nothing changes).
    ///
    /// A load naming the last dispatch it reflects (`reflects_dispatch`) clears only the
    /// dispatches up to it from the replica's unreported blocks; one older than a report
    /// already applied there (reordered on the way) changes nothing. `InvalidRequest` for a
    /// dispatch not yet made.
    pub fn report_load(&mut self, id: &str, mut load: Load) -> Result<()> {
        self.check_load_size(&load)?;
        load.validate()?;
        self.check_reflects(load.reflects_dispatch)?;
        let s = self.slot(id)?;
        if !self.slots[s].is_current(load.reflects_dispatch) {
            return Ok(());
        }
        let service = std::mem::take(&mut load.tenant_service);
        let waiting = std::mem::take(&mut load.tenant_waiting);
        self.index_cached(s, false);
        self.index_adapters(s, false);
        let r = &mut self.slots[s];
        r.settle(load.reflects_dispatch);
        r.load = load;
        self.index_cached(s, true);
        self.index_adapters(s, true);
        self.set_service(s, service);
        self.set_waiting(s, waiting);
        self.refresh(s);
        Ok(())
    }

    /// Records a replica's waiting requests per tenant, keeping the rest of its load (a light
    /// report, as [`Router::report_counts`]); `NotFound` if it is not registered,
    /// `InvalidRequest` for a bad tenant name or too many entries (nothing changes).
    pub fn report_waiting(&mut self, id: &str, waiting: BTreeMap<String, u32>) -> Result<()> {
        self.check_entries("tenant_waiting", waiting.len())?;
        validate_waiting(&waiting)?;
        let s = self.slot(id)?;
        self.set_waiting(s, waiting);
        Ok(())
    }

    /// Replaces slot `s`'s waiting requests per tenant and the fleet's sums.
    fn set_waiting(&mut self, s: usize, waiting: BTreeMap<String, u32>) {
        let by_account = waiting
            .iter()
            .map(|(t, &n)| (self.fleet.account(t), n))
            .collect();
        self.queues.set(s, by_account);
        self.slots[s].load.tenant_waiting = waiting;
    }

    /// Records a replica's queue and KV figures, keeping its cached blocks, adapters and
    /// tenant service (a light report between full ones); errors as [`Router::report_load`].
    pub fn report_counts(&mut self, id: &str, counts: Counts) -> Result<()> {
        if !(0.0..=1.0).contains(&counts.kv_usage) {
            return Err(Error::invalid(
                "kv_usage",
                format!("must be in 0..1, got {}", counts.kv_usage),
            ));
        }
        self.check_reflects(counts.reflects_dispatch)?;
        let s = self.slot(id)?;
        let r = &mut self.slots[s];
        if !r.is_current(counts.reflects_dispatch) {
            return Ok(());
        }
        r.settle(counts.reflects_dispatch);
        r.load.waiting = counts.waiting;
        r.load.running = counts.running;
        r.load.kv_usage = counts.kv_usage;
        r.load.waiting_blocks = counts.waiting_blocks;
        r.load.reflects_dispatch = counts.reflects_dispatch;
        self.refresh(s);
        Ok(())
    }

    /// Refuses a report reflecting a dispatch not yet made.
    fn check_reflects(&self, reflects: Option<u64>) -> Result<()> {
        match reflects {
            Some(q) if q > self.dispatches => Err(Error::invalid(
                "reflects_dispatch",
                format!(
                    "names dispatch {q}, the last one made is {}",
                    self.dispatches
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The last dispatch's number ([`Route::dispatch`]; 0 before any).
    pub fn last_dispatch(&self) -> u64 {
        self.dispatches
    }

    /// Applies a replica's prefix-cache events (blocks stored and evicted since its last
    /// events) to its cached blocks; `NotFound` if it is not registered.
    pub fn apply_cache_events(&mut self, id: &str, events: &[CacheEvent]) -> Result<()> {
        let s = self.slot(id)?;
        let cached = &mut self.slots[s].load.cached;
        for e in events {
            match *e {
                CacheEvent::Stored(h) => {
                    if cached.insert(h) {
                        self.prefixes.add(h, s as u32);
                    }
                }
                CacheEvent::Removed(h) => {
                    if cached.remove(&h) {
                        self.prefixes.remove(h, s as u32);
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts a request routed to replica `id` as in flight there; `NotFound` if it is not
    /// registered.
    pub fn note_routed(&mut self, id: &str) -> Result<()> {
        let s = self.slot(id)?;
        let r = &mut self.slots[s];
        r.in_flight = r.in_flight.saturating_add(1);
        self.refresh(s);
        Ok(())
    }

    /// Counts one in-flight request of replica `id` as done (never below zero); `NotFound` if
    /// it is not registered.
    pub fn note_done(&mut self, id: &str) -> Result<()> {
        let s = self.slot(id)?;
        let r = &mut self.slots[s];
        r.in_flight = r.in_flight.saturating_sub(1);
        self.refresh(s);
        Ok(())
    }

    fn slot(&self, id: &str) -> Result<usize> {
        self.by_id
            .get(id)
            .map(|&s| s as usize)
            .ok_or_else(|| Error::not_found("replica", id))
    }

    /// One replica; `NotFound` if it is not registered.
    pub fn replica(&self, id: &str) -> Result<&ReplicaStatus> {
        Ok(&self.slots[self.slot(id)?])
    }

    /// The replicas, by id.
    pub fn replicas(&self) -> impl Iterator<Item = &ReplicaStatus> {
        self.by_id.values().map(|&s| &self.slots[s as usize])
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// [`Router::route`], counting the choice on the chosen replica (its `routed`, and its
    /// prompt blocks until a report reflects it) under the next dispatch number
    /// ([`Route::dispatch`]). A request with an id is tracked until
    /// [`Router::finish`]: in flight on the replica and backlog of its tenant fleet-wide
    /// (`Conflict` if that id is already tracked, `Capacity` beyond
    /// [`RouterLimits::max_tracked_requests`]).
    pub fn dispatch(&mut self, req: &RouteRequest) -> Result<Route> {
        self.check_trackable(req)?;
        let mut route = self.route(req)?;
        let s = self.slot(&route.replica_id)?;
        self.dispatches += 1;
        route.dispatch = self.dispatches;
        let r = &mut self.slots[s];
        r.routed += 1;
        let blocks = req.prompt_blocks(r.spec.tokens_per_block());
        r.note_dispatch(self.dispatches, blocks);
        if !req.id.is_empty() {
            r.in_flight = r.in_flight.saturating_add(1);
            let account = self.fleet.account(&req.tenant);
            self.fleet.begin(account);
            let replica = route.replica_id.clone();
            self.tracked
                .insert(req.id.clone(), Tracked { replica, account });
        }
        if let Some(w) = req.workflow {
            let blocks = req.prompt_blocks(self.slots[s].spec.tokens_per_block());
            self.programs
                .note(&req.tenant, w, &route.replica_id, blocks);
        }
        self.refresh(s);
        Ok(route)
    }

    /// Program `workflow` has ended: forgets the replica of its last call (no-op if unknown).
    pub fn end_program(&mut self, workflow: u64) {
        self.programs.forget(workflow);
    }

    /// Programs whose last call's replica is remembered (at most [`MAX_PROGRAM_PLACES`], and
    /// [`MAX_TENANT_PROGRAM_PLACES`] of one tenant).
    pub fn known_programs(&self) -> usize {
        self.programs.len()
    }

    /// The replica program `workflow`'s last call was dispatched to, if remembered.
    pub fn program_replica(&self, workflow: u64) -> Option<&str> {
        self.programs.get(workflow).map(|(r, _)| r)
    }

    fn check_trackable(&self, req: &RouteRequest) -> Result<()> {
        if req.id.is_empty() {
            return Ok(());
        }
        crate::names::check_id("request_id", &req.id)?;
        if self.tracked.contains_key(&req.id) {
            return Err(Error::Conflict(format!(
                "request {:?} is already routed and not finished",
                req.id
            )));
        }
        if self.tracked.len() >= self.limits.max_tracked_requests {
            let max = self.limits.max_tracked_requests;
            return Err(Error::Capacity(format!(
                "{max} routed requests not finished, the most allowed"
            )));
        }
        Ok(())
    }

    /// A request dispatched with `id` is done: no longer in flight on its replica nor backlog
    /// of its tenant, which is charged `served` weighted tokens (what the replica served it:
    /// `w_in x prefill tokens + w_out x output tokens`). Returns the replica it was routed to;
    /// `NotFound` for an id not tracked, `InvalidRequest` unless `served` is finite and >= 0.
    pub fn finish(&mut self, id: &str, served: f64) -> Result<String> {
        if !served.is_finite() || served < 0.0 {
            return Err(Error::invalid(
                "served",
                format!("must be finite and >= 0, got {served}"),
            ));
        }
        let t = self
            .tracked
            .remove(id)
            .ok_or_else(|| Error::not_found("routed request", id))?;
        if let Some(&s) = self.by_id.get(&t.replica) {
            let r = &mut self.slots[s as usize];
            r.in_flight = r.in_flight.saturating_sub(1);
            self.refresh(s as usize);
        }
        self.fleet.end(t.account);
        self.fleet.charge(t.account, served);
        Ok(t.replica)
    }

    /// [`Router::finish`] charging `input_tokens` prefill and `output_tokens` generated
    /// tokens at the batching scheduler's default weights (`w_in`, `w_out`).
    pub fn finish_tokens(
        &mut self,
        id: &str,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Result<String> {
        let d = crate::batching::BatchConfig::default();
        self.finish(
            id,
            d.w_in * input_tokens as f64 + d.w_out * output_tokens as f64,
        )
    }

    /// The tenant of a request dispatched with `id` and not finished.
    pub fn tracked_tenant(&self, id: &str) -> Option<&str> {
        self.tracked.get(id).map(|t| self.fleet.name(t.account))
    }

    /// Requests dispatched with an id and not finished.
    pub fn tracked_requests(&self) -> usize {
        self.tracked.len()
    }

    /// The best replica for `req` under the router's policy: highest score, then fewest
    /// waiting, then fewest in flight, then greatest id. `NotFound` when no registered replica
    /// serves it.
    pub fn route(&self, req: &RouteRequest) -> Result<Route> {
        let none = || {
            let model = if req.model.is_empty() {
                "(any)"
            } else {
                &req.model
            };
            Error::not_found("replica serving model", model)
        };
        let any_model = req.model.is_empty();
        let model = match any_model {
            true => 0,
            false => self.models.get(&req.model).copied().ok_or_else(none)?,
        };
        let tenant = self.fleet.find(&req.tenant);
        // A dedicated replica serves the request's tenant only; `SHARED` when it has no
        // account (then only shared replicas serve it).
        let own = tenant.unwrap_or(SHARED);
        let mut overlaps = Vec::new();
        self.prefixes.overlaps(&req.block_hashes, &mut overlaps);
        let serves = |s: usize| {
            let h = &self.hot[s];
            (any_model || h.model == model) && (h.tenant == SHARED || h.tenant == own)
        };
        let best = if self.uniform && (any_model || model == self.uniform_model) {
            self.choose(req, tenant, &overlaps, |_| true)
        } else {
            self.choose(req, tenant, &overlaps, serves)
        };
        let mut b = best.ok_or_else(none)?;
        // The program's replica wins ties: the workflow term keeps a program's calls together.
        if let Some(home) = self.program_home(req, &overlaps, serves) {
            if home.slot == b.slot || home.score >= b.score {
                b = home;
            }
        }
        let r = &self.slots[b.slot];
        let mut terms = self.terms(b.slot, &self.hot[b.slot], b.prefix, req, tenant);
        terms.workflow = self.workflow_term(req, b.slot, b.prefix);
        Ok(Route {
            replica_id: r.spec.id.clone(),
            address: r.spec.address.clone(),
            score: b.score,
            prefix_blocks: b.prefix,
            terms,
            dispatch: 0,
        })
    }

    /// The replica of the program's last call, if remembered and serving, as a candidate with
    /// its score including the `workflow` term (the scan scored it without).
    fn program_home(
        &self,
        req: &RouteRequest,
        overlaps: &[(u32, u32)],
        serves: impl Fn(usize) -> bool,
    ) -> Option<Best> {
        if !self.workflow_term_on() {
            return None;
        }
        let (replica, _) = self.programs.get(req.workflow?)?;
        let s = *self.by_id.get(replica)? as usize;
        if !serves(s) {
            return None;
        }
        let h = &self.hot[s];
        let prefix = overlap_of(overlaps, s);
        let tenant = self.fleet.find(&req.tenant);
        let mut terms = self.terms(s, h, prefix, req, tenant);
        terms.workflow = self.workflow_term(req, s, prefix);
        Some(Best::of(s, terms.total(), prefix, h))
    }

    /// The `workflow` term of slot `s` (`prefix` leading blocks cached there) for `req`: on
    /// the replica of its program's last call, `workflow_weight x` that call's prompt blocks
    /// (at most this prompt's) beyond `prefix`; 0 elsewhere, under policies without locality
    /// or without a workflow id. A request with block hashes gets 0: the prefix term then
    /// counts what is really cached, and the workflow term would only argue against it.
    fn workflow_term(&self, req: &RouteRequest, s: usize, prefix: u32) -> f64 {
        let local = self.workflow_term_on() && req.block_hashes.is_empty();
        let Some((replica, blocks)) = req.workflow.and_then(|w| self.programs.get(w)) else {
            return 0.0;
        };
        let r = &self.slots[s];
        if !local || r.spec.id != replica {
            return 0.0;
        }
        let blocks = blocks.min(req.prompt_blocks(r.spec.tokens_per_block()));
        self.options.workflow_weight * f64::from(blocks.saturating_sub(prefix))
    }

    /// Whether the `workflow` term scores: under `cost` and `prefix`, with a weight above 0
    /// (otherwise routing is exactly as without workflow ids).
    fn workflow_term_on(&self) -> bool {
        let local = matches!(
            self.options.policy,
            RoutingPolicy::Cost | RoutingPolicy::Prefix
        );
        local && self.options.workflow_weight > 0.0
    }

    /// The score terms of slot `s` (hot entry `h`, `prefix` leading blocks cached) for `req`
    /// of fleet account `tenant`; round robin scores `-routed` (as its load term).
    fn terms(
        &self,
        s: usize,
        h: &Hot,
        prefix: u32,
        req: &RouteRequest,
        tenant: Option<u32>,
    ) -> ScoreTerms {
        if self.options.policy == RoutingPolicy::RoundRobin {
            return ScoreTerms {
                load: -(h.routed as f64),
                ..ScoreTerms::default()
            };
        }
        let resident =
            !req.adapter.is_empty() && self.slots[s].load.adapters.contains(&req.adapter);
        let excess = match tenant {
            Some(t) => Excess {
                service: self.excess[s]
                    .iter()
                    .find(|&&(a, _)| a == t)
                    .map_or(0.0, |&(_, e)| e),
                queue: self.queues.excess(s, t),
            },
            _ => Excess::default(),
        };
        score::terms(&self.weights, h.load_blocks, prefix, resident, excess)
    }
}

#[cfg(test)]
mod tests;
