//! Named programs' memory stays bounded: a program with no call queued or running is kept
//! only among the `idle_programs` most recently active; one forgotten starts afresh.

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Policy, ProgramHistory, Request};
use proptest::prelude::*;

#[path = "support/steps.rs"]
mod steps;
use steps::one_token_each;

fn config(policy: Policy, idle_programs: u32) -> BatchConfig {
    BatchConfig {
        token_budget: 4096,
        max_running: 256,
        kv_blocks: 4096,
        block_size: 4,
        watermark: 0.0,
        policy,
        idle_programs,
        starvation_s: 1e9,
        ..BatchConfig::default()
    }
}

/// Steps until nothing is queued or running; each request generates one token a step.
fn drain(s: &mut BatchScheduler) {
    while s.num_running() + s.num_waiting() > 0 {
        let plan = s.schedule();
        one_token_each(s, &plan);
    }
}

/// Runs `programs` distinct one-call programs, `batch` at a time; returns the largest
/// number of programs the scheduler remembered after a batch finished.
fn most_known(policy: Policy, idle_programs: u32, programs: u64, batch: u64) -> usize {
    let mut s = BatchScheduler::new(config(policy, idle_programs)).unwrap();
    let mut most = 0;
    for start in (0..programs).step_by(batch as usize) {
        for w in start..(start + batch).min(programs) {
            s.add(Request::new(w, "a", 4, 1).with_workflow(w)).unwrap();
        }
        drain(&mut s);
        most = most.max(s.known_programs());
    }
    most
}

#[test]
fn a_million_finished_programs_keep_the_book_bounded() {
    for policy in [Policy::ProgramLas, Policy::WorkflowFair] {
        assert_eq!(most_known(policy, 1000, 1_000_000, 1000), 1000, "{policy}");
    }
}

#[test]
fn live_programs_are_never_forgotten() {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, 1)).unwrap();
    for w in 0..10 {
        s.add(Request::new(w, "a", 4, 1).with_workflow(w)).unwrap();
    }
    assert_eq!(s.known_programs(), 10);
    drain(&mut s);
    assert_eq!(s.known_programs(), 1);
}

#[test]
fn a_forgotten_program_starts_afresh() {
    let mut s = BatchScheduler::new(config(Policy::ProgramLas, 1)).unwrap();
    let h = ProgramHistory {
        attained: 50.0,
        waited_s: 3.0,
        served_s: 2.0,
    };
    s.set_program_history(7, h).unwrap();
    assert_eq!(s.program_history(7), Some(h));
    s.add(Request::new(1, "a", 4, 1).with_workflow(8)).unwrap();
    drain(&mut s);
    assert_eq!(
        s.program_history(7),
        None,
        "7 idle longer than 8: forgotten"
    );
    s.add(Request::new(2, "a", 4, 1).with_workflow(7)).unwrap();
    assert_eq!(s.program_history(7).unwrap().attained, 0.0);
}

#[test]
fn idle_programs_zero_is_refused() {
    let err = BatchScheduler::new(config(Policy::ProgramLas, 0)).unwrap_err();
    assert!(err.to_string().contains("idle_programs"), "{err}");
}

proptest! {
    /// Whatever the order of calls and finishes, the book holds the live programs plus at
    /// most `cap` idle ones, and a remembered idle program keeps its attained service.
    #[test]
    fn book_is_live_plus_capped_idle(
        calls in proptest::collection::vec(0u64..40, 1..200),
        cap in 1u32..8,
        per_step in 1usize..6,
    ) {
        let mut s = BatchScheduler::new(config(Policy::ProgramLas, cap)).unwrap();
        for (id, chunk) in calls.chunks(per_step).enumerate() {
            for (k, &w) in chunk.iter().enumerate() {
                let id = (id * per_step + k) as u64;
                s.add(Request::new(id, "a", 4, 2).with_workflow(w)).unwrap();
            }
            let live: std::collections::BTreeSet<u64> = chunk.iter().copied().collect();
            prop_assert!(s.known_programs() <= live.len().max(1) + cap as usize + per_step);
            drain(&mut s);
            prop_assert!(s.known_programs() <= cap as usize);
            for &w in &live {
                let h = s.program_history(w);
                prop_assert!(h.is_none() || h.unwrap().attained > 0.0);
            }
        }
    }
}

#[test]
fn a_programs_last_call_frees_it_at_once() {
    for policy in [Policy::WorkflowFair, Policy::ProgramLas] {
        let mut s = BatchScheduler::new(config(policy, 1 << 16)).unwrap();
        s.add(Request::new(1, "a", 4, 1).with_workflow(7)).unwrap();
        s.add(Request::new(2, "a", 4, 1).with_workflow(8).as_last_call())
            .unwrap();
        assert_eq!(s.known_programs(), 2);
        for k in 0..4 {
            s.set_time(f64::from(k)).unwrap();
            let plan = s.schedule();
            one_token_each(&mut s, &plan);
        }
        assert!(!s.contains(1) && !s.contains(2));
        // Program 7 may call again (kept idle); program 8 said it had no more calls.
        assert_eq!(s.known_programs(), 1, "{policy}");
        assert_eq!(s.program_history(8), None);
    }
}
