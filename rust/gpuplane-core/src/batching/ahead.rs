//! Planning ahead of the engine's output: engines that plan step N+1 before step N's output
//! arrives (vLLM's async scheduling) count each sampled token when the step is planned.

use super::plan::StepOutputs;
use super::scheduler::BatchScheduler;
use super::seq::NIL;
use crate::error::Result;

impl BatchScheduler {
    /// Counts, right after [`BatchScheduler::schedule`], the one token each request of that
    /// plan samples, as if the engine had reported it: so the scheduler's state is settled
    /// between steps and the next step can be planned before this one's output arrives (what
    /// vLLM's scheduler does with output placeholders). A request's last token (its
    /// `max_new_tokens`-th) is left out: the engine finishes that request when the token
    /// arrives (see [`BatchScheduler::abort`]), and its sequence slot and KV blocks stay held
    /// until then, as the engine's do. Engines that may sample more or fewer tokens than
    /// planned (speculative decoding) must use [`BatchScheduler::update`] instead.
    pub fn expect_sampled(&mut self) -> Result<()> {
        let generated = self.expected_tokens();
        self.update(&StepOutputs {
            generated,
            finished: Vec::new(),
        })
        .map(|_| ())
    }

    /// `(id, 1)` for each entry of the last plan that samples and has more than one token to go.
    fn expected_tokens(&self) -> Vec<(u64, u32)> {
        if !self.awaiting_update {
            return Vec::new();
        }
        let running = &self.running;
        let sampling = self.last_runs.iter().map(|&pos| &running[pos as usize]);
        sampling
            .filter(|r| r.slot != NIL && r.computed >= r.known && r.known + 1 < r.max_known)
            .map(|r| (r.id, 1))
            .collect()
    }
}
