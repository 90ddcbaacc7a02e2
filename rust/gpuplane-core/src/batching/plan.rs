//! What a step hands to the engine, and what the engine hands back.

use serde::{Deserialize, Serialize};

/// One request's share of a step. Its KV blocks are in the plan's flat block buffer: see
/// [`StepPlan::new_blocks`] and [`StepPlan::cached_blocks`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRequest {
    /// Request id.
    pub id: u64,
    /// Tokens to compute this step (>= 1).
    pub num_tokens: u32,
    /// Where its blocks start in [`StepPlan`]'s block buffer: cached ones, then new ones.
    pub(crate) blocks_at: u32,
    pub(crate) n_cached: u32,
    pub(crate) n_new: u32,
    /// After this step its computed tokens reach its known tokens, so the engine samples a
    /// token for it (false for a prefill chunk that is not the last).
    pub samples: bool,
}

impl ScheduledRequest {
    /// An entry without new or cached blocks.
    pub(crate) fn plain(id: u64, num_tokens: u32, samples: bool) -> Self {
        ScheduledRequest {
            id,
            num_tokens,
            blocks_at: 0,
            n_cached: 0,
            n_new: 0,
            samples,
        }
    }
}

/// The result of [`super::BatchScheduler::schedule`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    /// Requests to run this step: running ones first (in their order), then newly admitted.
    pub scheduled: Vec<ScheduledRequest>,
    /// Ids admitted this step (they also appear in `scheduled`).
    pub admitted: Vec<u64>,
    /// Ids preempted this step: their KV is freed and they are waiting for recompute.
    pub preempted: Vec<u64>,
    /// Sum of `num_tokens`.
    pub total_tokens: u32,
    /// The blocks of all entries, one contiguous range each (one buffer rather than a `Vec`
    /// per entry, which cost an allocation for every entry that got blocks). It may also hold
    /// blocks of entries undone by a preemption, which no accessor reaches.
    pub(crate) blocks: Vec<u32>,
    /// The scheduler's step number that made it.
    #[serde(default)]
    pub(crate) step: u64,
}

impl StepPlan {
    /// KV blocks newly allocated this step to `scheduled[i]`, in order.
    ///
    /// # Panics
    /// If `i` is not an index of `scheduled`.
    pub fn new_blocks(&self, i: usize) -> &[u32] {
        let e = &self.scheduled[i];
        let at = (e.blocks_at + e.n_cached) as usize;
        &self.blocks[at..at + e.n_new as usize]
    }

    /// Cached prefix blocks that `scheduled[i]` reuses (only on the step that admits it), in
    /// order.
    ///
    /// # Panics
    /// If `i` is not an index of `scheduled`.
    pub fn cached_blocks(&self, i: usize) -> &[u32] {
        let e = &self.scheduled[i];
        let at = e.blocks_at as usize;
        &self.blocks[at..at + e.n_cached as usize]
    }
}

/// The engine's results for the last step, passed to [`super::BatchScheduler::update`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutputs {
    /// `(id, tokens generated)` for requests scheduled in the last step: 0 while prefilling,
    /// usually 1 in decode, more for speculative decoding (clamped to `max_new_tokens`).
    /// Requests left out generated nothing.
    pub generated: Vec<(u64, u32)>,
    /// Ids that hit EOS or a stop condition.
    pub finished: Vec<u64>,
}

/// Why a request finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinishReason {
    /// The engine reported a stop (EOS, stop string).
    Stop,
    /// It generated `max_new_tokens`.
    Length,
}

/// A request that finished in [`super::BatchScheduler::update`]; its KV is freed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// Request id.
    pub id: u64,
    /// Tokens generated.
    pub generated: u32,
    /// Seconds from arrival to first admission (by the scheduler clock, at least 0).
    pub queue_time: f64,
    /// Why it finished.
    pub reason: FinishReason,
}
