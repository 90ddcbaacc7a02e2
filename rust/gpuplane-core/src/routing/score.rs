//! The routing cost model: each candidate replica's score for a request, in KV blocks.
//!
//! `cost = overlap_weight x blocks to prefill there + load blocks`, so a cached prefix is worth
//! exactly the queued work it saves, at any load: a replica with `k` more leading blocks cached
//! wins unless its load is more than `overlap_weight x k` blocks higher. The score is the
//! negated cost without the part common to all replicas (`overlap_weight x prompt blocks`):
//!
//! * `prefix`: `prefix x` leading prompt blocks cached there;
//! * `adapter`: `adapter` blocks when the requested LoRA adapter is resident (the load it saves);
//! * `load`: `-load x` [`ReplicaStatus::load_blocks`];
//! * `fair`: `-(fair x excess + queue x queue excess) x load blocks`, where `excess` is how far
//!   the tenant's share of the replica's recent service exceeds an equal share among the tenants
//!   it served (a dominant tenant sees a replica it dominates as proportionally busier), and
//!   `queue excess` how far its share of the replica's waiting requests exceeds its share of the
//!   fleet's (a tenant queued mostly on one replica sees it busier, so that it stays queued on
//!   every replica: see `queues.rs`).
//!
//! A [`RoutingPolicy`] is a set of these weights, except round robin (fewest dispatched).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use super::replica::ReplicaStatus;
use crate::{Error, Result};

/// How the router chooses among candidate replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingPolicy {
    /// The replica dispatched to least often, then the lowest id.
    RoundRobin,
    /// The fewest load blocks.
    LeastLoaded,
    /// The longest cached prefix, then the fewest load blocks (locality at any cost).
    #[serde(alias = "prefix_aware")]
    Prefix,
    /// Load plus the tenant fair-share term.
    TenantFair,
    /// The whole cost model: prefix, adapter, load and fair share (the production default).
    #[default]
    Cost,
}

impl RoutingPolicy {
    /// Every policy, by name.
    pub const ALL: [(&'static str, RoutingPolicy); 5] = [
        ("round_robin", RoutingPolicy::RoundRobin),
        ("least_loaded", RoutingPolicy::LeastLoaded),
        ("prefix", RoutingPolicy::Prefix),
        ("tenant_fair", RoutingPolicy::TenantFair),
        ("cost", RoutingPolicy::Cost),
    ];

    /// The policy called `name`; `InvalidRequest` on `routing` otherwise.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, p)| p)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                Error::invalid(
                    "routing",
                    format!("unknown policy {name:?}; expected one of {names:?}"),
                )
            })
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .expect("listed")
            .0
    }

    /// Whether the policy keeps fleet-wide fair share: replicas' `fair` schedulers order
    /// tenants by the router's fleet counters ([`super::FleetShare`]) rather than their own.
    pub fn fleet_fair(self) -> bool {
        matches!(self, RoutingPolicy::TenantFair | RoutingPolicy::Cost)
    }

    /// The score weights of the policy (round robin scores nothing); `queue_weight` weighs the
    /// queue-share excess under the fleet-fair policies.
    pub fn weights(self, overlap_weight: f64, queue_weight: f64) -> Weights {
        let none = Weights::default();
        match self {
            RoutingPolicy::RoundRobin => none,
            RoutingPolicy::LeastLoaded => Weights { load: 1.0, ..none },
            RoutingPolicy::Prefix => Weights {
                prefix: PREFIX_FIRST,
                load: 1.0,
                ..none
            },
            RoutingPolicy::TenantFair => Weights {
                load: 1.0,
                fair: 1.0,
                queue: queue_weight,
                ..none
            },
            RoutingPolicy::Cost => Weights {
                prefix: overlap_weight,
                adapter: ADAPTER_BLOCKS,
                load: 1.0,
                fair: 1.0,
                queue: queue_weight,
            },
        }
    }
}

/// The prefix weight of [`RoutingPolicy::Prefix`]: a block of overlap outweighs any load.
const PREFIX_FIRST: f64 = 1e9;
/// What a resident adapter is worth, in blocks of load.
pub const ADAPTER_BLOCKS: f64 = 64.0;
/// The default `overlap_weight`: a cached block saves one block of queued work.
pub const OVERLAP_WEIGHT: f64 = 1.0;
/// The default `queue_weight`: the smallest of 2, 4 and 8 that met issue #13's target in all
/// five tenant assignments of conv +apps x4 (BENCHMARKS.md, "Queue-share term").
pub const QUEUE_WEIGHT: f64 = 2.0;

/// Weights of the score terms.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Weights {
    pub prefix: f64,
    pub adapter: f64,
    pub load: f64,
    pub fair: f64,
    pub queue: f64,
}

/// The weighted score terms of one replica for one request (penalties are negative).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreTerms {
    pub prefix: f64,
    pub adapter: f64,
    pub load: f64,
    pub fair: f64,
    /// On the replica of the program's last call: the previous call's blocks likely still
    /// cached there (see `programs.rs`); 0 elsewhere.
    pub workflow: f64,
}

impl ScoreTerms {
    /// The term names, in the order of [`ScoreTerms::values`].
    pub const NAMES: [&'static str; 5] = ["prefix", "adapter", "load", "fair", "workflow"];

    pub fn values(&self) -> [f64; 5] {
        [
            self.prefix,
            self.adapter,
            self.load,
            self.fair,
            self.workflow,
        ]
    }

    /// The score: the sum of the terms.
    pub fn total(&self) -> f64 {
        self.values().iter().fold(0.0, |acc, v| acc + v)
    }

    /// `prefix +3.000, adapter +0.000, load -12.500, fair -0.000` (in blocks), then
    /// `workflow +8.000` when that term is not 0.
    pub fn reason(&self) -> String {
        let parts: Vec<String> = Self::NAMES
            .iter()
            .zip(self.values())
            .filter(|&(k, v)| *k != "workflow" || v != 0.0)
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
    /// The dispatch's number, from 1 in the router's dispatch order (0: only routed): a
    /// replica's load report names the last dispatch it reflects (`reflects_dispatch`).
    pub dispatch: u64,
}

impl Route {
    /// The terms as text ([`ScoreTerms::reason`]), formatted when asked for (formatting five
    /// floats would cost about as much as choosing among 1,000 replicas).
    pub fn reason(&self) -> String {
        self.terms.reason()
    }
}

/// How many leading blocks of the prompt are in `cached`.
pub fn prefix_overlap(hashes: &[u64], cached: &rustc_hash::FxHashSet<u64>) -> usize {
    if cached.is_empty() {
        return 0;
    }
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

/// The excesses of a tenant on a replica that the `fair` term weighs (each >= 0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Excess {
    /// Of its share of the replica's recent service ([`tenant_excess`]).
    pub service: f64,
    /// Of its share of the replica's waiting requests over its share of the fleet's.
    pub queue: f64,
}

/// The score terms of a replica with `load` blocks ([`ReplicaStatus::load_blocks`]) and
/// `overlap` leading blocks cached, for a tenant with `excess` there.
pub fn terms(w: &Weights, load: f64, overlap: u32, resident: bool, excess: Excess) -> ScoreTerms {
    ScoreTerms {
        prefix: w.prefix * f64::from(overlap),
        adapter: if resident { w.adapter } else { 0.0 },
        load: -w.load * load,
        fair: -(w.fair * excess.service + w.queue * excess.queue) * load,
        workflow: 0.0,
    }
}
