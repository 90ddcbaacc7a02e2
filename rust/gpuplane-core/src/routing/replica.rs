//! What the router knows of a replica (its registration and last reported load) and what a
//! request asks of one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashSet;

use crate::{names, Error, Result};

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
    /// Its KV pool in blocks (the load term counts `kv_usage x kv_blocks` blocks in use).
    pub kv_blocks: u32,
    /// Tokens per KV block (0: 16).
    pub block_size: u32,
    /// Its running-request cap (0 counts as 1).
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

    /// Tokens per block (16 when not given).
    pub fn tokens_per_block(&self) -> u32 {
        if self.block_size == 0 {
            16
        } else {
            self.block_size
        }
    }
}

/// A replica's last reported load.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Load {
    pub waiting: u32,
    pub running: u32,
    /// KV cache usage, 0..=1.
    pub kv_usage: f64,
    /// KV blocks the waiting requests still need (their prompts' uncached blocks).
    pub waiting_blocks: u32,
    /// Hashes of the full KV blocks it has cached.
    pub cached: FxHashSet<u64>,
    /// LoRA adapters resident on it.
    pub adapters: BTreeSet<String>,
    /// Weighted tokens recently served per tenant (each >= 0).
    pub tenant_service: BTreeMap<String, f64>,
    /// Requests waiting per tenant (the queue-share term's input; empty: not reported).
    pub tenant_waiting: BTreeMap<String, u32>,
    /// The last dispatch ([`super::Route::dispatch`]) the figures include; `None`: every
    /// dispatch so far (a report without it clears them all, as before sequences existed).
    pub reflects_dispatch: Option<u64>,
}

impl Load {
    /// Checks the ranges (`kv_usage` in 0..=1, service amounts finite and >= 0) and the tenant
    /// names.
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
        validate_service(&self.tenant_service)?;
        validate_waiting(&self.tenant_waiting)
    }
}

/// Checks a `tenant_waiting` map's tenant names by the grammar.
pub(crate) fn validate_waiting(waiting: &BTreeMap<String, u32>) -> Result<()> {
    for tenant in waiting.keys() {
        names::check_name("tenant_waiting", tenant)?;
    }
    Ok(())
}

/// Checks a `tenant_service` map: tenant names by the grammar, amounts finite and >= 0.
pub(crate) fn validate_service(service: &BTreeMap<String, f64>) -> Result<()> {
    for (tenant, v) in service {
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

/// A replica's queue and KV figures (the part of a [`Load`] that changes every step).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    pub waiting: u32,
    pub running: u32,
    /// 0..=1.
    pub kv_usage: f64,
    pub waiting_blocks: u32,
    /// As [`Load::reflects_dispatch`].
    pub reflects_dispatch: Option<u64>,
}

/// A replica, its last load, how many requests [`super::Router::dispatch`] sent it, and the
/// requests routed to it that are not done.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaStatus {
    pub spec: ReplicaSpec,
    pub load: Load,
    /// Requests dispatched to it since it registered (kept when it re-registers).
    pub routed: u64,
    /// Routed here and not yet done.
    pub in_flight: u32,
    /// Prompt blocks of the requests dispatched here that its last load report does not
    /// show yet (the sum of `unreported`'s).
    pub unreported_blocks: u32,
    /// `(dispatch, prompt blocks)` of those requests, oldest first.
    pub unreported: VecDeque<(u64, u32)>,
    /// The greatest dispatch a report applied here said it reflects (0: none).
    pub reflected: u64,
}

/// Unreported dispatches kept per replica; beyond, the oldest two merge into one entry under
/// the later dispatch (its blocks then clear with that one: counted a little long, never lost).
pub const MAX_UNREPORTED: usize = 4_096;

impl ReplicaStatus {
    /// Counts `blocks` of dispatch `seq` as load until a report reflects it.
    pub(crate) fn note_dispatch(&mut self, seq: u64, blocks: u32) {
        if self.unreported.len() >= MAX_UNREPORTED {
            let (_, a) = self.unreported.pop_front().expect("full");
            let (later, b) = self.unreported.pop_front().expect("full");
            self.unreported.push_front((later, a.saturating_add(b)));
        }
        self.unreported.push_back((seq, blocks));
        self.unreported_blocks = self.unreported_blocks.saturating_add(blocks);
    }

    /// Whether a report reflecting dispatches up to `reflects` is not older than the newest one
    /// applied (`None`: it reflects every dispatch).
    pub(crate) fn is_current(&self, reflects: Option<u64>) -> bool {
        reflects.is_none_or(|q| q >= self.reflected)
    }

    /// A current report reflecting dispatches up to `reflects` arrived: the dispatches it
    /// includes stop counting as unreported (`None`: all of them).
    pub(crate) fn settle(&mut self, reflects: Option<u64>) {
        let Some(q) = reflects else {
            self.unreported.clear();
            self.unreported_blocks = 0;
            return;
        };
        self.reflected = q;
        while self.unreported.front().is_some_and(|&(seq, _)| seq <= q) {
            self.unreported.pop_front();
        }
        let blocks = self
            .unreported
            .iter()
            .map(|&(_, b)| u64::from(b))
            .sum::<u64>();
        self.unreported_blocks = u32::try_from(blocks).unwrap_or(u32::MAX);
    }

    /// The waiting requests it counts: the reported ones, or the requests in flight beyond its
    /// running slots when those are more (the report may predate them).
    pub fn effective_waiting(&self) -> u32 {
        let slots = self.spec.max_running.max(1);
        self.load.waiting.max(self.in_flight.saturating_sub(slots))
    }

    /// The load the cost model charges, in KV blocks: blocks in use, blocks the waiting
    /// requests still need, blocks dispatched since the report, and one per waiting request
    /// (so that replicas reporting only counts still spread); a pool of unknown size counts
    /// as one block.
    pub fn load_blocks(&self) -> f64 {
        // A replica registered without its pool size still orders by KV use (as one block).
        let used = self.load.kv_usage * f64::from(self.spec.kv_blocks.max(1));
        used + f64::from(self.load.waiting_blocks)
            + f64::from(self.unreported_blocks)
            + f64::from(self.effective_waiting())
    }
}

/// What a request asks of a replica.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteRequest {
    /// Tracks the request until [`super::Router::finish`] when non-empty.
    pub id: String,
    pub tenant: String,
    /// Empty: any model.
    pub model: String,
    /// Empty: none.
    pub adapter: String,
    /// The prompt's full KV block hashes at the engines' block size, in order.
    pub block_hashes: Vec<u64>,
    /// Prompt tokens (0: only the hashed blocks count).
    pub prompt_tokens: u32,
    /// The agent program (workflow id) the call belongs to, if any: its next call prefers
    /// the replica of this one (see `programs.rs`).
    pub workflow: Option<u64>,
}

impl RouteRequest {
    /// The KV blocks its prompt needs on a replica with `block_size`-token blocks.
    pub fn prompt_blocks(&self, block_size: u32) -> u32 {
        let by_tokens = self.prompt_tokens.div_ceil(block_size.max(1));
        by_tokens.max(u32::try_from(self.block_hashes.len()).unwrap_or(u32::MAX))
    }
}

/// Caps on what registering, reporting and routing callers can grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterLimits {
    /// Registered replicas in all.
    pub max_replicas: usize,
    /// Registered replicas dedicated to one tenant.
    pub max_replicas_per_tenant: usize,
    /// Entries of a load's `tenant_service` map and of its resident adapters.
    pub max_load_entries: usize,
    /// Requests dispatched with an id and not finished.
    pub max_tracked_requests: usize,
}

impl Default for RouterLimits {
    fn default() -> Self {
        RouterLimits {
            max_replicas: 10_000,
            max_replicas_per_tenant: 1_000,
            max_load_entries: 1_024,
            max_tracked_requests: 1_000_000,
        }
    }
}
