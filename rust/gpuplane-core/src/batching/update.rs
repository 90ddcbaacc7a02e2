//! Applying the engine's results of a step.
//!
//! Outputs usually list some of the plan's entries in plan order, so they are matched by
//! walking the plan's positions in `running` (no hash lookup, no visit to the request slab)
//! and the generated tokens are added in the same pass, undone if a later check fails. Other
//! outputs (any order) go through a general check by id first. Charges and finishes follow
//! from the recorded [`Credits`], without a second pass over `running`.

use super::hash::FxHashSet;
use super::plan::{FinishReason, Finished, StepOutputs};
use super::scheduler::BatchScheduler;
use super::seq::{Run, State, NIL};
use super::tally::OutputTally;
use super::MAX_TOKENS;
use crate::error::{Error, Result};

/// What an `update` adds to the running entries, with what follows from it; undone if the
/// update fails.
#[derive(Debug, Default)]
pub(crate) struct Credits {
    /// `(position, tokens)` added (clamped to `max_new_tokens`), in order.
    added: Vec<(u32, u32)>,
    /// Positions that reached `max_new_tokens`, in order.
    reached: Vec<u32>,
    /// Output charges of the tenants.
    tally: OutputTally,
    /// `(workflow account, tokens)` output charges, in order.
    workflows: Vec<(u32, u32)>,
}

impl Credits {
    fn clear(&mut self) {
        self.added.clear();
        self.reached.clear();
        self.tally.clear();
        self.workflows.clear();
    }

    /// Adds up to `n` generated tokens (clamped to `max_new_tokens`) to `run`, at `pos`.
    #[inline(always)]
    fn add(&mut self, run: &mut Run, pos: u32, n: u32) {
        let tokens = n.min(run.max_known - run.known);
        run.known += tokens;
        self.added.push((pos, tokens));
        if tokens > 0 {
            self.tally.add(run.tenant, tokens);
            if run.workflow != NIL {
                self.workflows.push((run.workflow, tokens));
            }
        }
        if run.known >= run.max_known {
            self.reach(pos);
        }
    }

    /// Records a request that reached `max_new_tokens` (a few per update).
    #[cold]
    #[inline(never)]
    fn reach(&mut self, pos: u32) {
        self.reached.push(pos);
    }
}

impl BatchScheduler {
    /// Applies the engine's results for the last step: adds generated tokens (clamped to
    /// `max_new_tokens`), charges them, and finishes requests that stopped or reached
    /// `max_new_tokens`, freeing their KV. Every id must have been scheduled in the last step
    /// (`Conflict` otherwise, `NotFound` for unknown ids); a request still prefilling cannot
    /// report generated tokens. On error nothing changes.
    pub fn update(&mut self, outputs: &StepOutputs) -> Result<Vec<Finished>> {
        let mut credits = std::mem::take(&mut self.scratch_credits);
        let mut stopped = std::mem::take(&mut self.scratch_stopped);
        credits.clear();
        credits.tally.fit(self.tenant_stats.len());
        stopped.clear();
        let done = self
            .advance(outputs, &mut credits, &mut stopped)
            .map(|()| self.settle(&mut credits, &stopped));
        self.scratch_credits = credits;
        self.scratch_stopped = stopped;
        done
    }

    /// Checks `outputs` and adds the generated tokens to the running entries, recording them
    /// in `credits` and the stopped positions in `stopped`. On error nothing changes.
    fn advance(
        &mut self,
        outputs: &StepOutputs,
        credits: &mut Credits,
        stopped: &mut Vec<u32>,
    ) -> Result<()> {
        if self.advance_in_plan_order(outputs, credits).is_none() {
            self.advance_by_id(outputs, credits)?;
        }
        for &id in &outputs.finished {
            match self.scheduled_pos(id, usize::MAX) {
                Ok(pos) => stopped.push(pos as u32),
                Err(e) => {
                    self.undo(credits);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The usual case: `outputs.generated` lists some of the last plan's entries in plan order
    /// (so none twice) and every check passes; then the tokens are added. `None` (with nothing
    /// changed) otherwise, for [`BatchScheduler::advance_by_id`] to find the error or match
    /// out-of-order outputs.
    fn advance_in_plan_order(
        &mut self,
        outputs: &StepOutputs,
        credits: &mut Credits,
    ) -> Option<()> {
        if !self.awaiting_update {
            return None;
        }
        let walk = PlanWalk {
            running: &mut self.running,
            plan: &self.last_runs,
        };
        let advanced = walk.advance(&outputs.generated, credits);
        if advanced.is_none() {
            self.undo(credits);
        }
        advanced
    }

    /// The general case: checks `outputs.generated` by id, in any order, then adds the tokens.
    #[cold]
    fn advance_by_id(&mut self, outputs: &StepOutputs, credits: &mut Credits) -> Result<()> {
        let mut checked = std::mem::take(&mut self.scratch_generated);
        checked.clear();
        let result = self.check_generated(outputs, &mut checked);
        if result.is_ok() {
            for &(pos, n) in &checked {
                credits.add(&mut self.running[pos as usize], pos, n);
            }
        }
        self.scratch_generated = checked;
        result
    }

    /// Validates `outputs.generated` into `(position, generated)` pairs, in any order.
    fn check_generated(&self, outputs: &StepOutputs, out: &mut Vec<(u32, u32)>) -> Result<()> {
        let mut seen = FxHashSet::default();
        for (i, &(id, n)) in outputs.generated.iter().enumerate() {
            let pos = self.scheduled_pos(id, i)?;
            let run = &self.running[pos];
            if !seen.insert(pos) {
                return Err(Error::invalid(
                    "generated",
                    format!("request {id} listed twice"),
                ));
            }
            if n > MAX_TOKENS {
                return Err(Error::invalid(
                    "generated",
                    format!("{n} tokens for request {id}"),
                ));
            }
            if n > 0 && run.computed < run.known {
                return Err(Error::invalid(
                    "generated",
                    format!("request {id} is still prefilling"),
                ));
            }
            out.push((pos as u32, n));
        }
        Ok(())
    }

    /// Takes back the tokens of `credits` (in reverse, so a position listed twice is restored)
    /// and drops what followed from them.
    fn undo(&mut self, credits: &mut Credits) {
        for &(pos, tokens) in credits.added.iter().rev() {
            self.running[pos as usize].known -= tokens;
        }
        credits.clear();
    }

    /// Charges the credited tokens and finishes the requests that reached `max_new_tokens`,
    /// then those that stopped.
    fn settle(&mut self, credits: &mut Credits, stopped: &[u32]) -> Vec<Finished> {
        let mut done = Vec::with_capacity(credits.reached.len() + stopped.len());
        self.apply_tally(&mut credits.tally);
        for &(workflow, tokens) in &credits.workflows {
            self.workflows
                .charge(workflow, self.cfg.w_out * f64::from(tokens));
        }
        for &pos in &credits.reached {
            self.finish(pos as usize, FinishReason::Length, &mut done);
        }
        for &pos in stopped {
            if self.running[pos as usize].slot != NIL {
                self.finish(pos as usize, FinishReason::Stop, &mut done);
            }
        }
        self.flush_counters();
        self.sync_usage();
        self.awaiting_update = false;
        done
    }

    /// The position in `running` of a request scheduled in the last step, awaiting its update.
    /// `hint` is its likely position in the last plan (outputs usually come in plan order).
    #[inline(always)]
    fn scheduled_pos(&self, id: u64, hint: usize) -> Result<usize> {
        let hinted = self.last_runs.get(hint).map(|&p| p as usize).filter(|&p| {
            self.running
                .get(p)
                .is_some_and(|r| r.id == id && r.slot != NIL)
        });
        let pos = match hinted {
            Some(p) => p,
            None => self.lookup_running(id)?,
        };
        let in_plan = self.last_runs.binary_search(&(pos as u32)).is_ok();
        if !self.awaiting_update || !in_plan {
            return Err(not_scheduled(id));
        }
        Ok(pos)
    }

    /// The position in `running` of a running request, by id.
    #[cold]
    fn lookup_running(&self, id: u64) -> Result<usize> {
        let slot = *self
            .by_id
            .get(&id)
            .ok_or_else(|| Error::not_found("request", id.to_string()))?;
        if self.seq(slot).state != State::Running {
            return Err(not_scheduled(id));
        }
        Ok(self.run_pos(slot))
    }

    /// Charges the tenants the runs of `tally`.
    fn apply_tally(&mut self, tally: &mut OutputTally) {
        let mut runs = std::mem::take(&mut self.scratch_runs);
        tally.drain_into(&mut runs);
        for &(tenant, tokens, times) in &runs {
            self.charge_tenant(tenant, tokens, times, false);
        }
        runs.clear();
        self.scratch_runs = runs;
    }

    fn finish(&mut self, pos: usize, reason: FinishReason, done: &mut Vec<Finished>) {
        let slot = self.running[pos].slot;
        self.stop_running_at(pos, true);
        let seq = self.seq(slot);
        done.push(Finished {
            id: seq.id,
            generated: seq.generated,
            queue_time: seq.queue_time.unwrap_or(0.0),
            reason,
        });
        self.finished_total += 1;
        self.remove_seq(slot);
    }
}

/// The running set walked along the last plan (see `advance_in_plan_order`). A separate,
/// not inlined loop over plain slices: it keeps its state in registers.
struct PlanWalk<'a> {
    running: &'a mut [Run],
    plan: &'a [u32],
}

impl PlanWalk<'_> {
    /// Adds the tokens of `generated` to `credits` while it matches the plan and passes the
    /// checks; `None` at the first output that does not (the caller takes the credits back).
    #[inline(never)]
    fn advance(self, generated: &[(u64, u32)], credits: &mut Credits) -> Option<()> {
        credits.added.reserve(generated.len());
        let mut next = 0;
        for &(id, n) in generated {
            let pos = self.next_in_plan(id, &mut next)?;
            let run = &mut self.running[pos as usize];
            let prefilling = n > 0 && run.computed < run.known;
            if run.slot == NIL || n > MAX_TOKENS || prefilling {
                return None;
            }
            credits.add(run, pos, n);
        }
        Some(())
    }

    /// Position in `running` of the first plan entry, from index `*next` on, with id `id`;
    /// `*next` moves past it.
    #[inline(always)]
    fn next_in_plan(&self, id: u64, next: &mut usize) -> Option<u32> {
        while let Some(&pos) = self.plan.get(*next) {
            *next += 1;
            if self.running[pos as usize].id == id {
                return Some(pos);
            }
        }
        None
    }
}

#[cold]
fn not_scheduled(id: u64) -> Error {
    Error::Conflict(format!("request {id} was not scheduled in the last step"))
}
