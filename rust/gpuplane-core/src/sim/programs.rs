//! Agent programs in the report. A program is a workflow's calls; its completion time runs
//! from its first call's arrival to its last call's finish and splits exactly into waiting
//! (calls queued without KV, including after a preemption), running (calls holding KV) and
//! tool time (from one call's finish to the next call's arrival: think time, tool time, or the
//! wait for the next call's own timestamp). A request without a workflow is a single call, a
//! program of one call, reported apart so that both can be compared.

use std::collections::BTreeMap;

use serde::Serialize;

use super::engine::Sim;
use super::request::{ReqState, Status};
use super::stats::Dist;

/// Figures of a group of programs; the distributions cover its finished programs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramGroup {
    pub name: String,
    /// Programs in the group.
    pub programs: u64,
    /// Programs whose every call finished.
    pub finished: u64,
    /// Finished programs per second of the run.
    pub throughput_pps: f64,
    /// Calls per program.
    pub calls: Dist,
    /// Prompt plus output tokens over a program's calls.
    pub tokens: Dist,
    /// First call's arrival to last call's finish.
    pub completion_s: Dist,
    pub waiting_s: Dist,
    pub running_s: Dist,
    pub tool_s: Dist,
}

/// Agent programs and single calls of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantPrograms {
    pub name: String,
    pub programs: ProgramGroup,
    pub single_calls: ProgramGroup,
}

/// Program figures of a run: the fleet's, then per tenant (in tenant order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramsReport {
    pub programs: ProgramGroup,
    pub single_calls: ProgramGroup,
    pub tenants: Vec<TenantPrograms>,
}

/// One program while its calls are gathered.
#[derive(Debug, Clone, Copy)]
struct Program {
    tenant: u32,
    calls: u32,
    tokens: u64,
    start: f64,
    end: f64,
    /// Sum over calls of finish minus arrival.
    in_calls: f64,
    waited: f64,
    finished: bool,
}

impl Program {
    fn new(tenant: u32) -> Self {
        Self {
            tenant,
            calls: 0,
            tokens: 0,
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
            in_calls: 0.0,
            waited: 0.0,
            finished: true,
        }
    }

    fn add(&mut self, q: &ReqState, tokens: u64) {
        self.calls += 1;
        self.tokens += tokens;
        self.finished &= q.status == Status::Finished;
        if self.finished {
            self.start = self.start.min(q.arrival);
            self.end = self.end.max(q.finish);
            self.in_calls += q.finish - q.arrival;
            self.waited += q.waited;
        }
    }
}

/// Accumulates one group's programs.
#[derive(Debug, Default)]
struct GroupAcc {
    programs: u64,
    finished: u64,
    calls: Vec<f64>,
    tokens: Vec<f64>,
    completion: Vec<f64>,
    waiting: Vec<f64>,
    running: Vec<f64>,
    tool: Vec<f64>,
}

impl GroupAcc {
    fn add(&mut self, p: &Program) {
        self.programs += 1;
        if !p.finished {
            return;
        }
        let completion = p.end - p.start;
        self.finished += 1;
        self.calls.push(f64::from(p.calls));
        self.tokens.push(p.tokens as f64);
        self.completion.push(completion);
        self.waiting.push(p.waited);
        self.running.push(p.in_calls - p.waited);
        self.tool.push(completion - p.in_calls);
    }

    fn report(mut self, name: &str, duration: f64) -> ProgramGroup {
        ProgramGroup {
            name: name.to_string(),
            programs: self.programs,
            finished: self.finished,
            throughput_pps: self.finished as f64 / duration,
            calls: Dist::of(&mut self.calls),
            tokens: Dist::of(&mut self.tokens),
            completion_s: Dist::of(&mut self.completion),
            waiting_s: Dist::of(&mut self.waiting),
            running_s: Dist::of(&mut self.running),
            tool_s: Dist::of(&mut self.tool),
        }
    }
}

/// Programs of a run, agent programs by workflow id and single calls by request.
fn gather(sim: &Sim<'_>) -> (BTreeMap<i64, Program>, Vec<Program>) {
    let (w, mut workflows, mut singles) = (sim.w, BTreeMap::new(), Vec::new());
    for (i, q) in sim.reqs.iter().enumerate() {
        let tokens = u64::from(w.prompt[i]) + u64::from(w.output[i]);
        let tenant = w.tenant[i];
        let program = if w.workflow[i] >= 0 {
            workflows
                .entry(w.workflow[i])
                .or_insert_with(|| Program::new(tenant))
        } else {
            singles.push(Program::new(tenant));
            singles.last_mut().expect("just pushed")
        };
        program.add(q, tokens);
    }
    (workflows, singles)
}

impl ProgramsReport {
    /// The program figures of a finished run lasting `duration` seconds.
    pub(crate) fn build(sim: &Sim<'_>, duration: f64) -> Self {
        let (workflows, singles) = gather(sim);
        let n = sim.tenants.len();
        let (mut all, mut all_single) = (GroupAcc::default(), GroupAcc::default());
        let mut per: Vec<(GroupAcc, GroupAcc)> = (0..n).map(|_| Default::default()).collect();
        for p in workflows.values() {
            all.add(p);
            per[p.tenant as usize].0.add(p);
        }
        for p in &singles {
            all_single.add(p);
            per[p.tenant as usize].1.add(p);
        }
        ProgramsReport {
            programs: all.report("programs", duration),
            single_calls: all_single.report("single calls", duration),
            tenants: per
                .into_iter()
                .zip(&sim.tenants)
                .map(|((p, s), t)| TenantPrograms {
                    name: t.name.clone(),
                    programs: p.report("programs", duration),
                    single_calls: s.report("single calls", duration),
                })
                .collect(),
        }
    }
}
