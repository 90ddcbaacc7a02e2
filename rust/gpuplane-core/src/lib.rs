//! gpuplane-core: every decision gpuplane makes, in pure Rust.
//!
//! * [`inventory`]: nodes and GPUs.
//! * [`placement`]: GPU memory/compute bin-packing, gangs, preemption plans, snapshots.
//! * [`batching`]: per-engine continuous-batching scheduler with fair share and prefix reuse.
//! * [`prefix`]: prompt block hashes that routers and engines agree on.
//! * [`program_id`]: an agent program's id and the key routers and schedulers keep it by.
//! * [`routing`]: choosing an engine replica per request from reported loads.
//! * [`sim`]: trace-driven LLM serving and cluster simulation with a GPU step-time model.
//!
//! The core is deterministic: the same inputs and seed give the same decisions. It has no
//! `unsafe` code (so its fuzz targets need no memory sanitizer: a bug is a panic).

#![forbid(unsafe_code)]

pub mod batching;
pub mod error;
pub mod inventory;
pub mod names;
pub mod placement;
pub mod policy;
pub mod prefix;
pub mod program_id;
pub mod rng;
pub mod routing;
pub mod sim;
mod total_order;

pub use error::{Error, Result};
