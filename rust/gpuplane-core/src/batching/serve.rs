//! Serving the running set, the first part of a step: each running request, in order, gets
//! its outstanding tokens within the budget. Most entries fit the KV blocks they hold and are
//! served by [`FittingWalk`], a loop over plain slices that stays in registers; an entry that
//! needs new blocks goes back to the scheduler (`grow`, which may preempt).

use super::plan::ScheduledRequest;
use super::schedule::Step;
use super::scheduler::BatchScheduler;
use super::seq::{Run, NIL};

/// The per-request token limits of a step.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunking {
    pub cap: u32,
    pub chunked: bool,
    pub token_budget: u32,
}

impl Chunking {
    /// Tokens a request with `outstanding` tokens gets from `budget` (0: not this step).
    #[inline(always)]
    pub fn tokens_for(self, outstanding: u32, budget: u32) -> u32 {
        let want = outstanding.min(self.cap);
        let tokens = want.min(budget);
        if !self.chunked && tokens < want.min(self.token_budget) {
            return 0;
        }
        tokens
    }
}

/// A plain plan entry (no new or cached blocks) not yet in the plan, and its position in
/// `running`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pending {
    id: u64,
    tokens: u32,
    pos: u32,
    samples: bool,
}

/// Appends pending entries to the plan, and their positions to `positions`.
#[inline(always)]
fn flush_pending(plan: &mut Vec<ScheduledRequest>, positions: &mut Vec<u32>, pending: &[Pending]) {
    plan.extend(
        pending
            .iter()
            .map(|p| ScheduledRequest::plain(p.id, p.tokens, p.samples)),
    );
    positions.extend(pending.iter().map(|p| p.pos));
}

impl BatchScheduler {
    pub(super) fn serve_running(&mut self, st: &mut Step) {
        self.last_runs.reserve(self.n_running + 8);
        // Plain entries are first written into a pre-sized buffer (indexed stores, no
        // reallocation check) and moved into the plan in batches, right before a slow-path
        // entry and at the end. Pushing each 32-byte entry directly makes the compiler stage
        // it on the stack and copy it back, which stalls on store forwarding.
        let mut pending = std::mem::take(&mut self.scratch_entries);
        if pending.len() < self.running.len() {
            pending.resize(self.running.len(), Pending::default());
        }
        st.grown.clear();
        let mut from = 0;
        while let Some((pos, tokens)) = self.serve_fitting(st, from, &mut pending) {
            if let Some(blocks_at) = self.grow(pos, tokens, st) {
                let slot = self.running[pos].slot;
                st.grown.push((slot, st.plan.scheduled.len() as u32));
                self.push_entry(st, pos, tokens, blocks_at, 0);
            }
            from = pos + 1;
        }
        self.scratch_entries = pending;
        self.extend_grown(st);
    }

    /// Serves the running entries from `from` on that fit the blocks they hold, adding them to
    /// the plan; stops at the end, when the budget runs out, or at an entry that needs new
    /// blocks, returned as `(position, tokens)`.
    fn serve_fitting(
        &mut self,
        st: &mut Step,
        from: usize,
        pending: &mut [Pending],
    ) -> Option<(usize, u32)> {
        let chunking = self.chunking();
        let mut walk = FittingWalk {
            running: &mut self.running,
            pending,
            served: 0,
            budget: st.budget,
            register: false,
            block_size: u64::from(self.cfg.block_size),
            chunking,
        };
        let stop = walk.serve(from);
        let served = walk.served;
        st.budget = walk.budget;
        st.register |= walk.register;
        flush_pending(
            &mut st.plan.scheduled,
            &mut self.last_runs,
            &pending[..served],
        );
        stop
    }
}

/// The running entries that fit their blocks, served in a separate, not inlined loop over
/// plain slices (see the module docs).
struct FittingWalk<'a> {
    running: &'a mut [Run],
    /// Their plan entries, `served` so far.
    pending: &'a mut [Pending],
    served: usize,
    budget: u32,
    /// Some served entry may register prompt blocks in the prefix cache.
    register: bool,
    block_size: u64,
    chunking: Chunking,
}

impl FittingWalk<'_> {
    /// Serves entries from `from` on; returns the first that needs new blocks, if any, as
    /// `(position, tokens)`. Works on local copies of the counters, written back at the end.
    #[inline(never)]
    fn serve(&mut self, from: usize) -> Option<(usize, u32)> {
        let (mut budget, mut served, mut register) = (self.budget, self.served, false);
        let mut stop = None;
        for pos in from..self.running.len() {
            if budget == 0 {
                break;
            }
            let run = &mut self.running[pos];
            if run.slot == NIL {
                continue;
            }
            let outstanding = run.known - run.computed;
            // A decode step: one token always fits (the cap and the budget are at least 1).
            let tokens = match outstanding {
                1 => 1,
                _ => self.chunking.tokens_for(outstanding, budget),
            };
            if tokens == 0 {
                continue;
            }
            if u64::from(run.computed + tokens) > u64::from(run.nblocks) * self.block_size {
                stop = Some((pos, tokens));
                break;
            }
            run.computed += tokens;
            register |= run.computed >= run.reg_at;
            budget -= tokens;
            self.pending[served] = Pending {
                id: run.id,
                tokens,
                pos: pos as u32,
                samples: run.computed == run.known,
            };
            served += 1;
        }
        (self.budget, self.served, self.register) = (budget, served, self.register | register);
        stop
    }
}
