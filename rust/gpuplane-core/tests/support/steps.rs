//! Step helpers shared by the batching tests.

use gpuplane_core::batching::{BatchScheduler, StepOutputs, StepPlan};

/// Reports one token for every request of `plan` that samples.
pub fn one_token_each(s: &mut BatchScheduler, plan: &StepPlan) {
    let generated = plan
        .scheduled
        .iter()
        .filter(|e| e.samples)
        .map(|e| (e.id, 1))
        .collect();
    let outputs = StepOutputs {
        generated,
        finished: Vec::new(),
    };
    s.update(&outputs).unwrap();
}
