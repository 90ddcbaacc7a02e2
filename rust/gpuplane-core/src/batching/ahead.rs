//! Planning ahead of the engine's output: engines that plan step N+1 before step N's output
//! arrives (vLLM's async scheduling) count each sampled token when the step is planned.

use super::plan::StepOutputs;
use super::scheduler::BatchScheduler;
use super::seq::{Run, NIL};
use crate::error::Result;

impl BatchScheduler {
    /// Counts, right after [`BatchScheduler::schedule`], the one token each request of that
    /// plan samples, as if the engine had reported it: so the scheduler's state is settled
    /// between steps and the next step can be planned before this one's output arrives (what
    /// vLLM's scheduler does with output placeholders). A request's last token (its
    /// `max_new_tokens`-th) is charged but not counted: the engine finishes that request when
    /// the token arrives (see [`BatchScheduler::abort`]), and its sequence slot and KV blocks
    /// stay held until then, as the engine's do. Engines that may sample more or fewer tokens than
    /// planned (speculative decoding) must use [`BatchScheduler::update`] instead.
    pub fn expect_sampled(&mut self) -> Result<()> {
        let last = self.sampling_last_token();
        let generated = self.expected_tokens();
        self.update(&StepOutputs {
            generated,
            finished: Vec::new(),
        })?;
        self.charge_last_tokens(&last);
        Ok(())
    }

    /// The entries of the last plan that sample and have exactly one token to go.
    fn sampling_runs(&self) -> impl Iterator<Item = &Run> {
        let running = &self.running;
        let planned = if self.awaiting_update {
            &self.last_runs[..]
        } else {
            &[]
        };
        let sampling = planned.iter().map(|&pos| &running[pos as usize]);
        sampling.filter(|r| r.slot != NIL && r.computed >= r.known && r.known < r.max_known)
    }

    /// `(id, 1)` for each entry of the last plan that samples and has more than one token to go.
    fn expected_tokens(&self) -> Vec<(u64, u32)> {
        let runs = self.sampling_runs();
        runs.filter(|r| r.known + 1 < r.max_known)
            .map(|r| (r.id, 1))
            .collect()
    }

    /// `(tenant, workflow)` of each entry of the last plan that samples its last token.
    fn sampling_last_token(&self) -> Vec<(u32, u32)> {
        let runs = self.sampling_runs();
        runs.filter(|r| r.known + 1 == r.max_known)
            .map(|r| (r.tenant, r.workflow))
            .collect()
    }

    /// Charges each request's last token when it is sampled (the engine finishes the request
    /// by aborting it, which charges nothing), as every other sampled token is charged.
    fn charge_last_tokens(&mut self, last: &[(u32, u32)]) {
        if last.is_empty() {
            return;
        }
        for &(tenant, workflow) in last {
            self.charge_accounts(tenant, workflow, 1, false);
        }
        self.flush_counters();
        self.sync_usage();
    }
}
