//! The policy engine: tenancy, quotas, fair share, usage, priority classes, preemption laws,
//! rate limits, budgets and admission, in the same terms for placement and batching.
//!
//! * [`tree`]-shaped tenants of any depth (org -> team -> tenant; only leaves hold work),
//!   changed at runtime ([`Policy::add_tenant`], [`Policy::update_tenant`],
//!   [`Policy::remove_tenant`]), each with a [`Quota`] per [`Resource`].
//! * Hierarchical fair share ([`Policy::fair_share`]), recomputed incrementally after a demand
//!   or usage change ([`Policy::resolve_fair_share`]); the split is documented in
//!   [`fairshare`]. Ordering by dominant share against fair share ([`Policy::order`]).
//! * Usage decays with a half-life ([`usage`]) and lowers the over-quota weight.
//! * [`PriorityClass`]es; non-preemptible work runs only within guaranteed quota.
//! * Preemption and reclaim laws ([`reclaim`]), with [`Policy::reclaim_plan`].
//! * Token buckets in weighted tokens ([`rate`]), cost budgets, deadlines and
//!   [`Policy::admit`] with a [`Reason`] ([`admission`]).
//! * [`Policy::explain`].
//!
//! Everything is deterministic; time is an argument in seconds. A [`Policy`] serializes (serde)
//! through [`PolicySnapshot`], which is re-validated on restore.
//!
//! One engine may be shared, as a [`SharedPolicy`], by a placement
//! [`Cluster`](crate::placement::Cluster) and any number of batching schedulers, so that all
//! of them decide in the same tenants, classes and quotas and charge the same accounts.

pub mod admission;
pub mod classes;
mod engine;
pub mod explain;
pub mod fairshare;
mod programs;
pub mod quota;
pub mod rate;
pub mod reclaim;
pub mod resources;
mod snapshot;
pub mod tree;
pub mod usage;

pub use admission::{AdmissionRequest, Decision, Reason};
pub use classes::PriorityClass;
pub use engine::{Finished, Policy, PolicyConfig, Running};
pub use explain::Explanation;
pub use programs::{ProgramCall, ProgramFigures, ProgramLedger, COMPLETION_BUCKETS_S};
pub use quota::{ModelQuota, Quota};
pub use rate::{weighted_tokens, TokenBucket};
pub use reclaim::{ReclaimPlan, Refusal, RefusalCode};
pub use resources::{Limits, Resource, Resources, NUM_RESOURCES};
pub use snapshot::{PolicySnapshot, TenantState, POLICY_SNAPSHOT_VERSION};
pub use tree::TenantSpec;
pub use usage::{decay_factor, Decayed};

use std::sync::{Arc, Mutex, MutexGuard};

/// A policy engine shared by a cluster and batching schedulers.
pub type SharedPolicy = Arc<Mutex<Policy>>;

/// Wraps an engine for sharing.
pub fn shared(policy: Policy) -> SharedPolicy {
    Arc::new(Mutex::new(policy))
}

/// Locks a shared engine. A panic while it was held cannot leave it half-changed (every
/// mutation validates before it changes anything), so a poisoned lock is taken over.
pub fn lock(policy: &SharedPolicy) -> MutexGuard<'_, Policy> {
    policy
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
