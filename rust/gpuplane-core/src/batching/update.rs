//! Applying the engine's results of a step.
//!
//! Outputs usually list the plan's entries in plan order, so each id is checked against the
//! run entry of the same plan position first (no hash lookup, no visit to the request slab).

use super::plan::{FinishReason, Finished, StepOutputs};
use super::scheduler::BatchScheduler;
use super::seq::{State, NIL};
use super::MAX_TOKENS;
use crate::error::{Error, Result};

impl BatchScheduler {
    /// Applies the engine's results for the last step: adds generated tokens (clamped to
    /// `max_new_tokens`), charges them, and finishes requests that stopped or reached
    /// `max_new_tokens`, freeing their KV. Every id must have been scheduled in the last step
    /// (`Conflict` otherwise, `NotFound` for unknown ids); a request still prefilling cannot
    /// report generated tokens. On error nothing changes.
    pub fn update(&mut self, outputs: &StepOutputs) -> Result<Vec<Finished>> {
        let mut generated = std::mem::take(&mut self.scratch_generated);
        let mut stopped = std::mem::take(&mut self.scratch_stopped);
        generated.clear();
        stopped.clear();
        let checked = self.check_outputs(outputs, &mut generated, &mut stopped);
        let done = checked.map(|finishing| self.apply(&generated, &stopped, finishing));
        self.scratch_generated = generated;
        self.scratch_stopped = stopped;
        done
    }

    /// Applies checked outputs; `finishing` is a capacity hint for the finished list.
    fn apply(
        &mut self,
        generated: &[(u32, u32)],
        stopped: &[u32],
        finishing: usize,
    ) -> Vec<Finished> {
        let mut done = Vec::with_capacity(finishing + stopped.len());
        self.tally.fit(self.tenant_stats.len());
        for &(pos, n) in generated {
            self.add_generated(pos as usize, n, &mut done);
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

    /// Validates `outputs` into `(position, generated)` pairs and stopped positions; returns a
    /// guess of how many requests finish.
    fn check_outputs(
        &mut self,
        outputs: &StepOutputs,
        generated: &mut Vec<(u32, u32)>,
        stopped: &mut Vec<u32>,
    ) -> Result<usize> {
        let finishing = match self.match_plan_order(outputs, generated) {
            Some(finishing) => finishing,
            None => {
                generated.clear();
                self.check_generated(outputs, generated)?;
                0
            }
        };
        for &id in &outputs.finished {
            stopped.push(self.scheduled_pos(id, usize::MAX)? as u32);
        }
        Ok(finishing)
    }

    /// The usual case of [`BatchScheduler::check_generated`]: `outputs.generated` lists some of
    /// the last plan's entries in plan order (so none twice) and every check passes. Fills
    /// `out` and returns how many requests reach `max_new_tokens`; `None` otherwise, for the
    /// general check to find the error or match out-of-order outputs.
    fn match_plan_order(&self, outputs: &StepOutputs, out: &mut Vec<(u32, u32)>) -> Option<usize> {
        if !self.awaiting_update {
            return None;
        }
        out.reserve(outputs.generated.len());
        let mut plan = self.last_runs.iter();
        let mut finishing = 0;
        for &(id, n) in &outputs.generated {
            let (pos, run) = plan
                .by_ref()
                .map(|&p| (p, &self.running[p as usize]))
                .find(|(_, r)| r.id == id)?;
            let prefilling = n > 0 && run.computed < run.known;
            if run.slot == NIL || run.sched_step != self.step || n > MAX_TOKENS || prefilling {
                return None;
            }
            finishing += usize::from(n >= run.max_known - run.known);
            out.push((pos, n));
        }
        Some(finishing)
    }

    /// Validates `outputs.generated` into `(position, generated)` pairs, in any order.
    #[cold]
    fn check_generated(&mut self, outputs: &StepOutputs, out: &mut Vec<(u32, u32)>) -> Result<()> {
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        for (i, &(id, n)) in outputs.generated.iter().enumerate() {
            let pos = self.scheduled_pos(id, i)?;
            let run = &mut self.running[pos];
            if run.seen_epoch == epoch {
                return Err(Error::invalid(
                    "generated",
                    format!("request {id} listed twice"),
                ));
            }
            run.seen_epoch = epoch;
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
        if !self.awaiting_update || self.running[pos].sched_step != self.step {
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

    #[inline(always)]
    fn add_generated(&mut self, pos: usize, n: u32, done: &mut Vec<Finished>) {
        let run = &mut self.running[pos];
        let n = n.min(run.max_known - run.known);
        run.known += n;
        let reached = run.known >= run.max_known;
        let (tenant, workflow) = (run.tenant, run.workflow);
        if n > 0 {
            self.charge_output(tenant, workflow, n);
        }
        if reached {
            self.finish(pos, FinishReason::Length, done);
        }
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

#[cold]
fn not_scheduled(id: u64) -> Error {
    Error::Conflict(format!("request {id} was not scheduled in the last step"))
}
