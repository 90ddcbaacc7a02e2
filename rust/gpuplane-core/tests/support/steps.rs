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

/// Runs one step at `now` (one token for each request that samples); returns the admitted ids.
#[allow(dead_code)] // not every test that includes these helpers steps by the clock
pub fn step(s: &mut BatchScheduler, now: f64) -> Vec<u64> {
    s.set_time(now).unwrap();
    let plan = s.schedule();
    one_token_each(s, &plan);
    plan.admitted
}
