//! The discrete-event loop: arrivals -> admission -> routing -> each replica's
//! [`BatchScheduler`] -> the step-time model -> tokens and completions.
//!
//! Events are processed in time order; at equal times step completions come before arrivals
//! (a finishing call may release the next call of its workflow), and ties between events of
//! the same kind go by insertion order, so a run is a pure function of its inputs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::config::{SimConfig, TenantSpec};
use super::model::StepModel;
use super::replica::Replica;
use super::report::Report;
use super::request::{Reject, ReqState, Status};
use super::routing::FleetRouter;
use super::timeline::Timeline;
use super::workload::Workload;
use crate::batching::{BatchScheduler, Policy, ProgramHistory, Request};
use crate::error::Result;
use crate::prefix::refine_block_hashes;
use crate::total_order::OrdF64;

const NONE: u32 = u32::MAX;

/// Something that happens at a point of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// The step in flight on a replica ends.
    StepDone(u32),
    /// A workflow's next call arrives.
    Arrival(u32),
}

/// An event at its time, ordered by time then push order (the heap holds them reversed, so
/// that it pops the earliest first).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timed {
    time: OrdF64,
    seq: u64,
    event: Event,
}

/// The state of one run.
pub(crate) struct Sim<'a> {
    pub cfg: &'a SimConfig,
    pub w: &'a Workload,
    pub model: StepModel,
    pub tenants: Vec<TenantSpec>,
    pub replicas: Vec<Replica>,
    pub reqs: Vec<ReqState>,
    pub timeline: Timeline,
    pub block_size: u32,
    pub kv_capacity: f64,
    pub w_in: f64,
    pub w_out: f64,
    pub(crate) fleet: FleetRouter,
    heap: BinaryHeap<Reverse<Timed>>,
    seq: u64,
    /// Next call of the same workflow, per request (`NONE` if last or none).
    next_call: Vec<u32>,
    /// Whether the request is a workflow's later call (arrives by release, not timestamp).
    follow_up: Vec<bool>,
    /// Fleet-wide program state by workflow id, when programs carry it across replicas.
    program_ledger: Option<HashMap<i64, ProgramHistory>>,
}

/// Runs the simulation of `workload` under `cfg` and returns its report.
pub fn simulate(cfg: &SimConfig, workload: &Workload) -> Result<Report> {
    let mut sim = Sim::new(cfg, workload)?;
    sim.run();
    Ok(Report::build(&sim))
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a SimConfig, w: &'a Workload) -> Result<Self> {
        cfg.validate()?;
        w.validate()?;
        let model = cfg.step_model()?;
        let tenants = cfg.tenants_for(w.tenant_count())?;
        let bcfg = cfg.batch_config(&model, &tenants)?;
        let replicas = (0..cfg.replicas)
            .map(|_| BatchScheduler::new(bcfg.clone()).map(Replica::new))
            .collect::<Result<Vec<_>>>()?;
        let (next_call, follow_up) = workflows(w);
        let fleet = FleetRouter::new(cfg, &bcfg, &tenants)?;
        let fleet_programs = cfg.fleet_program_counters && bcfg.policy == Policy::ProgramLas;
        Ok(Self {
            program_ledger: fleet_programs.then(HashMap::new),
            timeline: Timeline::new(cfg.window_s, tenants.len()),
            block_size: bcfg.block_size,
            kv_capacity: f64::from(bcfg.kv_blocks) * f64::from(bcfg.block_size),
            w_in: bcfg.w_in,
            w_out: bcfg.w_out,
            fleet,
            reqs: vec![ReqState::default(); w.len()],
            heap: BinaryHeap::new(),
            seq: 0,
            cfg,
            w,
            model,
            tenants,
            replicas,
            next_call,
            follow_up,
        })
    }

    pub(crate) fn push(&mut self, time: f64, event: Event) {
        self.seq += 1;
        self.heap.push(Reverse(Timed {
            time: OrdF64(time),
            seq: self.seq,
            event,
        }));
    }

    fn run(&mut self) {
        let mut order: Vec<u32> = (0..self.w.len() as u32)
            .filter(|&i| !self.follow_up[i as usize])
            .collect();
        order.sort_by(|&a, &b| {
            self.w.arrival[a as usize]
                .total_cmp(&self.w.arrival[b as usize])
                .then(a.cmp(&b))
        });
        let mut next = 0;
        loop {
            let arrival = order.get(next).map(|&i| self.w.arrival[i as usize]);
            let event = self.heap.peek().map(|e| e.0.time.0);
            match (arrival, event) {
                (None, None) => break,
                (Some(a), e) if e.is_none_or(|e| a < e) => {
                    self.arrive(order[next] as usize, a);
                    next += 1;
                }
                _ => self.pop_event(),
            }
        }
        self.sweep_unserved();
    }

    fn pop_event(&mut self) {
        let Reverse(Timed { time, event, .. }) = self.heap.pop().expect("peeked");
        let time = time.0;
        match event {
            Event::StepDone(r) => self.finish_step(r as usize, time),
            Event::Arrival(i) => self.arrive(i as usize, time),
        }
    }

    /// Admission and routing of request `i` arriving at `t`.
    fn arrive(&mut self, i: usize, t: f64) {
        self.reqs[i].arrival = t;
        let hashes = self.block_hashes(i);
        let r = self.route(i, &hashes);
        self.reqs[i].replica = r as u32;
        let rep = &self.replicas[r];
        if self.cfg.max_queue > 0 && rep.sched.num_waiting() >= self.cfg.max_queue as usize {
            self.route_done(i);
            return self.reject(i, t, Reject::QueueFull);
        }
        let req = self.request(i, t, hashes);
        self.carry_program_history(i, r);
        if self.replicas[r].sched.add(req).is_err() {
            self.route_done(i);
            return self.reject(i, t, Reject::TooLong);
        }
        let blocks = self.prompt_blocks(i);
        let rep = &mut self.replicas[r];
        rep.routed += 1;
        rep.waiting_blocks += blocks;
        self.reqs[i].status = Status::Queued;
        self.reqs[i].queued_at = t;
        self.timeline.arrive(t);
        self.timeline.wait(t, self.w.tenant[i]);
        if self.replicas[r].plan.is_none() {
            self.start_step(r, t);
        }
    }

    /// KV blocks of request `i`'s prompt.
    pub(crate) fn prompt_blocks(&self, i: usize) -> u32 {
        self.w.prompt[i].div_ceil(self.block_size)
    }

    /// The scheduler request for request `i` arriving at `t`.
    fn request(&self, i: usize, t: f64, block_hashes: Vec<u64>) -> Request {
        let wf = self.w.workflow[i];
        Request {
            id: i as u64,
            tenant: self.tenants[self.w.tenant[i] as usize].name.clone(),
            prompt_len: self.w.prompt[i],
            block_hashes,
            max_new_tokens: self.w.output[i],
            priority: self.w.priority[i],
            arrival: t,
            ttft_deadline: Some(t + self.cfg.slo.ttft_s),
            workflow: (wf >= 0).then_some(wf as u64),
            last_call: wf >= 0 && self.next_call[i] == NONE,
        }
    }

    /// Engine block hashes of request `i` from the workload's coarser prefix hashes.
    fn block_hashes(&self, i: usize) -> Vec<u64> {
        refine_block_hashes(
            self.w.hashes_of(i),
            self.cfg.hash_block_tokens,
            self.block_size,
            self.w.prompt[i],
        )
    }

    fn reject(&mut self, i: usize, t: f64, why: Reject) {
        self.reqs[i].status = Status::Rejected(why);
        self.reqs[i].arrival = t;
        let mut next = self.next_call[i];
        while next != NONE {
            let n = next as usize;
            self.reqs[n].status = Status::Rejected(Reject::WorkflowAborted);
            self.reqs[n].arrival = t;
            next = self.next_call[n];
        }
    }

    /// Tells replica `r` what the fleet knows of request `i`'s program (fleet counters only).
    fn carry_program_history(&mut self, i: usize, r: usize) {
        let wf = self.w.workflow[i];
        let Some(h) = self.program_ledger.as_ref().and_then(|l| l.get(&wf)) else {
            return;
        };
        let set = self.replicas[r].sched.set_program_history(wf as u64, *h);
        debug_assert!(set.is_ok(), "program_las with finite, non-negative history");
    }

    /// Records what request `i`'s replica knows of its program after the call (fleet counters).
    fn record_program_history(&mut self, i: usize) {
        let (wf, r) = (self.w.workflow[i], self.reqs[i].replica as usize);
        let Some(ledger) = self.program_ledger.as_mut() else {
            return;
        };
        if let Some(h) = self.replicas[r].sched.program_history(wf as u64) {
            ledger.insert(wf, h);
        }
    }

    /// Schedules the arrival of the call after request `i` of its workflow, finished at `t`.
    pub(crate) fn release_next_call(&mut self, i: usize, t: f64) {
        let next = self.next_call[i];
        if next != NONE {
            self.record_program_history(i);
            let gap = self.cfg.think_time_s + self.w.tool_time_of(next as usize);
            let at = (t + gap).max(self.w.arrival[next as usize]);
            self.push(at, Event::Arrival(next));
        }
    }

    /// Marks requests still queued when the loop ran dry (a scheduler that stalled).
    fn sweep_unserved(&mut self) {
        for q in &mut self.reqs {
            if matches!(q.status, Status::Queued | Status::Pending) {
                q.status = Status::Rejected(Reject::Unserved);
            }
        }
    }
}

/// For each request, the next call of its workflow, and whether it is a later call.
fn workflows(w: &Workload) -> (Vec<u32>, Vec<bool>) {
    let mut calls: Vec<u32> = (0..w.len() as u32)
        .filter(|&i| w.workflow[i as usize] >= 0)
        .collect();
    calls.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        w.workflow[a]
            .cmp(&w.workflow[b])
            .then(w.arrival[a].total_cmp(&w.arrival[b]))
            .then(a.cmp(&b))
    });
    let mut next = vec![NONE; w.len()];
    let mut follow = vec![false; w.len()];
    for pair in calls.windows(2) {
        let (a, b) = (pair[0] as usize, pair[1] as usize);
        if w.workflow[a] == w.workflow[b] {
            next[a] = b as u32;
            follow[b] = true;
        }
    }
    (next, follow)
}
