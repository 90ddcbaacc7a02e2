//! The what-if simulator: LLM serving traces replayed through the same batching scheduler that
//! serves production, on simulated GPUs.
//!
//! * [`simulate`]: a deterministic discrete-event loop. Requests arrive (a workflow's later
//!   calls only after the previous call finishes, plus think time), pass admission (a queue cap
//!   per replica), are routed to one of N engine replicas by the core [`crate::routing::Router`] (the same
//!   choice as the service's), which sees each replica's queue, KV use and prefix cache, and are served by that
//!   replica's [`crate::batching::BatchScheduler`] step by step; each step lasts what the
//!   [`StepModel`] says. The result is a [`Report`], with per-program figures
//!   ([`ProgramsReport`]).
//! * [`StepModel`]: the GPU step-time model (a roofline, documented in [`model`]), over the
//!   [`GpuModel`] and [`LlmModel`] catalogs.
//! * [`replay_cluster`]: a cluster trace through the placement engine, with departures.
//!
//! Same inputs, same report, byte for byte ([`Report::to_json`]).

mod cluster_replay;
mod config;
mod engine;
mod hardware;
mod llm;
pub mod model;
mod programs;
mod replica;
mod report;
mod request;
mod routing;
mod stats;
mod timeline;
mod workload;

pub use cluster_replay::{replay_cluster, ClusterReplay, PodEvent};
pub use config::{EngineOptions, SimConfig, Slo, TenantSpec};
pub use engine::simulate;
pub use hardware::GpuModel;
pub use llm::LlmModel;
pub use model::{ModelOptions, StepModel, StepWork};
pub use programs::{ProgramGroup, ProgramsReport, TenantPrograms};
pub use report::{
    Fairness, GroupReport, ModelSummary, ReplicaReport, Report, TenantReport, TimelineReport,
};
pub use request::Reject;
pub use stats::{jain, spread, Dist};
pub use workload::Workload;
