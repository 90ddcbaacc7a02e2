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
        let mut done = Vec::new();
        if checked.is_ok() {
            for &(pos, n) in &generated {
                self.add_generated(pos as usize, n, &mut done);
            }
            for &pos in &stopped {
                if self.running[pos as usize].slot != NIL {
                    self.finish(pos as usize, FinishReason::Stop, &mut done);
                }
            }
            self.flush_counters();
            self.sync_usage();
            self.awaiting_update = false;
        }
        self.scratch_generated = generated;
        self.scratch_stopped = stopped;
        checked.map(|()| done)
    }

    /// Validates `outputs` into `(position, generated)` pairs and stopped positions.
    fn check_outputs(
        &mut self,
        outputs: &StepOutputs,
        generated: &mut Vec<(u32, u32)>,
        stopped: &mut Vec<u32>,
    ) -> Result<()> {
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        generated.resize(outputs.generated.len(), (0, 0));
        for ((i, &(id, n)), out) in outputs
            .generated
            .iter()
            .enumerate()
            .zip(generated.iter_mut())
        {
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
            *out = (pos as u32, n);
        }
        for &id in &outputs.finished {
            stopped.push(self.scheduled_pos(id, usize::MAX)? as u32);
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
            self.charge_accounts(tenant, workflow, n, false);
        }
        if reached {
            self.finish(pos, FinishReason::Length, done);
        }
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
