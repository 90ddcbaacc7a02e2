//! Where the entries of the last plan stood before it: what an engine that keeps its own copy
//! of each request's counters (vLLM's `Request`) would otherwise read back per request.

use super::plan::StepPlan;
use super::scheduler::BatchScheduler;
use super::seq::NIL;
use crate::error::{Error, Result};

/// Per entry of a plan, in plan order, the request's tokens before the step: computed
/// (KV computed or reused), known (prompt plus generated) and generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlannedProgress {
    pub computed: Vec<u32>,
    pub known: Vec<u32>,
    pub generated: Vec<u32>,
}

impl BatchScheduler {
    /// The progress before `plan` of each of its entries. `plan` must be the last plan, asked
    /// for before that step's `update` or `expect_sampled` (which move the counters on).
    pub fn planned_progress(&self, plan: &StepPlan) -> Result<PlannedProgress> {
        let stale = || {
            Error::invalid(
                "plan",
                "is not the last plan, or its step was already updated",
            )
        };
        let last = plan.step == self.step && self.last_runs.len() == plan.scheduled.len();
        if !self.awaiting_update || !last {
            return Err(stale());
        }
        let n = plan.scheduled.len();
        let mut out = PlannedProgress {
            computed: Vec::with_capacity(n),
            known: Vec::with_capacity(n),
            generated: Vec::with_capacity(n),
        };
        for (entry, &pos) in plan.scheduled.iter().zip(&self.last_runs) {
            let run = &self.running[pos as usize];
            if run.id != entry.id || run.slot == NIL || run.computed < entry.num_tokens {
                return Err(stale());
            }
            out.computed.push(run.computed - entry.num_tokens);
            out.known.push(run.known);
            out.generated
                .push(run.known - self.seq(run.slot).prompt_len);
        }
        Ok(out)
    }
}

impl PlannedProgress {
    /// For an engine that allocates a prompt's KV blocks chunk by chunk and caches a block
    /// the step it fills (vLLM's KV manager): the positions among the first `running` entries
    /// of `plan` whose KV it works on this step, `(allocating, caching)`. Allocating: the
    /// entries given new blocks and those `prefilling` before the step; caching: the others
    /// whose tokens of this step fill a block.
    pub fn kv_work(
        &self,
        plan: &StepPlan,
        running: usize,
        block_size: u32,
        prefilling: &[bool],
    ) -> Result<(Vec<u32>, Vec<u32>)> {
        if running > plan.scheduled.len() || prefilling.len() != running {
            let why = format!("needs one flag for each of the {running} running entries");
            return Err(Error::invalid("prefilling", why));
        }
        if block_size == 0 {
            return Err(Error::invalid("block_size", "must be at least 1"));
        }
        let (mut allocating, mut caching) = (Vec::new(), Vec::new());
        for (i, entry) in plan.scheduled[..running].iter().enumerate() {
            let before = self.computed[i];
            if entry.n_new > 0 || prefilling[i] {
                allocating.push(i as u32);
            } else if (before + entry.num_tokens) / block_size > before / block_size {
                caching.push(i as u32);
            }
        }
        Ok((allocating, caching))
    }
}
