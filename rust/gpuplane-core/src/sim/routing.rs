//! The simulator's replicas behind the core [`Router`]: each replica is registered with its KV
//! pool, reports its queue and KV figures before every routing decision and publishes its
//! prefix-cache events (the exact cache, as vLLM's KV events give a production router);
//! served tokens are charged to the router's fleet-wide tenant counters as they are served.
//!
//! A tenant is backlogged in the fleet's counters ([`crate::routing::FleetShare::begin`] /
//! `end`) while it has requests *waiting* on some replica (routed and not admitted, or
//! preempted): the same backlog as each engine's own VTC and as the report's fairness, so a
//! tenant whose queues emptied is lifted when it queues again instead of keeping the credit it
//! banked while only running requests.

use std::collections::BTreeMap;

use super::config::{SimConfig, TenantSpec};
use super::engine::Sim;
use super::request::Status;
use crate::batching::{BatchConfig, CacheEvent, Policy};
use crate::error::Result;
use crate::routing::{
    Counts, ReplicaSpec, Route, RouteRequest, Router, RouterLimits, RouterOptions,
};

/// The router of a run's replicas and the fleet account of each tenant.
pub(crate) struct FleetRouter {
    pub router: Router,
    /// Fleet account per tenant index.
    pub accounts: Vec<u32>,
    /// Whether schedulers read the fleet counters before each step (the `fair` and
    /// `program_las` batching policies, which order tenants, under a routing policy with
    /// fleet-wide fair share).
    pub sync_counters: bool,
    /// Whether route requests carry the prompts' block hashes ([`SimConfig::route_hashes`]).
    route_hashes: bool,
    /// Whether replicas report their waiting requests per tenant (the router weighs them).
    report_waiting: bool,
    events: Vec<CacheEvent>,
}

/// The id of replica `r` (zero-padded so that id order is index order).
pub(crate) fn replica_id(r: usize) -> String {
    format!("r{r:04}")
}

/// A replica's waiting requests per tenant index, by tenant name (those with any).
fn tenant_waiting(tenants: &[TenantSpec], waiting: &[u32]) -> BTreeMap<String, u32> {
    tenants
        .iter()
        .zip(waiting)
        .filter(|&(_, &n)| n > 0)
        .map(|(t, &n)| (t.name.clone(), n))
        .collect()
}

/// The fleet counters' maximum lag: `fleet_lag x N x U` (see [`SimConfig::fleet_lag`]), under a
/// fleet-fair routing policy with a lag above 0.
fn max_lag(cfg: &SimConfig, bcfg: &BatchConfig, tenants: &[TenantSpec]) -> Option<f64> {
    if !cfg.routing.fleet_fair() || cfg.fleet_lag == 0.0 {
        return None;
    }
    let step = f64::from(bcfg.token_budget.max(1)) * bcfg.w_in.max(bcfg.w_out);
    let lightest = tenants
        .iter()
        .map(|t| t.weight)
        .fold(f64::INFINITY, f64::min);
    let lag = cfg.fleet_lag * f64::from(cfg.replicas) * step / lightest;
    (lag.is_finite() && lag > 0.0).then_some(lag)
}

fn replica_index(id: &str) -> usize {
    id[1..].parse().expect("the simulator's own replica ids")
}

impl FleetRouter {
    pub fn new(cfg: &SimConfig, bcfg: &BatchConfig, tenants: &[TenantSpec]) -> Result<Self> {
        let limits = RouterLimits {
            max_replicas: cfg.replicas as usize,
            max_tracked_requests: usize::MAX,
            ..RouterLimits::default()
        };
        let options = RouterOptions {
            policy: cfg.routing,
            overlap_weight: cfg.overlap_weight,
            workflow_weight: cfg.workflow_weight,
            queue_weight: cfg.queue_weight,
        };
        let mut router = Router::configured(limits, options)?;
        for r in 0..cfg.replicas as usize {
            router.register(ReplicaSpec {
                id: replica_id(r),
                kv_blocks: bcfg.kv_blocks,
                block_size: bcfg.block_size,
                max_running: bcfg.max_running,
                ..ReplicaSpec::default()
            })?;
        }
        let mut accounts = Vec::with_capacity(tenants.len());
        for t in tenants {
            router.fleet_mut().set_weight(&t.name, t.weight)?;
            accounts.push(router.fleet_mut().account(&t.name));
        }
        router
            .fleet_mut()
            .set_max_lag(max_lag(cfg, bcfg, tenants))?;
        Ok(Self {
            router,
            accounts,
            sync_counters: cfg.routing.fleet_fair()
                && matches!(bcfg.policy, Policy::Fair | Policy::ProgramLas),
            route_hashes: cfg.route_hashes,
            report_waiting: cfg.queue_weight > 0.0 && cfg.routing.fleet_fair(),
            events: Vec::new(),
        })
    }
}

impl Sim<'_> {
    /// Reports every replica's figures and cache events to the router.
    fn report_loads(&mut self) {
        let fr = &mut self.fleet;
        for (r, rep) in self.replicas.iter_mut().enumerate() {
            let kv_blocks = rep.sched.config().kv_blocks.max(1);
            let counts = Counts {
                waiting: rep.sched.num_waiting() as u32,
                running: rep.sched.num_running() as u32,
                kv_usage: (f64::from(rep.sched.kv_used_blocks()) / f64::from(kv_blocks)).min(1.0),
                waiting_blocks: rep.waiting_blocks,
                // Taken now: it reflects every dispatch so far.
                reflects_dispatch: Some(fr.router.last_dispatch()),
            };
            let id = replica_id(r);
            fr.router.report_counts(&id, counts).expect("registered");
            if fr.report_waiting {
                let waiting = tenant_waiting(&self.tenants, &rep.waiting_by_tenant);
                fr.router.report_waiting(&id, waiting).expect("registered");
            }
            fr.events.clear();
            rep.sched.drain_cache_events(&mut fr.events);
            fr.router
                .apply_cache_events(&id, &fr.events)
                .expect("registered");
        }
    }

    /// Routes request `i` (its engine block hashes `hashes`) and returns the replica index.
    pub(crate) fn route(&mut self, i: usize, hashes: &[u64]) -> usize {
        self.report_loads();
        let tenant = self.w.tenant[i] as usize;
        let req = RouteRequest {
            tenant: self.tenants[tenant].name.clone(),
            block_hashes: match self.fleet.route_hashes {
                true => hashes.to_vec(),
                false => Vec::new(),
            },
            prompt_tokens: self.w.prompt[i],
            workflow: u64::try_from(self.w.workflow[i]).ok(),
            ..RouteRequest::default()
        };
        let fr = &mut self.fleet;
        let route: Route = fr.router.dispatch(&req).expect("replicas serve any model");
        fr.router
            .note_routed(&route.replica_id)
            .expect("registered");
        let r = replica_index(&route.replica_id);
        self.fleet_waits(r, tenant as u32, true);
        r
    }

    /// Request `i` is done (finished, or refused after routing while it waited).
    pub(crate) fn route_done(&mut self, i: usize) {
        let id = replica_id(self.reqs[i].replica as usize);
        self.fleet.router.note_done(&id).expect("registered");
        if self.reqs[i].status != Status::Finished {
            let r = self.reqs[i].replica as usize;
            self.fleet_waits(r, self.w.tenant[i], false);
        }
    }

    /// One request of `tenant` on replica `r` starts (`true`: routed or preempted) or stops
    /// (admitted or refused) waiting: its fleet backlog and the replica's queue per tenant.
    pub(crate) fn fleet_waits(&mut self, r: usize, tenant: u32, waits: bool) {
        let queue = &mut self.replicas[r].waiting_by_tenant;
        if queue.len() <= tenant as usize {
            queue.resize(tenant as usize + 1, 0);
        }
        let n = &mut queue[tenant as usize];
        *n = if waits { *n + 1 } else { n.saturating_sub(1) };
        let a = self.fleet.accounts[tenant as usize];
        let fleet = self.fleet.router.fleet_mut();
        if waits {
            fleet.begin(a);
        } else {
            fleet.end(a);
        }
    }

    /// Credits `amount` weighted tokens served to request `i`'s tenant at `t`: the report's
    /// timeline and the router's fleet counter.
    pub(crate) fn served(&mut self, t: f64, tenant: u32, amount: f64) {
        self.timeline.serve(t, tenant, amount);
        let a = self.fleet.accounts[tenant as usize];
        self.fleet.router.fleet_mut().charge(a, amount);
    }

    /// Before a step of replica `r`: its scheduler reads the fleet counters.
    pub(crate) fn sync_counters(&mut self, r: usize) {
        if !self.fleet.sync_counters {
            return;
        }
        let fleet = self.fleet.router.fleet();
        for (t, &a) in self.tenants.iter().zip(&self.fleet.accounts) {
            self.replicas[r]
                .sched
                .set_tenant_counter(&t.name, fleet.counter(a))
                .expect("every tenant is declared to every replica");
        }
    }
}
