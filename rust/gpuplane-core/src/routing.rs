//! Routing requests across registered engine replicas (the daemon's `Route` RPC).
//!
//! A [`Router`] holds replicas (soft state: engines register at start and report their load
//! every few seconds) and picks one per request by a weighted sum of score terms:
//!
//! * `prefix`: [`W_PREFIX`] x the share of the prompt's leading KV blocks the replica has cached;
//! * `adapter`: [`W_ADAPTER`] when the requested LoRA adapter is resident;
//! * `queue`: -[`W_QUEUE`] x waiting requests per running slot (`max_running`, at least 1);
//!   waiting is the reported count, or, when more, the requests routed there and not done
//!   ([`Router::note_routed`] / [`Router::note_done`]) beyond its running slots, so that
//!   requests routed between two load reports do not all pile onto one replica;
//! * `kv`: -[`W_KV`] x KV cache usage (0..1);
//! * `fair`: -[`W_FAIR`] x how far the tenant's share of the replica's recent service exceeds
//!   an equal share among the tenants it served.
//!
//! Ties go to fewer waiting requests, then fewer in flight, then to the greater replica id. The choice is
//! deterministic: the same registrations, loads and request give the same replica.
//!
//! The simulator's policies ([`crate::sim`]'s round-robin / least-loaded / prefix-hash
//! routers) work on simulated replicas and their exact queues; this router works on reported
//! loads, so the two share no code beyond the idea.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashSet;

use crate::{names, Error, Result};

/// Weight of the prefix-cache overlap term.
pub const W_PREFIX: f64 = 2.0;
/// Weight of the adapter-residency term.
pub const W_ADAPTER: f64 = 1.0;
/// Weight of the queue-depth term.
pub const W_QUEUE: f64 = 1.0;
/// Weight of the KV-usage term.
pub const W_KV: f64 = 1.0;
/// Weight of the tenant fair-share term.
pub const W_FAIR: f64 = 0.5;

/// A registered engine replica.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicaSpec {
    pub id: String,
    /// Where clients reach it (passed through to the route).
    pub address: String,
    /// The model it serves; empty matches only requests for any model.
    pub model: String,
    /// The tenant it is dedicated to; empty: shared.
    pub tenant: String,
    pub kv_blocks: u32,
    pub block_size: u32,
    /// Its running-request cap; the queue term divides by it (0 counts as 1).
    pub max_running: u32,
}

impl ReplicaSpec {
    /// Checks the id, address, model and tenant against the name grammar.
    pub fn validate_names(&self) -> Result<()> {
        names::check_id("id", &self.id)?;
        if !self.address.is_empty() {
            names::check_id("address", &self.address)?;
        }
        names::check_optional_name("model", &self.model)?;
        names::check_optional_name("tenant", &self.tenant)
    }
}

/// A replica's last reported load.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Load {
    pub waiting: u32,
    pub running: u32,
    /// KV cache usage, 0..=1.
    pub kv_usage: f64,
    /// Hashes of the full KV blocks it has cached.
    pub cached: FxHashSet<u64>,
    /// LoRA adapters resident on it.
    pub adapters: BTreeSet<String>,
    /// Weighted tokens recently served per tenant (each >= 0).
    pub tenant_service: BTreeMap<String, f64>,
}

impl Load {
    /// Checks the ranges (`kv_usage` in 0..=1, service amounts finite and >= 0).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.kv_usage) {
            return Err(Error::invalid(
                "kv_usage",
                format!("must be in 0..1, got {}", self.kv_usage),
            ));
        }
        for adapter in &self.adapters {
            names::check_name("resident_adapters", adapter)?;
        }
        for (tenant, v) in &self.tenant_service {
            names::check_name("tenant_service", tenant)?;
            if !v.is_finite() || *v < 0.0 {
                return Err(Error::invalid(
                    format!("tenant_service[{tenant}]"),
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// A replica, its last load, how many requests [`Router::dispatch`] sent it, and the requests
/// routed to it that are not done.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaStatus {
    pub spec: ReplicaSpec,
    pub load: Load,
    /// Requests dispatched to it since it registered (kept when it re-registers).
    pub routed: u64,
    /// Routed here ([`Router::note_routed`]) and not yet done ([`Router::note_done`]).
    pub in_flight: u32,
}

impl ReplicaStatus {
    /// The waiting requests the queue term counts: the reported ones, or the requests in
    /// flight beyond its running slots when those are more (the report may predate them).
    pub fn effective_waiting(&self) -> u32 {
        let slots = self.spec.max_running.max(1);
        self.load.waiting.max(self.in_flight.saturating_sub(slots))
    }
}

/// What a request asks of a replica.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteRequest {
    pub tenant: String,
    /// Empty: any model.
    pub model: String,
    /// Empty: none.
    pub adapter: String,
    /// The prompt's full KV block hashes, in order.
    pub block_hashes: Vec<u64>,
}

/// The weighted score terms of one replica for one request (penalties are negative).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreTerms {
    pub prefix: f64,
    pub adapter: f64,
    pub queue: f64,
    pub kv: f64,
    pub fair: f64,
}

impl ScoreTerms {
    /// The term names, in the order of [`ScoreTerms::values`].
    pub const NAMES: [&'static str; 5] = ["prefix", "adapter", "queue", "kv", "fair"];

    pub fn values(&self) -> [f64; 5] {
        [self.prefix, self.adapter, self.queue, self.kv, self.fair]
    }

    /// The score: the sum of the terms.
    pub fn total(&self) -> f64 {
        self.values().iter().fold(0.0, |acc, v| acc + v)
    }

    /// `prefix +1.500, adapter +0.000, queue -0.125, kv -0.500, fair -0.000`.
    pub fn reason(&self) -> String {
        let parts: Vec<String> = Self::NAMES
            .iter()
            .zip(self.values())
            .map(|(k, v)| format!("{k} {v:+.3}"))
            .collect();
        parts.join(", ")
    }
}

/// The chosen replica and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub replica_id: String,
    pub address: String,
    pub score: f64,
    /// Leading prompt blocks the replica has cached.
    pub prefix_blocks: u32,
    pub terms: ScoreTerms,
    /// The terms as text ([`ScoreTerms::reason`]).
    pub reason: String,
}

/// How many leading blocks of the prompt are in `cached`.
pub fn prefix_overlap(hashes: &[u64], cached: &FxHashSet<u64>) -> usize {
    hashes.iter().take_while(|h| cached.contains(h)).count()
}

/// How far `tenant`'s share of `service` exceeds an equal share among the tenants in it
/// (>= 0; 0 when nothing was served or the tenant was not).
pub fn tenant_excess(service: &BTreeMap<String, f64>, tenant: &str) -> f64 {
    let total: f64 = service.values().sum();
    match service.get(tenant) {
        Some(mine) if total > 0.0 => (mine / total - 1.0 / service.len() as f64).max(0.0),
        _ => 0.0,
    }
}

/// The score terms of replica `r` for request `req`, and its prefix blocks.
pub fn score(r: &ReplicaStatus, req: &RouteRequest) -> (ScoreTerms, usize) {
    let hashes = &req.block_hashes;
    let prefix = prefix_overlap(hashes, &r.load.cached);
    let share = if hashes.is_empty() {
        0.0
    } else {
        prefix as f64 / hashes.len() as f64
    };
    let resident = !req.adapter.is_empty() && r.load.adapters.contains(&req.adapter);
    let terms = ScoreTerms {
        prefix: W_PREFIX * share,
        adapter: W_ADAPTER * if resident { 1.0 } else { 0.0 },
        queue: -W_QUEUE * f64::from(r.effective_waiting()) / f64::from(r.spec.max_running.max(1)),
        kv: -W_KV * r.load.kv_usage,
        fair: -W_FAIR * tenant_excess(&r.load.tenant_service, &req.tenant),
    };
    (terms, prefix)
}

/// Caps on what registering and reporting callers can grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterLimits {
    /// Registered replicas in all.
    pub max_replicas: usize,
    /// Registered replicas dedicated to one tenant.
    pub max_replicas_per_tenant: usize,
    /// Entries of a load's `tenant_service` map and of its resident adapters.
    pub max_load_entries: usize,
}

impl Default for RouterLimits {
    fn default() -> Self {
        RouterLimits {
            max_replicas: 10_000,
            max_replicas_per_tenant: 1_000,
            max_load_entries: 1_024,
        }
    }
}

/// The replica registry and the routing choice.
#[derive(Debug, Clone, Default)]
pub struct Router {
    replicas: BTreeMap<String, ReplicaStatus>,
    limits: RouterLimits,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// A router that refuses growth beyond `limits` (`Capacity` or `InvalidRequest`).
    pub fn with_limits(limits: RouterLimits) -> Self {
        Router {
            replicas: BTreeMap::new(),
            limits,
        }
    }

    pub fn limits(&self) -> RouterLimits {
        self.limits
    }

    /// Refuses a registration that would exceed the replica caps.
    fn check_room(&self, spec: &ReplicaSpec) -> Result<()> {
        let known = self.replicas.contains_key(&spec.id);
        if !known && self.replicas.len() >= self.limits.max_replicas {
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
        if self.replicas.values().filter(same_tenant).count() >= max {
            return Err(Error::Capacity(format!(
                "tenant {:?} has {max} replicas registered, the most allowed",
                spec.tenant
            )));
        }
        Ok(())
    }

    /// Refuses a load whose maps exceed [`RouterLimits::max_load_entries`].
    fn check_load_size(&self, load: &Load) -> Result<()> {
        let max = self.limits.max_load_entries;
        for (field, n) in [
            ("tenant_service", load.tenant_service.len()),
            ("resident_adapters", load.adapters.len()),
        ] {
            if n > max {
                return Err(Error::invalid(
                    field,
                    format!("has {n} entries, at most {max} allowed"),
                ));
            }
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
            .replicas
            .range::<str, _>((start, Unbounded))
            .map(|(_, r)| r)
            .filter(visible);
        let page: Vec<_> = rest.by_ref().take(limit).collect();
        (page, rest.next().is_some())
    }

    /// Adds or replaces a replica; a re-registered replica keeps its last load.
    pub fn register(&mut self, spec: ReplicaSpec) -> Result<()> {
        spec.validate_names()?;
        self.check_room(&spec)?;
        match self.replicas.get_mut(&spec.id) {
            Some(r) => r.spec = spec,
            None => {
                let id = spec.id.clone();
                self.replicas.insert(
                    id,
                    ReplicaStatus {
                        spec,
                        ..Default::default()
                    },
                );
            }
        }
        Ok(())
    }

    /// Removes a replica; `NotFound` if it is not registered.
    pub fn unregister(&mut self, id: &str) -> Result<ReplicaStatus> {
        self.replicas
            .remove(id)
            .ok_or_else(|| Error::not_found("replica", id))
    }

    /// Records a replica's load (replacing the last one); `NotFound` if it is not registered,
    /// `InvalidRequest` for out-of-range values (nothing changes).
    pub fn report_load(&mut self, id: &str, load: Load) -> Result<()> {
        self.check_load_size(&load)?;
        load.validate()?;
        self.replica_mut(id)?.load = load;
        Ok(())
    }

    /// Counts a request routed to replica `id` as in flight there; `NotFound` if it is not
    /// registered.
    pub fn note_routed(&mut self, id: &str) -> Result<()> {
        let r = self.replica_mut(id)?;
        r.in_flight = r.in_flight.saturating_add(1);
        Ok(())
    }

    /// Counts one in-flight request of replica `id` as done (never below zero); `NotFound` if
    /// it is not registered.
    pub fn note_done(&mut self, id: &str) -> Result<()> {
        let r = self.replica_mut(id)?;
        r.in_flight = r.in_flight.saturating_sub(1);
        Ok(())
    }

    fn replica_mut(&mut self, id: &str) -> Result<&mut ReplicaStatus> {
        self.replicas
            .get_mut(id)
            .ok_or_else(|| Error::not_found("replica", id))
    }

    /// One replica; `NotFound` if it is not registered.
    pub fn replica(&self, id: &str) -> Result<&ReplicaStatus> {
        self.replicas
            .get(id)
            .ok_or_else(|| Error::not_found("replica", id))
    }

    /// The replicas, by id.
    pub fn replicas(&self) -> impl Iterator<Item = &ReplicaStatus> {
        self.replicas.values()
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Replicas that may serve `req`: its model (any when the request names none), shared or
    /// dedicated to its tenant.
    pub fn candidates<'a>(
        &'a self,
        req: &'a RouteRequest,
    ) -> impl Iterator<Item = &'a ReplicaStatus> + 'a {
        self.replicas.values().filter(move |r| {
            (req.model.is_empty() || r.spec.model == req.model)
                && (r.spec.tenant.is_empty() || r.spec.tenant == req.tenant)
        })
    }

    /// [`Router::route`], counting the choice on the chosen replica: the path of a service
    /// whose answers are followed, so that each replica's share of the routing is known.
    pub fn dispatch(&mut self, req: &RouteRequest) -> Result<Route> {
        let route = self.route(req)?;
        if let Some(r) = self.replicas.get_mut(&route.replica_id) {
            r.routed += 1;
        }
        Ok(route)
    }

    /// The best replica for `req`: highest score, then fewest waiting, then fewest in
    /// flight, then greatest id.
    /// `NotFound` when no registered replica serves it.
    pub fn route(&self, req: &RouteRequest) -> Result<Route> {
        let mut best: Option<(&ReplicaStatus, ScoreTerms, f64, usize)> = None;
        for r in self.candidates(req) {
            let (terms, prefix) = score(r, req);
            let total = terms.total();
            let better = match &best {
                None => true,
                Some((b, _, b_total, _)) => {
                    let by_score = total.partial_cmp(b_total).unwrap_or(Ordering::Equal);
                    by_score
                        .then_with(|| b.effective_waiting().cmp(&r.effective_waiting()))
                        .then_with(|| b.in_flight.cmp(&r.in_flight))
                        .then_with(|| r.spec.id.cmp(&b.spec.id))
                        == Ordering::Greater
                }
            };
            if better {
                best = Some((r, terms, total, prefix));
            }
        }
        let (r, terms, score, prefix) = best.ok_or_else(|| {
            Error::not_found(
                "replica serving model",
                if req.model.is_empty() {
                    "(any)"
                } else {
                    &req.model
                },
            )
        })?;
        Ok(Route {
            replica_id: r.spec.id.clone(),
            address: r.spec.address.clone(),
            score,
            prefix_blocks: u32::try_from(prefix).unwrap_or(u32::MAX),
            terms,
            reason: terms.reason(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, model: &str, tenant: &str, max_running: u32) -> ReplicaSpec {
        ReplicaSpec {
            id: id.into(),
            address: format!("{id}:8000"),
            model: model.into(),
            tenant: tenant.into(),
            max_running,
            ..Default::default()
        }
    }

    fn load(waiting: u32, kv_usage: f64, cached: &[u64]) -> Load {
        Load {
            waiting,
            kv_usage,
            cached: cached.iter().copied().collect(),
            ..Default::default()
        }
    }

    fn req(model: &str, hashes: &[u64]) -> RouteRequest {
        RouteRequest {
            tenant: "default".into(),
            model: model.into(),
            adapter: String::new(),
            block_hashes: hashes.to_vec(),
        }
    }

    #[test]
    fn registrations_and_loads_are_bounded() {
        let limits = RouterLimits {
            max_replicas: 3,
            max_replicas_per_tenant: 1,
            max_load_entries: 1,
        };
        let mut r = Router::with_limits(limits);
        r.register(spec("a1", "m", "a", 1)).unwrap();
        assert!(matches!(
            r.register(spec("a2", "m", "a", 1)),
            Err(Error::Capacity(_))
        ));
        r.register(spec("a1", "m", "a", 1)).unwrap();
        r.register(spec("s1", "m", "", 1)).unwrap();
        r.register(spec("s2", "m", "", 1)).unwrap();
        assert!(matches!(
            r.register(spec("s3", "m", "", 1)),
            Err(Error::Capacity(_))
        ));
        let mut big = load(0, 0.0, &[]);
        big.tenant_service = [("a".into(), 1.0), ("b".into(), 1.0)].into();
        let err = r.report_load("a1", big).unwrap_err();
        assert!(
            matches!(err, Error::InvalidRequest { ref field, .. } if field == "tenant_service")
        );
    }

    #[test]
    fn pages_follow_id_order_and_show_a_tenant_its_own_and_shared() {
        let mut r = Router::new();
        for (id, tenant) in [("a1", "a"), ("b1", "b"), ("s1", ""), ("s2", "")] {
            r.register(spec(id, "m", tenant, 1)).unwrap();
        }
        let ids = |(page, more): (Vec<&ReplicaStatus>, bool)| {
            (
                page.iter().map(|s| s.spec.id.clone()).collect::<Vec<_>>(),
                more,
            )
        };
        assert_eq!(
            ids(r.page("", 2, None)),
            (vec!["a1".into(), "b1".into()], true)
        );
        assert_eq!(
            ids(r.page("b1", 2, None)),
            (vec!["s1".into(), "s2".into()], false)
        );
        let mine = ids(r.page("", 10, Some("a")));
        assert_eq!(mine, (vec!["a1".into(), "s1".into(), "s2".into()], false));
    }

    fn two() -> Router {
        let mut r = Router::new();
        r.register(spec("r1", "llama", "", 8)).unwrap();
        r.register(spec("r2", "llama", "", 8)).unwrap();
        r
    }

    #[test]
    fn prefix_overlap_counts_leading_blocks_only() {
        let cached: FxHashSet<u64> = [1, 2, 4].into_iter().collect();
        assert_eq!(prefix_overlap(&[1, 2, 3, 4], &cached), 2);
        assert_eq!(prefix_overlap(&[3, 1], &cached), 0);
        assert_eq!(prefix_overlap(&[], &cached), 0);
    }

    #[test]
    fn tenant_excess_is_share_above_equal() {
        let s: BTreeMap<String, f64> = [("a".to_string(), 3.0), ("b".to_string(), 1.0)].into();
        assert!((tenant_excess(&s, "a") - 0.25).abs() < 1e-12);
        assert_eq!(tenant_excess(&s, "b"), 0.0);
        assert_eq!(tenant_excess(&s, "c"), 0.0);
        let zero: BTreeMap<String, f64> = [("a".to_string(), 0.0)].into();
        assert_eq!(tenant_excess(&zero, "a"), 0.0);
    }

    #[test]
    fn prefix_overlap_then_load() {
        let mut r = two();
        r.report_load("r1", load(1, 0.5, &[1, 2, 3])).unwrap();
        r.report_load("r2", load(0, 0.1, &[])).unwrap();
        let c = r.route(&req("llama", &[1, 2, 3, 4])).unwrap();
        assert_eq!((c.replica_id.as_str(), c.prefix_blocks), ("r1", 3));
        assert_eq!(c.address, "r1:8000");
        // 2 * 3/4 - 1/8 - 0.5
        assert!((c.score - 0.875).abs() < 1e-12);
        assert_eq!(
            c.reason,
            "prefix +1.500, adapter +0.000, queue -0.125, kv -0.500, fair -0.000"
        );
        let c = r.route(&req("llama", &[9])).unwrap();
        assert_eq!((c.replica_id.as_str(), c.prefix_blocks), ("r2", 0));
    }

    #[test]
    fn queue_term_divides_by_max_running_at_least_one() {
        let mut r = Router::new();
        r.register(spec("a", "m", "", 0)).unwrap();
        r.register(spec("b", "m", "", 4)).unwrap();
        r.report_load("a", load(2, 0.0, &[])).unwrap();
        r.report_load("b", load(4, 0.0, &[])).unwrap();
        let (ta, _) = score(r.replica("a").unwrap(), &req("m", &[]));
        let (tb, _) = score(r.replica("b").unwrap(), &req("m", &[]));
        assert_eq!((ta.queue, tb.queue), (-2.0, -1.0));
        assert_eq!(r.route(&req("m", &[])).unwrap().replica_id, "b");
    }

    #[test]
    fn resident_adapter_scores() {
        let mut r = two();
        let mut l = load(0, 0.2, &[]);
        l.adapters.insert("sql".into());
        r.report_load("r1", l).unwrap();
        let mut q = req("llama", &[]);
        q.adapter = "sql".into();
        let c = r.route(&q).unwrap();
        assert_eq!(c.replica_id, "r1");
        assert_eq!(c.terms.adapter, W_ADAPTER);
        // No adapter asked: r1's KV use loses to idle r2.
        assert_eq!(r.route(&req("llama", &[])).unwrap().replica_id, "r2");
    }

    #[test]
    fn fair_share_penalises_the_dominant_tenant() {
        let mut r = two();
        let mut l = load(0, 0.0, &[]);
        l.tenant_service = [("a".to_string(), 9.0), ("b".to_string(), 1.0)].into();
        r.report_load("r2", l).unwrap();
        let mut q = req("llama", &[]);
        q.tenant = "a".into();
        let c = r.route(&q).unwrap();
        assert_eq!(c.replica_id, "r1");
        q.tenant = "b".into();
        // Equal scores and queues: the greater id.
        assert_eq!(r.route(&q).unwrap().replica_id, "r2");
        let (t, _) = score(r.replica("r2").unwrap(), &{
            let mut q = req("llama", &[]);
            q.tenant = "a".into();
            q
        });
        assert!((t.fair + W_FAIR * 0.4).abs() < 1e-12);
    }

    #[test]
    fn ties_go_to_fewer_waiting_then_greater_id() {
        let mut r = Router::new();
        r.register(spec("a", "m", "", 1)).unwrap();
        r.register(spec("b", "m", "", 2)).unwrap();
        r.register(spec("c", "m", "", 1)).unwrap();
        // a: -1/1 + 0 = -1, b: -2/2 = -1 (more waiting), c: -1/1 = -1.
        r.report_load("a", load(1, 0.0, &[])).unwrap();
        r.report_load("b", load(2, 0.0, &[])).unwrap();
        r.report_load("c", load(1, 0.0, &[])).unwrap();
        assert_eq!(r.route(&req("m", &[])).unwrap().replica_id, "c");
        r.unregister("c").unwrap();
        assert_eq!(r.route(&req("m", &[])).unwrap().replica_id, "a");
    }

    #[test]
    fn candidates_match_model_and_tenant() {
        let mut r = Router::new();
        r.register(spec("shared", "llama", "", 8)).unwrap();
        r.register(spec("mine", "llama", "a", 8)).unwrap();
        r.register(spec("other", "mistral", "", 8)).unwrap();
        r.report_load("shared", load(4, 0.9, &[])).unwrap();
        let mut q = req("llama", &[]);
        q.tenant = "a".into();
        assert_eq!(r.route(&q).unwrap().replica_id, "mine");
        q.tenant = "b".into();
        assert_eq!(r.route(&q).unwrap().replica_id, "shared");
        q.model = String::new();
        assert_eq!(r.route(&q).unwrap().replica_id, "other");
        q.model = "gpt".into();
        assert!(matches!(r.route(&q), Err(Error::NotFound { .. })));
    }

    #[test]
    fn registry_errors_and_reregistration_keeps_load() {
        let mut r = Router::new();
        assert!(matches!(
            r.route(&req("", &[])),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            r.report_load("x", Load::default()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            r.register(spec("", "m", "", 1)),
            Err(Error::InvalidRequest { .. })
        ));
        r.register(spec("x", "m", "", 1)).unwrap();
        assert!(matches!(
            r.report_load("x", load(0, 1.5, &[])),
            Err(Error::InvalidRequest { .. })
        ));
        let mut bad = Load::default();
        bad.tenant_service.insert("t".into(), f64::NAN);
        assert!(r.report_load("x", bad).is_err());
        r.report_load("x", load(3, 0.5, &[7])).unwrap();
        r.register(spec("x", "m2", "", 2)).unwrap();
        let x = r.replica("x").unwrap();
        assert_eq!((x.spec.model.as_str(), x.load.waiting), ("m2", 3));
        assert!(r.unregister("x").is_ok());
        assert!(r.unregister("x").is_err());
        assert!(r.is_empty());
    }

    #[test]
    fn dispatch_counts_each_choice_and_route_does_not() {
        let mut r = Router::new();
        r.register(spec("a", "m", "", 4)).unwrap();
        r.register(spec("b", "m", "", 4)).unwrap();
        r.report_load("b", load(5, 0.0, &[])).unwrap();
        let req = RouteRequest {
            tenant: "t".into(),
            model: "m".into(),
            ..Default::default()
        };
        r.route(&req).unwrap();
        assert_eq!(r.replica("a").unwrap().routed, 0);
        for _ in 0..3 {
            assert_eq!(r.dispatch(&req).unwrap().replica_id, "a");
        }
        r.register(spec("a", "m2", "", 4)).unwrap();
        assert_eq!(
            (
                r.replica("a").unwrap().routed,
                r.replica("b").unwrap().routed
            ),
            (3, 0)
        );
        let none = RouteRequest {
            model: "missing".into(),
            ..req
        };
        assert!(r.dispatch(&none).is_err());
    }

    #[test]
    fn reason_formats_signed_terms() {
        let t = ScoreTerms {
            prefix: 2.0,
            adapter: 0.0,
            queue: -0.0,
            kv: -0.25,
            fair: -0.0625,
        };
        assert_eq!(
            t.reason(),
            "prefix +2.000, adapter +0.000, queue -0.000, kv -0.250, fair -0.062"
        );
    }

    #[test]
    fn requests_in_flight_spread_between_load_reports() {
        let mut r = two();
        for id in ["r1", "r2"] {
            r.report_load(id, load(0, 0.0, &[])).unwrap();
        }
        let mut chosen = Vec::new();
        for _ in 0..4 {
            let c = r.route(&req("llama", &[])).unwrap();
            r.note_routed(&c.replica_id).unwrap();
            chosen.push(c.replica_id);
        }
        // Equal scores: fewer in flight wins, so the four alternate instead of piling up.
        assert_eq!(chosen, ["r2", "r1", "r2", "r1"]);
        r.note_done("r2").unwrap();
        assert_eq!(r.replica("r2").unwrap().in_flight, 1);
        assert!(r.note_routed("nope").is_err());
    }

    #[test]
    fn in_flight_beyond_running_slots_counts_as_waiting() {
        let mut r = Router::new();
        r.register(spec("a", "m", "", 2)).unwrap();
        for _ in 0..5 {
            r.note_routed("a").unwrap();
        }
        let a = r.replica("a").unwrap();
        assert_eq!(a.effective_waiting(), 3);
        let (t, _) = score(a, &req("m", &[]));
        assert!((t.queue + 1.5).abs() < 1e-12);
        // A later report that shows more waiting wins; done never goes below zero.
        r.report_load("a", load(4, 0.0, &[])).unwrap();
        assert_eq!(r.replica("a").unwrap().effective_waiting(), 4);
        for _ in 0..7 {
            r.note_done("a").unwrap();
        }
        assert_eq!(r.replica("a").unwrap().in_flight, 0);
    }
}
