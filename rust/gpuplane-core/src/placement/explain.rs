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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::policy::PolicyKind;
    use super::*;
    use crate::inventory::{GpuSpec, NodeSpec};

    /// `nodes` one-GPU nodes, each in a state of its own (distinct external usage).
    fn distinct_states(nodes: usize) -> Cluster {
        let mut c = Cluster::new(PolicyKind::BestFit, 1);
        for n in 0..nodes {
            let gpu = GpuSpec {
                model: "H100".into(),
                memory_mib: 81_920,
                compute_milli: 1000,
                topology_group: None,
                id: None,
            };
            c.add_node(NodeSpec {
                name: format!("n{n}"),
                gpus: vec![gpu],
                cpu_milli: 64_000,
                memory_mib: 512_000,
                labels: BTreeMap::new(),
            })
            .unwrap();
            c.set_external_usage(&format!("n{n}/0"), n as u64 * 64)
                .unwrap();
        }
        c
    }

    fn refusal(c: &mut Cluster) -> Vec<(String, u64)> {
        match c.place(Workload::new("big", 90_000, 1), None) {
            Err(Error::NoFit { excluded, .. }) => excluded,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_refusal_examines_a_bounded_number_of_states_and_counts_the_rest() {
        let mut c = distinct_states(EXAMINED_STATES + 36);
        assert_eq!(c.node_classes(), EXAMINED_STATES + 36);
        let excluded = refusal(&mut c);
        assert_eq!(
            excluded,
            vec![
                ("memory".to_string(), EXAMINED_STATES as u64),
                ("not_examined".to_string(), 36),
            ]
        );
    }

    #[test]
    fn a_refusal_within_the_bound_examines_every_gpu() {
        let mut c = distinct_states(EXAMINED_STATES);
        let excluded = refusal(&mut c);
        assert_eq!(
            excluded,
            vec![("memory".to_string(), EXAMINED_STATES as u64)]
        );
    }
}
