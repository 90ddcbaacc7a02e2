//! One engine replica: its batching scheduler, the step in flight, and running one step
//! through the step-time model.

use super::engine::{Event, Sim};
use super::model::StepWork;
use super::request::Status;
use crate::batching::{BatchScheduler, StepOutputs, StepPlan};

/// An engine replica in the simulation.
#[derive(Debug)]
pub(crate) struct Replica {
    pub sched: BatchScheduler,
    /// The step in flight, if any.
    pub plan: Option<StepPlan>,
    /// Reused buffer of the engine's outputs.
    outputs: StepOutputs,
    pub busy_s: f64,
    pub kv_s: f64,
    pub steps: u64,
    pub preemptions: u64,
    pub routed: u64,
    /// Prompt blocks of its waiting requests (reported to the router).
    pub waiting_blocks: u32,
    /// Its waiting requests per tenant index (reported to the router under a queue weight).
    pub waiting_by_tenant: Vec<u32>,
}

impl Replica {
    pub fn new(mut sched: BatchScheduler) -> Self {
        sched.record_cache_events(true);
        Self {
            sched,
            plan: None,
            outputs: StepOutputs::default(),
            busy_s: 0.0,
            kv_s: 0.0,
            steps: 0,
            preemptions: 0,
            routed: 0,
            waiting_blocks: 0,
            waiting_by_tenant: Vec::new(),
        }
    }
}

impl Sim<'_> {
    /// Plans and starts a step on replica `r` at `t` (nothing if it has no work).
    pub(crate) fn start_step(&mut self, r: usize, t: f64) {
        self.sync_counters(r);
        let rep = &mut self.replicas[r];
        rep.sched
            .set_time(t)
            .expect("simulated time never goes back");
        let plan = rep.sched.schedule();
        if plan.scheduled.is_empty() {
            rep.sched
                .update(&StepOutputs::default())
                .expect("empty outputs");
            return;
        }
        for &id in &plan.preempted {
            self.preempted(r, id as usize, t);
        }
        let mut work = StepWork::default();
        for (i, s) in plan.scheduled.iter().enumerate() {
            let cached = plan.cached_blocks(i).len() as u32 * self.block_size;
            self.account_entry(s.id as usize, cached, s.num_tokens, t, &mut work);
        }
        let dt = self.model.step_time(&work);
        let rep = &mut self.replicas[r];
        let kv = f64::from(rep.sched.kv_used_blocks()) / f64::from(rep.sched.config().kv_blocks);
        rep.busy_s += dt;
        rep.kv_s += kv * dt;
        rep.steps += 1;
        rep.plan = Some(plan);
        self.timeline.step(t, dt, kv);
        self.push(t + dt, Event::StepDone(r as u32));
    }

    fn preempted(&mut self, r: usize, i: usize, t: f64) {
        let blocks = self.prompt_blocks(i);
        let rep = &mut self.replicas[r];
        rep.preemptions += 1;
        rep.waiting_blocks += blocks;
        let q = &mut self.reqs[i];
        q.running = false;
        q.computed = 0;
        q.preemptions += 1;
        q.queued_at = t;
        self.timeline.wait(t, self.w.tenant[i]);
        self.fleet_waits(r, self.w.tenant[i], true);
    }

    /// Updates request `i`'s computed tokens for a step entry and adds it to `work`.
    fn account_entry(&mut self, i: usize, cached: u32, n: u32, t: f64, work: &mut StepWork) {
        let tenant = self.w.tenant[i];
        if !self.reqs[i].running {
            let (r, blocks) = (self.reqs[i].replica as usize, self.prompt_blocks(i));
            let rep = &mut self.replicas[r];
            rep.waiting_blocks = rep.waiting_blocks.saturating_sub(blocks);
            self.timeline.unwait(t, tenant);
            self.fleet_waits(r, tenant, false);
        }
        let q = &mut self.reqs[i];
        if !q.running {
            q.running = true;
            q.computed = cached;
            q.waited += t - q.queued_at;
            if q.preemptions == 0 {
                q.cached_at_admission = cached;
            }
        }
        let decode = n == 1 && q.generated > 0 && q.computed + 1 == self.w.prompt[i] + q.generated;
        work.add(q.computed, n);
        q.computed += n;
        if !decode {
            self.served(t, tenant, self.w_in * f64::from(n));
        }
    }

    /// Applies the step in flight on replica `r`, which ends at `t`, then starts the next one.
    pub(crate) fn finish_step(&mut self, r: usize, t: f64) {
        let plan = self.replicas[r].plan.take().expect("a step in flight");
        let mut outputs = std::mem::take(&mut self.replicas[r].outputs);
        outputs.generated.clear();
        outputs.generated.extend(
            plan.scheduled
                .iter()
                .filter(|s| s.samples)
                .map(|s| (s.id, 1)),
        );
        let done = self.replicas[r]
            .sched
            .update(&outputs)
            .expect("outputs of the step just planned");
        for &(id, _) in &outputs.generated {
            self.generated(id as usize, t);
        }
        self.timeline.tokens(t, outputs.generated.len() as u64);
        for f in &done {
            self.finished(f.id as usize, t);
        }
        self.replicas[r].outputs = outputs;
        self.start_step(r, t);
    }

    fn generated(&mut self, i: usize, t: f64) {
        let q = &mut self.reqs[i];
        q.generated += 1;
        if q.first.is_nan() {
            q.first = t;
        }
        self.served(t, self.w.tenant[i], self.w_out);
    }

    fn finished(&mut self, i: usize, t: f64) {
        let q = &mut self.reqs[i];
        q.finish = t;
        q.status = Status::Finished;
        q.running = false;
        self.timeline.finish(t);
        self.route_done(i);
        self.release_next_call(i, t);
    }
}
