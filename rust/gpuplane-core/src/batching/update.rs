//! Applying the engine's results of a step.

use super::plan::{FinishReason, Finished, StepOutputs};
use super::scheduler::BatchScheduler;
use super::seq::State;
use super::MAX_TOKENS;
use crate::error::{Error, Result};

/// Validated outputs: `(slot, generated)` pairs and slots that stopped.
type CheckedOutputs = (Vec<(u32, u32)>, Vec<u32>);

impl BatchScheduler {
    /// Applies the engine's results for the last step: adds generated tokens (clamped to
    /// `max_new_tokens`), charges them, and finishes requests that stopped or reached
    /// `max_new_tokens`, freeing their KV. Every id must have been scheduled in the last step
    /// (`Conflict` otherwise, `NotFound` for unknown ids); a request still prefilling cannot
    /// report generated tokens. On error nothing changes.
    pub fn update(&mut self, outputs: &StepOutputs) -> Result<Vec<Finished>> {
        let (generated, stopped) = self.check_outputs(outputs)?;
        let mut done = Vec::new();
        for (slot, n) in generated {
            self.add_generated(slot, n, &mut done);
        }
        for slot in stopped {
            if self.seqs[slot as usize].is_some() {
                self.finish(slot, FinishReason::Stop, &mut done);
            }
        }
        self.flush_counters();
        if !done.is_empty() {
            self.running.retain(|&s| self.seqs[s as usize].is_some());
        }
        self.awaiting_update = false;
        Ok(done)
    }

    fn check_outputs(&mut self, outputs: &StepOutputs) -> Result<CheckedOutputs> {
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        let mut generated = Vec::with_capacity(outputs.generated.len());
        for (i, &(id, n)) in outputs.generated.iter().enumerate() {
            let slot = self.scheduled_slot(id, i)?;
            let seq = self.seq_mut(slot);
            if seq.seen_epoch == epoch {
                return Err(Error::invalid(
                    "generated",
                    format!("request {id} listed twice"),
                ));
            }
            seq.seen_epoch = epoch;
            if n > MAX_TOKENS {
                return Err(Error::invalid(
                    "generated",
                    format!("{n} tokens for request {id}"),
                ));
            }
            if n > 0 && seq.computed < seq.known() {
                return Err(Error::invalid(
                    "generated",
                    format!("request {id} is still prefilling"),
                ));
            }
            generated.push((slot, n));
        }
        let stopped = outputs
            .finished
            .iter()
            .map(|&id| self.scheduled_slot(id, usize::MAX))
            .collect::<Result<_>>()?;
        Ok((generated, stopped))
    }

    /// The slot of a request scheduled in the last step, awaiting its update. `hint` is its
    /// likely position in the last plan (outputs usually come in plan order).
    fn scheduled_slot(&self, id: u64, hint: usize) -> Result<u32> {
        let hinted = self.last_slots.get(hint).copied();
        let slot =
            match hinted.filter(|&s| self.seqs[s as usize].as_ref().is_some_and(|q| q.id == id)) {
                Some(s) => s,
                None => *self
                    .by_id
                    .get(&id)
                    .ok_or_else(|| Error::not_found("request", id.to_string()))?,
            };
        let seq = self.seq(slot);
        if !self.awaiting_update || seq.state != State::Running || seq.sched_step != self.step {
            return Err(Error::Conflict(format!(
                "request {id} was not scheduled in the last step"
            )));
        }
        Ok(slot)
    }

    fn add_generated(&mut self, slot: u32, n: u32, done: &mut Vec<Finished>) {
        let seq = self.seq_mut(slot);
        let n = n.min(seq.max_new - seq.generated);
        seq.generated += n;
        let reached = seq.generated >= seq.max_new;
        if n > 0 {
            self.charge(slot, n, false);
        }
        if reached {
            self.finish(slot, FinishReason::Length, done);
        }
    }

    fn finish(&mut self, slot: u32, reason: FinishReason, done: &mut Vec<Finished>) {
        self.stop_running(slot);
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
