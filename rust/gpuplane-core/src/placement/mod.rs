//! GPU placement: bin-packing workloads onto GPUs by memory and compute.
//!
//! [`Cluster`] holds the inventory and the placed workloads and makes every decision:
//! [`Cluster::place`] (policies in [`PolicyKind`]), [`Cluster::release`],
//! [`Cluster::preemption_plan`] / [`Cluster::preempt`], draining through
//! [`Cluster::set_gpu_health`], [`Cluster::snapshot`] / [`Cluster::restore`] and
//! [`Cluster::stats`].
//!
//! A [`crate::policy`] engine may be attached ([`Cluster::set_policy_engine`]): placement then
//! admits against tenant quotas, takes priorities from priority classes, records running work
//! in the engine and plans preemptions by its reclaim laws.

mod artifact;
mod baselines;
mod choose;
mod class_summary;
mod classes;
mod cluster;
mod explain;
mod fgd_search;
mod figures;
mod fill;
mod fragmentation;
mod free_tables;
mod intern;
mod node_index;
mod policy;
mod preemption;
mod reclaim;
#[cfg(test)]
mod search_props;
mod snapshot;
mod stats;
mod tenancy;
mod view;
mod workload;

pub use cluster::Cluster;
pub use figures::TenantFigures;
pub use fragmentation::Shape;
pub use policy::{PolicyKind, ScoreMode};
pub use preemption::PreemptionPlan;
pub use snapshot::SNAPSHOT_VERSION;
pub use stats::{ClusterStats, GpuStats, Totals};
pub use workload::{Allocation, Placement, Workload};
