//! `program_las`'s ratio starvation bound: a waiting call of a program that waited `W` and
//! ran `S` seconds so far ages (ranks as a program with no service) at `arrival + A - W`,
//! `A = starvation_s + starvation_ratio * S`, and is starved at `arrival + 2A - W`; starved
//! calls go first, earliest first, and no call is admitted past a starved one.

use std::collections::BTreeMap;

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Policy, Request};
use proptest::prelude::*;

#[path = "support/steps.rs"]
mod steps;
use steps::step;

fn config(starvation_s: f64, starvation_ratio: f64, max_running: u32) -> BatchConfig {
    BatchConfig {
        token_budget: 64,
        max_running,
        kv_blocks: 1024,
        block_size: 4,
        watermark: 0.0,
        policy: Policy::ProgramLas,
        starvation_s,
        starvation_ratio,
        ..BatchConfig::default()
    }
}

/// Program 1's first call runs `ran` steps; its second call then waits under a stream of
/// fresh single calls, one a step (each ranked first). Returns its service so far and its
/// second wait.
fn second_wait_after_running(ran: u32, ratio: f64) -> (f64, f64) {
    let mut s = BatchScheduler::new(config(4.0, ratio, 1)).unwrap();
    s.add(Request::new(1, "a", 8, ran).with_workflow(1))
        .unwrap();
    let mut now = 0.0;
    while s.contains(1) {
        step(&mut s, now);
        now += 1.0;
    }
    let h = s.program_history(1).expect("program 1 ran here");
    s.add(
        Request::new(2, "a", 8, 1)
            .with_workflow(1)
            .with_arrival(now),
    )
    .unwrap();
    let arrived = now;
    for k in 0.. {
        s.add(Request::new(100 + k, "a", 4, 1).with_arrival(now))
            .unwrap();
        if step(&mut s, now).contains(&2) {
            break;
        }
        now += 1.0;
    }
    (h.served_s, now - arrived)
}

#[test]
fn the_allowance_grows_with_the_programs_service() {
    for ran in [2, 10, 20] {
        for ratio in [0.0, 1.0] {
            let (served, wait) = second_wait_after_running(ran, ratio);
            assert!(served > 0.0, "served {served}");
            // Aged at 4 s + ratio x served, before the singles arriving after it; a running
            // single call (2 steps) may hold the one slot then.
            let allowance = 4.0 + ratio * served;
            assert!(
                wait >= allowance - 1.0 && wait <= allowance + 2.0,
                "ran {ran} ratio {ratio}: served {served}, waited {wait}"
            );
        }
    }
}

/// A call to add at a step: `program` None is a single call.
#[derive(Debug, Clone)]
struct Arrival {
    program: Option<u64>,
    prompt: u32,
    output: u32,
}

fn arrival() -> impl Strategy<Value = Arrival> {
    (prop::option::of(0u64..4), 1u32..24, 1u32..6).prop_map(|(program, prompt, output)| Arrival {
        program,
        prompt,
        output,
    })
}

/// When each waiting call becomes starved, as the bound states it.
struct Expected {
    starve_at: BTreeMap<u64, f64>,
    /// `(call id, program)` of every program call added.
    calls: Vec<(u64, u64)>,
    c: f64,
    beta: f64,
}

impl Expected {
    /// Whether program `p` has a call queued or running.
    fn live_program(&self, s: &BatchScheduler, p: u64) -> bool {
        self.calls.iter().any(|&(id, q)| q == p && s.contains(id))
    }

    fn add(&mut self, s: &mut BatchScheduler, id: u64, a: &Arrival, now: f64) {
        let mut req = Request::new(id, "t", a.prompt, a.output).with_arrival(now);
        let (w, sv) = match a.program {
            Some(p) => {
                req = req.with_workflow(p);
                self.calls.push((id, p));
                s.program_history(p)
                    .map_or((0.0, 0.0), |h| (h.waited_s, h.served_s))
            }
            None => (0.0, 0.0),
        };
        s.add(req).unwrap();
        self.starve_at
            .insert(id, now + 2.0 * (self.c + self.beta * sv) - w);
    }

    /// Every call admitted at `now` went before any call starved at `now` that is still
    /// waiting only if it was starved no later.
    fn check_step(&mut self, admitted: &[u64], now: f64) -> Result<(), TestCaseError> {
        let admitted: Vec<(u64, f64)> = admitted
            .iter()
            .filter_map(|id| self.starve_at.remove(id).map(|t| (*id, t)))
            .collect();
        for (&left, &t) in &self.starve_at {
            if t > now {
                continue;
            }
            for &(id, ta) in &admitted {
                prop_assert!(
                    ta <= t,
                    "call {id} (starved at {ta}) admitted past starved call {left} (at {t}) at {now}"
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_call_is_admitted_past_a_starved_one_and_all_finish(
        arrivals in prop::collection::vec(prop::collection::vec(arrival(), 0..3), 1..60),
        c in 1.0f64..12.0,
        beta in 0.0f64..3.0,
        max_running in 1u32..4,
    ) {
        let mut s = BatchScheduler::new(config(c, beta, max_running)).unwrap();
        let mut e = Expected { starve_at: BTreeMap::new(), calls: Vec::new(), c, beta };
        let mut next_id = 0u64;
        let mut now = 0.0;
        for batch in &arrivals {
            for a in batch {
                // One live call per program, as an agent program's calls are.
                let busy = a.program.is_some_and(|p| e.live_program(&s, p));
                if !busy {
                    e.add(&mut s, next_id, a, now);
                    next_id += 1;
                }
            }
            let admitted = step(&mut s, now);
            e.check_step(&admitted, now)?;
            now += 1.0;
        }
        for _ in 0..2_000 {
            if e.starve_at.is_empty() && s.metrics().running == 0 {
                break;
            }
            let admitted = step(&mut s, now);
            e.check_step(&admitted, now)?;
            now += 1.0;
        }
        prop_assert!(e.starve_at.is_empty(), "calls never admitted: {:?}", e.starve_at);
    }
}
