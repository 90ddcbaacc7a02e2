//! `program_las`: inside a tenant, programs ordered by the service they attained over all
//! their calls (never lifted); its starvation bound per program: once a program's calls have
//! waited `starvation_s` in total, its waiting call ranks as a program with no service (it
//! ages), and at twice that it goes before every other one and is not bypassed by backfill
//! (it starves); and a program's history carried from one replica to another.

use std::collections::BTreeMap;

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Policy, ProgramHistory, Request};
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

#[path = "support/steps.rs"]
mod steps;
use steps::{one_token_each, step};

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

/// A long program's second call against a stream of new single calls of `single_tenant`,
/// one per step, each starting at 0 attained service: returns when the call was admitted
/// (None: never).
fn long_call_admitted_at(starvation_s: f64, steps: u32, single_tenant: &str) -> Option<f64> {
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
        let single = Request::new(100 + u64::from(k), single_tenant, 4, 1).with_arrival(now);
        s.add(single).unwrap();
        if step(&mut s, now).contains(&2) {
            return Some(now);
        }
    }
    None
}

#[test]
fn the_starvation_bound_admits_a_long_program_under_a_stream_of_new_ones() {
    assert_eq!(
        long_call_admitted_at(1e9, 200, "a"),
        None,
        "pure LAS starves it"
    );
    let at = long_call_admitted_at(10.0, 200, "a").expect("admitted within the bound");
    assert!(at <= 1.0 + 10.0 + 1.0, "admitted at {at}");
}

/// Program 1's first call, queued behind a request running `first_wait` more steps, served one
/// step a second from 0: returns the time after it finished and what it waited.
fn first_call_behind_a_running_one(s: &mut BatchScheduler, first_wait: u32) -> (f64, f64) {
    s.add(Request::new(0, "a", 4, first_wait + 1)).unwrap();
    s.add(Request::new(1, "a", 8, 1).with_workflow(1)).unwrap();
    let mut now = 0.0;
    while s.contains(1) {
        step(s, now);
        now += 1.0;
    }
    (
        now,
        s.program_history(1).expect("program 1 ran here").waited_s,
    )
}

/// Program 1's first call waits `W` behind a running request; its second call arrives at 10
/// behind 30 single calls of its tenant that arrived just before it (each holds the one slot
/// 2 steps); starvation budget 5 s. Returns when the call was starved (`10 + 2 * 5 - W`), when
/// it was admitted and when the last of those singles was.
fn aged_call_behind_earlier_singles() -> (f64, f64, f64) {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, 5.0)).unwrap();
    let (now, waited) = first_call_behind_a_running_one(&mut s, 4);
    for k in 0..30 {
        s.add(Request::new(100 + k, "a", 4, 2).with_arrival(9.5))
            .unwrap();
    }
    let call = Request::new(2, "a", 8, 1)
        .with_workflow(1)
        .with_arrival(10.0);
    s.add(call).unwrap();
    let (mut call_at, mut last_single) = (None, 0.0);
    for k in now as u32..200 {
        let now = f64::from(k);
        for id in step(&mut s, now) {
            match id {
                2 => call_at = Some(now),
                100.. => last_single = now,
                _ => {}
            }
        }
    }
    (
        10.0 + 10.0 - waited,
        call_at.expect("admitted"),
        last_single,
    )
}

#[test]
fn an_aged_call_ranks_as_a_new_program_and_a_starved_one_goes_first() {
    let (starved, call_at, last_single) = aged_call_behind_earlier_singles();
    // Aged at `15 - W` it ranks 0, still behind the singles that arrived before it; starved
    // before them (they starve at 19.5) it goes first, once the running single (2 steps) leaves.
    assert!(starved < 19.0, "starved at {starved}");
    assert!(
        call_at >= starved && call_at <= starved + 2.0,
        "starved at {starved}, admitted at {call_at}"
    );
    assert!(
        last_single > call_at,
        "singles left behind: last at {last_single}"
    );
}

#[test]
fn another_tenants_new_programs_do_not_starve_a_long_one() {
    // Tenants share by weight before programs are ranked, so without any starvation bound
    // tenant b's stream of fresh calls only delays tenant a's long program.
    let at = long_call_admitted_at(1e9, 200, "b").expect("admitted by fair share");
    assert!(at < 100.0, "admitted at {at}");
}

/// Program 1's first call waits behind a request running `first_wait` more steps; its second
/// call then arrives behind a queue of fresh single calls (each ranked first, attained 0).
/// Returns what the first call waited and how long the second one waited.
fn second_call_wait(first_wait: u32, starvation_s: f64) -> (f64, f64) {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, starvation_s)).unwrap();
    let (mut now, before) = first_call_behind_a_running_one(&mut s, first_wait);
    s.add(
        Request::new(2, "a", 8, 1)
            .with_workflow(1)
            .with_arrival(now),
    )
    .unwrap();
    for k in 0..40 {
        s.add(Request::new(100 + k, "a", 4, 2).with_arrival(now))
            .unwrap();
    }
    let arrived = now;
    while !step(&mut s, now).contains(&2) {
        now += 1.0;
    }
    (before, now - arrived)
}

#[test]
fn the_starvation_budget_is_the_programs_not_each_calls() {
    for first_wait in [0, 3, 6] {
        let (before, wait) = second_call_wait(first_wait, 10.0);
        // Starved once the program's total reaches 10 s; a running single call (2 steps) may
        // hold the one slot when it does.
        let left = 10.0 - before;
        assert!(
            wait >= left - 1.0 && wait <= left + 2.0,
            "waited {before} then {wait}"
        );
    }
}

#[test]
fn a_programs_history_moves_to_another_replica() {
    let run = |carry: bool| {
        let mut a = BatchScheduler::new(config(Policy::ProgramLas, 1e9)).unwrap();
        a.add(Request::new(1, "t", 40, 4).with_workflow(7)).unwrap();
        for k in 0..8 {
            step(&mut a, f64::from(k));
        }
        let h = a.program_history(7).expect("program 7 was served here");
        assert!(h.attained > 0.0, "{h:?}");
        let mut b = BatchScheduler::new(config(Policy::ProgramLas, 1e9)).unwrap();
        if carry {
            b.set_program_history(7, h).unwrap();
            assert_eq!(b.program_history(7), Some(h));
        }
        b.add(Request::new(2, "t", 40, 1).with_workflow(7)).unwrap();
        b.add(Request::new(3, "t", 40, 1).with_workflow(8)).unwrap();
        let mut order = Vec::new();
        for k in 0..6 {
            order.extend(step(&mut b, f64::from(k)));
        }
        order
    };
    assert_eq!(
        run(false),
        vec![2, 3],
        "a replica that knows nothing: FCFS tie at 0"
    );
    assert_eq!(
        run(true),
        vec![3, 2],
        "the carried service ranks program 7 behind 8"
    );
}

#[test]
fn bad_program_history_names_the_field() {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, 1.0)).unwrap();
    let bad = ProgramHistory {
        attained: -1.0,
        waited_s: 0.0,
        served_s: 0.0,
    };
    let e = s.set_program_history(1, bad).unwrap_err().to_string();
    assert!(e.contains("attained"), "{e}");
    let nan = ProgramHistory {
        attained: 0.0,
        waited_s: f64::NAN,
        served_s: 0.0,
    };
    let e = s.set_program_history(1, nan).unwrap_err().to_string();
    assert!(e.contains("waited_s"), "{e}");
    let mut f = BatchScheduler::new(config(Policy::Fcfs, 1.0)).unwrap();
    let e = f
        .set_program_history(1, ProgramHistory::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("policy"), "{e}");
    assert_eq!(f.program_history(1), None);
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

/// The test's view of waiting requests: id -> when it becomes starved (its arrival plus twice
/// the bound, less what its program's earlier calls waited).
struct World {
    s: BatchScheduler,
    waiting: BTreeMap<u64, f64>,
    starve_at: BTreeMap<u64, f64>,
    arrival: BTreeMap<u64, f64>,
    workflow: BTreeMap<u64, Option<u64>>,
    /// Queue time summed over each program's admitted calls.
    waited: BTreeMap<u64, f64>,
    admitted: std::collections::BTreeSet<u64>,
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
            let bound = self.s.config().starvation_s;
            let waited = workflow.map_or(0.0, |w| self.waited.get(&w).copied().unwrap_or(0.0));
            let at = self.now + 2.0 * bound - waited;
            self.waiting.insert(id, at);
            self.starve_at.insert(id, at);
            self.arrival.insert(id, self.now);
            self.workflow.insert(id, workflow);
        }
    }

    /// The starved waiting requests, first starved first (then arrival, then id).
    fn aged(&self) -> Vec<u64> {
        let mut aged: Vec<(f64, f64, u64)> = self
            .waiting
            .iter()
            .filter(|&(_, &at)| self.now >= at)
            .map(|(&id, &at)| (at, self.arrival[&id], id))
            .collect();
        aged.sort_by(|x, y| {
            x.0.total_cmp(&y.0)
                .then(x.1.total_cmp(&y.1))
                .then(x.2.cmp(&y.2))
        });
        aged.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Adds a first admission's queue time to its program's waiting.
    fn note_admitted(&mut self, id: u64) {
        if !self.admitted.insert(id) {
            return;
        }
        if let Some(w) = self.workflow[&id] {
            *self.waited.entry(w).or_insert(0.0) += self.now - self.arrival[&id];
        }
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
            self.note_admitted(*id);
        }
        for id in &plan.preempted {
            self.waiting.insert(*id, self.starve_at[id]);
        }
        one_token_each(&mut self.s, &plan);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whenever requests are starved (their program's calls waited twice `starvation_s` in
    /// total), a step admits them first, first starved first; and once arrivals stop, every request is
    /// admitted and finishes.
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
            starve_at: BTreeMap::new(),
            arrival: BTreeMap::new(),
            workflow: BTreeMap::new(),
            waited: BTreeMap::new(),
            admitted: std::collections::BTreeSet::new(),
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
