//! Engine configuration of the batching scheduler and its validation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::MAX_TOKENS;
use crate::error::{Error, Result};
use crate::names;

/// Ordering policy of the waiting queue (and victim choice under KV pressure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Policy {
    /// First come, first served by arrival time (then id); priorities are ignored.
    Fcfs,
    /// Strict bands by priority (higher first), FCFS inside a band.
    Priority,
    /// Bands, then the weighted Virtual Token Counter across tenants, FCFS inside a tenant.
    Fair,
    /// Bands, then earliest time-to-first-token deadline (none last), then FCFS.
    Deadline,
    /// Like [`Policy::Fair`] but service is accounted per workflow id; a request without a
    /// workflow id is its own workflow.
    WorkflowFair,
    /// Program-level least attained service, in the spirit of Autellix's PLAS (Luo et al.,
    /// 2025), tenant-fair: bands, then tenants by the weighted Virtual Token Counter (as
    /// [`Policy::Fair`]), then inside a tenant the program (workflow) that has received the
    /// least service over all its calls so far, then FCFS. A program's service is never
    /// lifted, so a new program or a single call (its own program) starts at 0 and goes before
    /// its tenant's programs that already received service. Starvation bound per program: once
    /// a program's calls have waited [`BatchConfig::starvation_s`] in total, its waiting call
    /// ranks as a program with no service; at twice that it goes before every other request
    /// and is not bypassed by backfill (see `programs.rs`).
    ProgramLas,
}

impl Policy {
    /// Every policy, in declaration order.
    pub const ALL: [Policy; 6] = [
        Policy::Fcfs,
        Policy::Priority,
        Policy::Fair,
        Policy::Deadline,
        Policy::WorkflowFair,
        Policy::ProgramLas,
    ];

    /// The policy's name (`fcfs`, `priority`, `fair`, `deadline`, `workflow_fair`,
    /// `program_las`).
    pub fn name(self) -> &'static str {
        match self {
            Policy::Fcfs => "fcfs",
            Policy::Priority => "priority",
            Policy::Fair => "fair",
            Policy::Deadline => "deadline",
            Policy::WorkflowFair => "workflow_fair",
            Policy::ProgramLas => "program_las",
        }
    }

    /// Whether this policy orders by virtual counters (fair share or attained service).
    pub fn is_fair(self) -> bool {
        matches!(
            self,
            Policy::Fair | Policy::WorkflowFair | Policy::ProgramLas
        )
    }

    /// Whether service is accounted per workflow (program).
    pub fn per_workflow(self) -> bool {
        matches!(self, Policy::WorkflowFair | Policy::ProgramLas)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = Error;

    /// Parses a name from [`Policy::name`]; anything else is `InvalidRequest` on `policy`.
    fn from_str(s: &str) -> Result<Self> {
        names::one_of(&Policy::ALL, Policy::name, s, "policy", "policy")
    }
}

/// Which released KV blocks the pool keeps longest (evicts last), and in what order it hands
/// free blocks out. Either way a free block keeps its hash until handed out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvEviction {
    /// Blocks holding a prompt hash are evicted last, least recently released first; every
    /// other free block is handed out before them, the most recently released first.
    #[default]
    Lru,
    /// vLLM's order (`BlockPool.free_blocks` and `FreeKVCacheBlockQueue`, vLLM 0.32): every
    /// *full* block (vLLM caches each full block, prompt or output) is evicted last, least
    /// recently released first; a request's other blocks are handed out before them, the most
    /// recently released request's first, its last block first. And, as vLLM caches a block
    /// the step that computes it, a request admitted later in that step hits it. What an
    /// engine that mirrors vLLM's pool needs: it plans the prefix hits vLLM's scheduler finds,
    /// and none that vLLM has evicted.
    Vllm,
}

impl KvEviction {
    /// Every order, in declaration order.
    pub const ALL: [KvEviction; 2] = [KvEviction::Lru, KvEviction::Vllm];

    /// The order's name (`lru`, `vllm`).
    pub fn name(self) -> &'static str {
        match self {
            KvEviction::Lru => "lru",
            KvEviction::Vllm => "vllm",
        }
    }
}

impl fmt::Display for KvEviction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvEviction {
    type Err = Error;

    /// Parses a name from [`KvEviction::name`]; anything else is `InvalidRequest` on
    /// `kv_eviction`.
    fn from_str(s: &str) -> Result<Self> {
        names::one_of(
            &KvEviction::ALL,
            KvEviction::name,
            s,
            "kv_eviction",
            "KV eviction order",
        )
    }
}

/// Configuration of one engine replica's scheduler. See [`BatchConfig::validate`] for the
/// accepted ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchConfig {
    /// Tokens computed per step, over all requests (1..=2^24).
    pub token_budget: u32,
    /// Most requests running at once (1..=2^20).
    pub max_running: u32,
    /// KV blocks in the pool (1..=2^26).
    pub kv_blocks: u32,
    /// Tokens per KV block (1..=2^16).
    pub block_size: u32,
    /// Fraction of blocks kept free when admitting new requests, in `[0, 1)`.
    pub watermark: f64,
    /// Per-request cap on tokens computed in one step while chunking (0 = no cap).
    pub long_prefill_token_threshold: u32,
    /// Chunked prefill. When off, a request's outstanding tokens are computed in one step
    /// (a recompute longer than the whole budget takes full-budget steps).
    pub chunked_prefill: bool,
    /// A waiting request may preempt a running one when the sequence cap is the bottleneck and
    /// its priority exceeds the lowest running priority by at least this gap. `None` or `0`
    /// disables it.
    pub preempt_priority_gap: Option<i32>,
    /// Ordering policy.
    pub policy: Policy,
    /// Virtual-counter charge per prefill token (finite, >= 0).
    pub w_in: f64,
    /// Virtual-counter charge per generated token (finite, >= 0).
    pub w_out: f64,
    /// Tenant weights (finite, > 0). When non-empty, requests of other tenants are refused;
    /// when empty, any tenant is accepted with weight 1.
    pub tenant_weights: BTreeMap<String, f64>,
    /// [`Policy::ProgramLas`]'s starvation grace: seconds a program's calls may wait in total
    /// (arrival to first admission, summed over its calls) on top of `starvation_ratio` times
    /// the seconds its finished calls ran, before its waiting call ranks as a program with no
    /// service, and half of what it may wait before that call goes before every other request
    /// (finite, > 0; other policies ignore it; see `programs.rs`).
    #[serde(default = "default_starvation_s")]
    pub starvation_s: f64,
    /// [`Policy::ProgramLas`]'s starvation ratio `beta`: a program may wait `beta` seconds in
    /// total per second its finished calls ran, beyond `starvation_s` (finite, >= 0).
    #[serde(default = "default_starvation_ratio")]
    pub starvation_ratio: f64,
    /// Named programs (workflow ids) with no call queued or running that `workflow_fair` and
    /// `program_las` remember (1..=2^26). Beyond it the one idle the longest is forgotten; if
    /// it returns it starts afresh, as a new program (see `program_memory.rs`).
    #[serde(default = "default_idle_programs")]
    pub idle_programs: u32,
    /// Which released KV blocks are kept longest ([`KvEviction`]).
    #[serde(default)]
    pub kv_eviction: KvEviction,
    /// [`Policy::ProgramLas`]'s cache-aware rank `alpha`: a waiting call's key is its
    /// program's attained service less `alpha * w_in` per token of the cached prefix blocks
    /// its program registered, so a call whose context is still cached goes before it is
    /// evicted (finite, >= 0; 0: plain least attained service; other policies ignore it; see
    /// `programs.rs`).
    #[serde(default = "default_cache_discount")]
    pub cache_discount: f64,
}

/// Default [`BatchConfig::idle_programs`]: 65,536 idle programs remembered per replica.
pub const DEFAULT_IDLE_PROGRAMS: u32 = 1 << 16;

fn default_idle_programs() -> u32 {
    DEFAULT_IDLE_PROGRAMS
}

/// Default [`BatchConfig::starvation_s`]: 120 s of waiting per program (the agent-mix bench's
/// choice: p50 and p99 against fcfs both hold there; see BENCHMARKS.md "Agent programs").
pub const DEFAULT_STARVATION_S: f64 = 120.0;

fn default_starvation_s() -> f64 {
    DEFAULT_STARVATION_S
}

/// Default [`BatchConfig::starvation_ratio`]: 0, the grace alone (BENCHMARKS.md "Agent
/// programs" has the sweep: on the agent mix any ratio above 0 costs throughput).
pub const DEFAULT_STARVATION_RATIO: f64 = 0.0;

fn default_starvation_ratio() -> f64 {
    DEFAULT_STARVATION_RATIO
}

/// Default [`BatchConfig::cache_discount`]: 0.75, a cached token counts three quarters of the
/// prefill it spares (BENCHMARKS.md "Agent programs", "Cache-aware ranking", has the sweep:
/// 1 did as well on the README's load and worse on the benchmark's 1 replica).
pub const DEFAULT_CACHE_DISCOUNT: f64 = 0.75;

fn default_cache_discount() -> f64 {
    DEFAULT_CACHE_DISCOUNT
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            token_budget: 8192,
            max_running: 256,
            kv_blocks: 4096,
            block_size: 16,
            watermark: 0.01,
            long_prefill_token_threshold: 0,
            chunked_prefill: true,
            preempt_priority_gap: None,
            policy: Policy::Fcfs,
            w_in: 1.0,
            w_out: 2.0,
            tenant_weights: BTreeMap::new(),
            starvation_s: DEFAULT_STARVATION_S,
            starvation_ratio: DEFAULT_STARVATION_RATIO,
            idle_programs: DEFAULT_IDLE_PROGRAMS,
            kv_eviction: KvEviction::Lru,
            cache_discount: DEFAULT_CACHE_DISCOUNT,
        }
    }
}

fn in_range(field: &str, value: u32, max: u32) -> Result<()> {
    if value == 0 || value > max {
        return Err(Error::invalid(
            field,
            format!("must be in 1..={max}, got {value}"),
        ));
    }
    Ok(())
}

fn charge_weight(field: &str, value: f64) -> Result<()> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::invalid(
            field,
            format!("must be finite and >= 0, got {value}"),
        ));
    }
    Ok(())
}

impl BatchConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        in_range("token_budget", self.token_budget, MAX_TOKENS)?;
        in_range("max_running", self.max_running, 1 << 20)?;
        in_range("kv_blocks", self.kv_blocks, 1 << 26)?;
        in_range("block_size", self.block_size, 1 << 16)?;
        if !(0.0..1.0).contains(&self.watermark) {
            return Err(Error::invalid("watermark", "must be in [0, 1)"));
        }
        if self.watermark_blocks() >= self.kv_blocks {
            return Err(Error::invalid("watermark", "leaves no block to admit into"));
        }
        if self.long_prefill_token_threshold > MAX_TOKENS {
            return Err(Error::invalid(
                "long_prefill_token_threshold",
                "absurdly large",
            ));
        }
        if self.preempt_priority_gap.is_some_and(|g| g < 0) {
            return Err(Error::invalid("preempt_priority_gap", "must be >= 0"));
        }
        if !(self.starvation_s.is_finite() && self.starvation_s > 0.0) {
            let why = format!("must be finite and > 0, got {}", self.starvation_s);
            return Err(Error::invalid("starvation_s", why));
        }
        charge_weight("starvation_ratio", self.starvation_ratio)?;
        charge_weight("cache_discount", self.cache_discount)?;
        in_range("idle_programs", self.idle_programs, 1 << 26)?;
        self.validate_weights()
    }

    fn validate_weights(&self) -> Result<()> {
        charge_weight("w_in", self.w_in)?;
        charge_weight("w_out", self.w_out)?;
        if self.w_in == 0.0 && self.w_out == 0.0 {
            return Err(Error::invalid("w_in", "w_in and w_out cannot both be 0"));
        }
        for (name, &w) in &self.tenant_weights {
            if name.is_empty() {
                return Err(Error::invalid("tenant_weights", "empty tenant name"));
            }
            if !w.is_finite() || w <= 0.0 {
                let field = format!("tenant_weights[{name}]");
                return Err(Error::invalid(
                    field,
                    format!("must be finite and > 0, got {w}"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `program_las` ranks by uncached service (the pool then tracks block owners).
    pub(crate) fn cache_aware(&self) -> bool {
        self.policy == Policy::ProgramLas && self.cache_discount > 0.0
    }

    /// Blocks kept free at admission: `floor(watermark * kv_blocks)`.
    pub fn watermark_blocks(&self) -> u32 {
        (self.watermark * f64::from(self.kv_blocks)).floor() as u32
    }

    /// The priority gap that enables seq-cap preemption, if enabled.
    pub(crate) fn gap(&self) -> Option<i32> {
        self.preempt_priority_gap.filter(|&g| g > 0)
    }

    /// Most tokens one request may compute in a step, ignoring the budget.
    pub(crate) fn chunk_cap(&self) -> u32 {
        match (self.chunked_prefill, self.long_prefill_token_threshold) {
            (true, t) if t > 0 => t,
            _ => u32::MAX,
        }
    }

    /// Blocks needed to hold `tokens` tokens.
    pub(crate) fn blocks_for(&self, tokens: u32) -> u32 {
        tokens.div_ceil(self.block_size)
    }
}
