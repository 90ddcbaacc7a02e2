//! Continuous batching: one scheduler per engine replica.
//!
//! The contract follows vLLM V1: there is no prefill or decode phase. Each step
//! ([`BatchScheduler::schedule`]) hands out new tokens per request so that each request's
//! *computed* tokens catch up with its *known* tokens (prompt plus tokens generated so far),
//! under a per-step token budget, a running-sequence cap and the KV block pool. The engine
//! reports what it generated through [`BatchScheduler::update`].
//!
//! * Running requests are served first (in admission order), then waiting ones.
//! * A waiting request is admitted only when its whole prompt (plus the tokens it already
//!   generated, for a preempted one) fits in free KV blocks above the watermark; its blocks are
//!   allocated at admission, so a prefill never needs a block later.
//! * KV exhaustion preempts by recompute. The victim is taken from the lowest priority band,
//!   then the account with the highest virtual counter, then the newest request. Nothing new is
//!   admitted on a step that preempted.
//! * Prefix reuse: full prompt blocks are shared by hash, reference-counted, and kept after
//!   release until evicted least-recently-used (in the [`KvEviction`] order).
//! * Ordering: strict priority bands, then the weighted Virtual Token Counter (Sheng et al.,
//!   OSDI'24) per tenant or per workflow, then FCFS (or earliest TTFT deadline); or, under
//!   `program_las`, tenants by weighted fair share and inside a tenant the program with the
//!   least attained service (Autellix's PLAS), with a two-stage starvation bound per program.
//!
//! * Tenancy: a scheduler may share a [`crate::policy`] engine with the placement cluster
//!   ([`BatchScheduler::with_policy`]): tenants, weights and priority classes then come from
//!   it, and served tokens are charged to its usage accounts after each update.
//!
//! Every step costs O(k log n) for k scheduled requests out of n queued: there is no pass over
//! the waiting queue and no re-sort. Time is a caller-set clock ([`BatchScheduler::set_time`]);
//! everything is deterministic.

mod ahead;
mod config;
mod hash;
mod kv;
mod kv_owners;
#[cfg(test)]
mod kv_vllm;
mod metrics;
mod plan;
mod planned;
mod program_memory;
mod programs;
mod queue;
mod request;
mod schedule;
mod scheduler;
mod seq;
mod serve;
mod submission;
mod tally;
mod tenancy;
mod update;
mod vtc;

pub use config::{
    BatchConfig, KvEviction, Policy, DEFAULT_CACHE_DISCOUNT, DEFAULT_IDLE_PROGRAMS,
    DEFAULT_STARVATION_RATIO, DEFAULT_STARVATION_S,
};
pub use kv::CacheEvent;
pub use metrics::{BatchMetrics, TenantMetrics};
pub use plan::{FinishReason, Finished, ScheduledRequest, StepOutputs, StepPlan};
pub use planned::PlannedProgress;
pub use programs::ProgramHistory;
pub use request::{Request, RequestProgress};
pub use scheduler::BatchScheduler;
pub use submission::Submission;
pub use tenancy::MIN_WEIGHT;

/// Upper bound on any token count the scheduler accepts (prompt length, max new tokens, token
/// budget, tokens generated in one step): 2^24 tokens.
pub const MAX_TOKENS: u32 = 1 << 24;
