//! Why nothing fits: how many GPUs each constraint excluded.
//!
//! A refusal examines at most [`EXAMINED_STATES`] node states (classes of interchangeable
//! nodes), whole, so that its cost does not grow with a fragmented cluster's thousands of
//! states; the GPUs of states left unexamined are counted under `not_examined`, so the counts
//! still sum to the cluster's GPUs and every count is exact for what it names.

use super::choose::Request;
use super::cluster::{selector_ok, Cluster};
use super::view::{GpuView, NodeView};
use super::workload::Workload;
use crate::error::Error;

/// Constraint names, in the order they are checked, then the GPUs not examined.
const REASONS: [&str; 9] = [
    "node_selector",
    "cpu",
    "host_memory",
    "unhealthy",
    "model",
    "memory",
    "compute",
    "gang",
    "not_examined",
];

/// The most node states one refusal examines.
pub const EXAMINED_STATES: usize = 64;

impl Cluster {
    /// The error for a workload no node can take, with per-constraint GPU counts.
    pub(super) fn no_fit(&self, w: &Workload, req: &Request) -> Error {
        let mut counts = [0u64; REASONS.len()];
        let mut examined = 0u64;
        for class in self.classes.iter().take(EXAMINED_STATES) {
            let members = class.members.len() as u64;
            let labels = self.labelsets.value(class.view.labels);
            let per_node = exclusions(&class.view, req, selector_ok(labels, &w.node_selector));
            for (c, n) in counts.iter_mut().zip(per_node) {
                *c += n * members;
            }
            examined += class.view.gpus.len() as u64 * members;
        }
        let gpus = self.classes.gpus();
        counts[REASONS.len() - 1] = gpus as u64 - examined;
        let excluded: Vec<(String, u64)> = REASONS
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        Error::NoFit {
            message: message(w, &excluded, gpus),
            excluded,
        }
    }
}

/// GPUs (or, for a GPU-less workload, nodes) of one node excluded per reason.
fn exclusions(view: &NodeView, req: &Request, selector_matches: bool) -> [u64; REASONS.len()] {
    let mut out = [0u64; REASONS.len()];
    let gpus = view.gpus.len() as u64;
    let node_reason = if !selector_matches {
        Some(0)
    } else if view.cpu_free < req.cpu {
        Some(1)
    } else if view.mem_free < req.host_mem {
        Some(2)
    } else {
        None
    };
    if let Some(r) = node_reason {
        out[r] = gpus.max(1);
        return out;
    }
    let fitting = view
        .gpus
        .iter()
        .filter(|g| gpu_reason(g, req).is_none())
        .count() as u64;
    for g in &view.gpus {
        if let Some(r) = gpu_reason(g, req) {
            out[r] += 1;
        }
    }
    if fitting < req.count as u64 {
        out[7] += fitting;
    }
    out
}

fn gpu_reason(g: &GpuView, req: &Request) -> Option<usize> {
    if !g.healthy {
        Some(3)
    } else if !req.model_ok(g) {
        Some(4)
    } else if g.mem_free < req.mem {
        Some(5)
    } else if g.milli_free < req.milli {
        Some(6)
    } else {
        None
    }
}

fn message(w: &Workload, excluded: &[(String, u64)], gpus: usize) -> String {
    let what = if w.gpu_count == 0 {
        format!(
            "{} milli-CPU and {} MiB host memory",
            w.cpu_milli, w.host_memory_mib
        )
    } else {
        format!(
            "{} GPU(s) x {} MiB, {} milli-GPU each",
            w.gpu_count, w.memory_mib, w.compute_milli
        )
    };
    let parts: Vec<String> = excluded
        .iter()
        .map(|(r, n)| format!("{n} excluded by {}", describe(r)))
        .collect();
    let detail = if parts.is_empty() {
        "the cluster has no nodes".to_string()
    } else {
        parts.join(", ")
    };
    format!(
        "no node fits workload {:?} ({what}): of {gpus} GPUs, {detail}",
        w.id
    )
}

fn describe(reason: &str) -> &'static str {
    match reason {
        "node_selector" => "node selector",
        "cpu" => "node CPU",
        "host_memory" => "node host memory",
        "unhealthy" => "health (unhealthy)",
        "model" => "GPU model",
        "memory" => "free GPU memory",
        "compute" => "free GPU compute",
        "not_examined" => "not being examined (a refusal examines at most 64 node states)",
        _ => "gang size (too few fitting GPUs on one node)",
    }
}
