//! `program_las`: programs ordered by the service they attained over all their calls (never
//! lifted), and its starvation bound: a request that has waited `starvation_s` goes before
//! every younger one and is not bypassed by backfill.

use std::collections::BTreeMap;

use gpuplane_core::batching::{
    BatchConfig, BatchScheduler, Policy, Request, StepOutputs, StepPlan,
};
use proptest::prelude::*;

fn config(policy: Policy, starvation_s: f64) -> BatchConfig {
    BatchConfig {
        token_budget: 64,
        max_running: 1,
        kv_blocks: 64,
        block_size: 4,
        watermark: 0.0,
        policy,
        starvation_s,
        ..BatchConfig::default()
    }
}

/// Reports one token for every request of `plan` that samples.
fn one_token_each(s: &mut BatchScheduler, plan: &StepPlan) {
    let generated = plan
        .scheduled
        .iter()
        .filter(|e| e.samples)
        .map(|e| (e.id, 1))
        .collect();
    let outputs = StepOutputs {
        generated,
        finished: Vec::new(),
    };
    s.update(&outputs).unwrap();
}

/// Runs one step at `now`; returns the admitted ids.
fn step(s: &mut BatchScheduler, now: f64) -> Vec<u64> {
    s.set_time(now).unwrap();
    let plan = s.schedule();
    one_token_each(s, &plan);
    plan.admitted
}

/// Program 7's first call is served; then program 8 (new) and program 7's second call wait.
fn second_call_order(policy: Policy) -> Vec<u64> {
    let mut s = BatchScheduler::new(config(policy, 1e9)).unwrap();
    s.add(Request::new(1, "a", 40, 1).with_workflow(7)).unwrap();
    s.add(Request::new(2, "a", 40, 1).with_workflow(7)).unwrap();
    let mut order = step(&mut s, 0.0);
    s.add(Request::new(3, "a", 40, 1).with_workflow(8)).unwrap();
    for k in 1..20 {
        order.extend(step(&mut s, f64::from(k)));
    }
    order
}

#[test]
fn a_new_program_goes_before_one_that_attained_service() {
    // workflow_fair lifts the new program to the backlogged one's counter (a tie, FCFS);
    // program_las keeps what each program attained, so the new one goes first.
    assert_eq!(second_call_order(Policy::WorkflowFair), vec![1, 2, 3]);
    assert_eq!(second_call_order(Policy::ProgramLas), vec![1, 3, 2]);
}

/// A long program's second call against a stream of new single calls, one per step, each
/// starting at 0 attained service: returns when the call was admitted (None: never).
fn long_call_admitted_at(starvation_s: f64, steps: u32) -> Option<f64> {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, starvation_s)).unwrap();
    s.add(Request::new(1, "a", 60, 1).with_workflow(1)).unwrap();
    step(&mut s, 0.0);
    s.add(
        Request::new(2, "a", 60, 1)
            .with_workflow(1)
            .with_arrival(1.0),
    )
    .unwrap();
    for k in 1..steps {
        let now = f64::from(k);
        let single = Request::new(100 + u64::from(k), "b", 4, 1).with_arrival(now);
        s.add(single).unwrap();
        if step(&mut s, now).contains(&2) {
            return Some(now);
        }
    }
    None
}

#[test]
fn the_starvation_bound_admits_a_long_program_under_a_stream_of_new_ones() {
    assert_eq!(long_call_admitted_at(1e9, 200), None, "pure LAS starves it");
    let at = long_call_admitted_at(10.0, 200).expect("admitted within the bound");
    assert!(at <= 1.0 + 10.0 + 1.0, "admitted at {at}");
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        workflow: Option<u64>,
        prompt: u32,
        max_new: u32,
        prio: i32,
    },
    Step {
        dt: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (proptest::option::of(0u64..4), 1u32..48, 1u32..12, -1i32..2)
            .prop_map(|(workflow, prompt, max_new, prio)| Op::Add { workflow, prompt, max_new, prio }),
        4 => (0u8..4).prop_map(|dt| Op::Step { dt }),
    ]
}

/// The test's view of waiting requests: id -> arrival.
struct World {
    s: BatchScheduler,
    waiting: BTreeMap<u64, f64>,
    arrival: BTreeMap<u64, f64>,
    now: f64,
    next_id: u64,
}

impl World {
    fn add(&mut self, workflow: Option<u64>, prompt: u32, max_new: u32, prio: i32) {
        let id = self.next_id;
        self.next_id += 1;
        let mut r = Request::new(id, "t", prompt, max_new)
            .with_arrival(self.now)
            .with_priority(prio);
        r.workflow = workflow;
        if self.s.add(r).is_ok() {
            self.waiting.insert(id, self.now);
            self.arrival.insert(id, self.now);
        }
    }

    /// The aged waiting requests, oldest first (by arrival, then id).
    fn aged(&self) -> Vec<u64> {
        let bound = self.s.config().starvation_s;
        let mut aged: Vec<(f64, u64)> = self
            .waiting
            .iter()
            .filter(|&(_, &a)| self.now - a >= bound)
            .map(|(&id, &a)| (a, id))
            .collect();
        aged.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        aged.into_iter().map(|(_, id)| id).collect()
    }

    fn step(&mut self, dt: u8) {
        self.now += f64::from(dt);
        self.s.set_time(self.now).unwrap();
        let aged = self.aged();
        let plan = self.s.schedule();
        for (k, id) in plan.admitted.iter().enumerate() {
            if let Some(&oldest) = aged.get(k) {
                assert_eq!(
                    *id, oldest,
                    "aged {aged:?} but admitted {:?}",
                    plan.admitted
                );
            }
            self.waiting.remove(id);
        }
        for id in &plan.preempted {
            self.waiting.insert(*id, self.arrival[id]);
        }
        one_token_each(&mut self.s, &plan);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whenever requests have waited `starvation_s`, a step admits them first, oldest first;
    /// and once arrivals stop, every request is admitted and finishes.
    #[test]
    fn aged_requests_are_admitted_first_and_nothing_waits_forever(
        ops in proptest::collection::vec(op(), 1..120),
        bound in 1u8..8,
        max_running in 1u32..4,
    ) {
        let cfg = BatchConfig {
            token_budget: 32,
            max_running,
            kv_blocks: 40,
            block_size: 4,
            starvation_s: f64::from(bound),
            ..config(Policy::ProgramLas, 1.0)
        };
        let mut w = World {
            s: BatchScheduler::new(cfg).unwrap(),
            waiting: BTreeMap::new(),
            arrival: BTreeMap::new(),
            now: 0.0,
            next_id: 0,
        };
        for op in ops {
            match op {
                Op::Add { workflow, prompt, max_new, prio } => w.add(workflow, prompt, max_new, prio),
                Op::Step { dt } => w.step(dt),
            }
        }
        for _ in 0..4000 {
            if w.s.num_waiting() + w.s.num_running() == 0 {
                break;
            }
            w.step(1);
        }
        prop_assert_eq!(w.s.num_waiting() + w.s.num_running(), 0);
    }
}
