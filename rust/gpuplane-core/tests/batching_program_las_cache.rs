//! `program_las`'s cache-aware rank (`cache_discount`): a waiting call is ranked by its
//! program's attained service less the prefill its cached context spares, so a program whose
//! context is still cached goes before one that attained less but has nothing cached; the
//! discount goes as its blocks are evicted; a recomputed context is not charged to the
//! program's service again.

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Policy, Request};

#[path = "support/steps.rs"]
mod steps;
use steps::step;

const BLOCK: u32 = 4;

fn config(cache_discount: f64) -> BatchConfig {
    BatchConfig {
        token_budget: 64,
        max_running: 1,
        kv_blocks: 64,
        block_size: BLOCK,
        watermark: 0.0,
        policy: Policy::ProgramLas,
        starvation_s: 1e9,
        cache_discount,
        ..BatchConfig::default()
    }
}

/// Program 1's context: `blocks` hashed blocks.
fn context(blocks: u32) -> Vec<u64> {
    (1..=u64::from(blocks)).collect()
}

/// Program 1 (a 40-token prompt, all of it hashed) and program 2 (8 tokens, no hashes) each
/// run one call; then `filler` (an anonymous call of that many tokens, 0 for none) and both
/// programs' second calls arrive together. Returns the admission order of the later calls.
fn second_calls(cache_discount: f64, filler: u32) -> Vec<u64> {
    let mut s = BatchScheduler::new(config(cache_discount)).unwrap();
    let first = Request::new(1, "a", 40, 1).with_workflow(1);
    s.add(first.with_block_hashes(context(10))).unwrap();
    s.add(Request::new(2, "a", 8, 1).with_workflow(2)).unwrap();
    let mut now = 0.0;
    while s.metrics().finished_total < 2 {
        step(&mut s, now);
        now += 1.0;
    }
    if filler > 0 {
        s.add(Request::new(9, "a", filler, 1).with_arrival(now))
            .unwrap();
    }
    let again = Request::new(3, "a", 44, 1).with_workflow(1);
    s.add(again.with_block_hashes(context(10)).with_arrival(now))
        .unwrap();
    s.add(
        Request::new(4, "a", 12, 1)
            .with_workflow(2)
            .with_arrival(now),
    )
    .unwrap();
    let mut order = Vec::new();
    for _ in 0..20 {
        order.extend(step(&mut s, now));
        now += 1.0;
    }
    order
}

#[test]
fn a_program_whose_context_is_cached_goes_before_one_that_attained_less() {
    // Program 1 attained 40 + 2 x 1 = 42 against program 2's 10; 40 of its tokens are cached,
    // so its rank is 2 with the discount.
    assert_eq!(
        second_calls(0.0, 0),
        vec![4, 3],
        "plain least attained service"
    );
    assert_eq!(second_calls(1.0, 0), vec![3, 4]);
}

#[test]
fn the_discount_goes_with_the_evicted_blocks() {
    // The filler (rank 0) is admitted first and evicts most of program 1's cached blocks
    // while its second call waits: that call's rank rises back above program 2's.
    assert_eq!(second_calls(1.0, 240), vec![9, 4, 3]);
}

/// Program 1's attained service after a first call (40 tokens, hashed) and, once a filler
/// evicted its context, a second call of 44 tokens whose 11 blocks are hashed `second`
/// (each call generates one token).
fn attained_after_recompute(cache_discount: f64, second: Vec<u64>) -> f64 {
    let mut s = BatchScheduler::new(config(cache_discount)).unwrap();
    let first = Request::new(1, "a", 40, 1).with_workflow(1);
    s.add(first.with_block_hashes(context(10))).unwrap();
    step(&mut s, 0.0);
    step(&mut s, 1.0);
    s.add(Request::new(9, "a", 252, 1).with_arrival(1.0))
        .unwrap();
    let again = Request::new(2, "a", 44, 1).with_workflow(1);
    s.add(again.with_block_hashes(second).with_arrival(1.0))
        .unwrap();
    let mut now = 1.0;
    let mut attained = 0.0;
    while s.metrics().finished_total < 3 {
        now += 1.0;
        step(&mut s, now);
        if let Some(h) = s.program_history(1) {
            attained = h.attained;
        }
    }
    attained
}

#[test]
fn a_recomputed_context_is_not_charged_to_the_program_again() {
    let first = 40.0 + 2.0;
    // The second call's prompt beyond the first's 10 hashed blocks (40 tokens), and its token.
    assert_eq!(
        attained_after_recompute(1.0, context(11)),
        first + 4.0 + 2.0
    );
    assert!(
        attained_after_recompute(0.0, context(11)) > first + 30.0,
        "without it most of the context is charged again"
    );
}

#[test]
fn a_prompt_that_does_not_repeat_the_context_is_charged_in_full() {
    let other: Vec<u64> = (101..=111).collect();
    assert_eq!(
        attained_after_recompute(1.0, other),
        40.0 + 2.0 + 44.0 + 2.0
    );
}
