//! `BatchScheduler::expect_sampled`: counting sampled tokens when a step is planned.

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Request};

fn scheduler(budget: u32) -> BatchScheduler {
    BatchScheduler::new(BatchConfig {
        token_budget: budget,
        max_running: 8,
        kv_blocks: 64,
        block_size: 16,
        watermark: 0.0,
        ..BatchConfig::default()
    })
    .unwrap()
}

fn generated(s: &BatchScheduler, id: u64) -> u32 {
    s.progress(id).unwrap().generated
}

#[test]
fn each_sampling_request_gets_one_token_and_a_prefill_chunk_none() {
    let mut s = scheduler(40);
    s.add(Request::new(1, "a", 8, 10).with_arrival(1.0))
        .unwrap();
    s.add(Request::new(2, "a", 50, 10).with_arrival(2.0))
        .unwrap();
    let plan = s.schedule();
    let samples: Vec<(u64, bool)> = plan.scheduled.iter().map(|e| (e.id, e.samples)).collect();
    assert_eq!(samples, vec![(1, true), (2, false)]);
    s.expect_sampled().unwrap();
    assert_eq!((generated(&s, 1), generated(&s, 2)), (1, 0));
    s.schedule();
    s.expect_sampled().unwrap();
    assert_eq!((generated(&s, 1), generated(&s, 2)), (2, 1));
}

#[test]
fn the_last_token_is_left_to_the_engine_which_finishes_the_request() {
    let mut s = scheduler(64);
    s.add(Request::new(1, "a", 8, 3).with_arrival(1.0)).unwrap();
    for _ in 0..5 {
        s.schedule();
        s.expect_sampled().unwrap();
    }
    assert_eq!(generated(&s, 1), 2);
    assert!(
        s.progress(1).unwrap().running,
        "the slot stays held until the engine finishes it"
    );
    assert_eq!(s.metrics().finished_total, 0);
    s.abort(1).unwrap();
    assert_eq!(s.metrics().kv_used_blocks, 0);
}

#[test]
fn every_sampled_token_is_charged_the_last_one_too() {
    let mut s = scheduler(64);
    s.add(Request::new(1, "a", 8, 3).with_arrival(1.0)).unwrap();
    s.add(Request::new(2, "b", 8, 1).with_arrival(1.0)).unwrap();
    for _ in 0..5 {
        s.schedule();
        s.expect_sampled().unwrap();
    }
    s.abort(1).unwrap();
    s.abort(2).unwrap();
    let tenants = s.metrics().tenants;
    let out = |name: &str| {
        let t = tenants.iter().find(|t| t.tenant == name).unwrap();
        (t.output_tokens, t.service)
    };
    // service: w_in = 1 per prompt token, w_out = 2 per output token.
    assert_eq!(out("a"), (3, 8.0 + 2.0 * 3.0));
    assert_eq!(out("b"), (1, 8.0 + 2.0));
}

#[test]
fn without_a_plan_awaiting_its_output_nothing_is_counted() {
    let mut s = scheduler(64);
    s.add(Request::new(1, "a", 8, 10).with_arrival(1.0))
        .unwrap();
    s.schedule();
    s.expect_sampled().unwrap();
    s.expect_sampled().unwrap();
    assert_eq!(generated(&s, 1), 1);
}
