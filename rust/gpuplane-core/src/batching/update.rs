//! Applying the engine's results of a step.
//!
//! Outputs usually list some of the plan's entries in plan order, so they are matched by
//! walking the plan's positions in `running` (no hash lookup, no visit to the request slab)
//! and the generated tokens are added in the same pass, undone if a later check fails. Other
//! outputs (any order) go through a general check by id first. Charges and finishes follow
//! from the recorded [`Credit`]s, without a second pass over `running`.

use super::hash::FxHashSet;
use super::plan::{FinishReason, Finished, StepOutputs};
use super::scheduler::BatchScheduler;
use super::seq::{Run, State, NIL};
use super::MAX_TOKENS;
use crate::error::{Error, Result};

/// Output tokens added to one running request by an `update`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credit {
    pos: u32,
    /// Tokens added (clamped to `max_new_tokens`).
    tokens: u32,
    tenant: u32,
    workflow: u32,
    /// It reached `max_new_tokens`.
    reached: bool,
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
        stopped.clear();
        let done = self
            .advance(outputs, &mut credits, &mut stopped)
            .map(|finishing| self.settle(&credits, &stopped, finishing));
        self.scratch_credits = credits;
        self.scratch_stopped = stopped;
        done
    }

    /// Checks `outputs` and adds the generated tokens to the running entries, recording them
    /// in `credits` and the stopped positions in `stopped`; returns how many requests reached
    /// `max_new_tokens`. On error nothing changes.
    fn advance(
        &mut self,
        outputs: &StepOutputs,
        credits: &mut Vec<Credit>,
        stopped: &mut Vec<u32>,
    ) -> Result<usize> {
        let finishing = match self.advance_in_plan_order(outputs, credits) {
            Some(finishing) => finishing,
            None => self.advance_by_id(outputs, credits)?,
        };
        for &id in &outputs.finished {
            match self.scheduled_pos(id, usize::MAX) {
                Ok(pos) => stopped.push(pos as u32),
                Err(e) => {
                    self.undo(credits);
                    return Err(e);
                }
            }
        }
        Ok(finishing)
    }

    /// The usual case: `outputs.generated` lists some of the last plan's entries in plan order
    /// (so none twice) and every check passes; then the tokens are added. `None` (with nothing
    /// changed) otherwise, for [`BatchScheduler::advance_by_id`] to find the error or match
    /// out-of-order outputs.
    fn advance_in_plan_order(
        &mut self,
        outputs: &StepOutputs,
        credits: &mut Vec<Credit>,
    ) -> Option<usize> {
        if !self.awaiting_update {
            return None;
        }
        let walk = PlanWalk {
            running: &mut self.running,
            plan: &self.last_runs,
        };
        let finishing = walk.advance(&outputs.generated, credits);
        if finishing.is_none() {
            self.undo(credits);
        }
        finishing
    }

    /// The general case: checks `outputs.generated` by id, in any order, then adds the tokens.
    #[cold]
    fn advance_by_id(&mut self, outputs: &StepOutputs, credits: &mut Vec<Credit>) -> Result<usize> {
        let mut checked = std::mem::take(&mut self.scratch_generated);
        checked.clear();
        let result = self.check_generated(outputs, &mut checked);
        let mut finishing = 0;
        if result.is_ok() {
            for &(pos, n) in &checked {
                let credit = add_tokens(&mut self.running[pos as usize], pos, n);
                finishing += usize::from(credit.reached);
                credits.push(credit);
            }
        }
        self.scratch_generated = checked;
        result.map(|()| finishing)
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

    /// Takes back the tokens of `credits` (in reverse, so a position listed twice is restored).
    fn undo(&mut self, credits: &mut Vec<Credit>) {
        for c in credits.drain(..).rev() {
            self.running[c.pos as usize].known -= c.tokens;
        }
    }

    /// Charges the credited tokens and finishes the requests that reached `max_new_tokens`,
    /// then those that stopped; `finishing` sizes the finished list.
    fn settle(&mut self, credits: &[Credit], stopped: &[u32], finishing: usize) -> Vec<Finished> {
        let mut done = Vec::with_capacity(finishing + stopped.len());
        self.tally.fit(self.tenant_stats.len());
        for c in credits {
            if c.tokens > 0 {
                self.charge_output(c.tenant, c.workflow, c.tokens);
            }
            if c.reached {
                self.finish(c.pos as usize, FinishReason::Length, &mut done);
            }
        }
        self.apply_tally();
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

    /// Charges `n` output tokens: to the tenant through the tally (see `tally.rs`), to the
    /// workflow at once.
    #[inline(always)]
    fn charge_output(&mut self, tenant: u32, workflow: u32, n: u32) {
        if let Some((tokens, times)) = self.tally.add(tenant, n) {
            self.charge_tenant(tenant, tokens, times, false);
        }
        if workflow != NIL {
            self.workflows
                .charge(workflow, self.cfg.w_out * f64::from(n));
        }
    }

    /// Charges the tenants the runs left in the tally.
    fn apply_tally(&mut self) {
        let mut runs = std::mem::take(&mut self.scratch_runs);
        self.tally.drain_into(&mut runs);
        for &(tenant, tokens, times) in &runs {
            self.charge_tenant(tenant, tokens, times, false);
        }
        runs.clear();
        self.scratch_runs = runs;
    }

    fn finish(&mut self, pos: usize, reason: FinishReason, done: &mut Vec<Finished>) {
        let slot = self.running[pos].slot;
        self.stop_running_at(pos);
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
    /// Adds the tokens of `generated` while it matches the plan and passes the checks, pushing
    /// a credit for each; returns how many reached `max_new_tokens`, or `None` at the first
    /// output that does not (the caller takes the pushed credits back).
    #[inline(never)]
    fn advance(self, generated: &[(u64, u32)], credits: &mut Vec<Credit>) -> Option<usize> {
        credits.reserve(generated.len());
        let (mut next, mut finishing) = (0, 0);
        for &(id, n) in generated {
            let pos = self.next_in_plan(id, &mut next)?;
            let run = &mut self.running[pos as usize];
            let prefilling = n > 0 && run.computed < run.known;
            if run.slot == NIL || n > MAX_TOKENS || prefilling {
                return None;
            }
            let credit = add_tokens(run, pos, n);
            finishing += usize::from(credit.reached);
            credits.push(credit);
        }
        Some(finishing)
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

/// Adds up to `n` generated tokens (clamped to `max_new_tokens`) to `run`, at `pos`.
#[inline(always)]
fn add_tokens(run: &mut Run, pos: u32, n: u32) -> Credit {
    let tokens = n.min(run.max_known - run.known);
    run.known += tokens;
    Credit {
        pos,
        tokens,
        tenant: run.tenant,
        workflow: run.workflow,
        reached: run.known >= run.max_known,
    }
}

#[cold]
fn not_scheduled(id: u64) -> Error {
    Error::Conflict(format!("request {id} was not scheduled in the last step"))
}
