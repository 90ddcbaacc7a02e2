//! `KvEviction::Vllm` in the scheduler: vLLM's prefix cache as vLLM's scheduler sees it.

use gpuplane_core::batching::{BatchConfig, BatchScheduler, KvEviction, Request, StepPlan};

fn scheduler(kv_eviction: KvEviction) -> BatchScheduler {
    BatchScheduler::new(BatchConfig {
        token_budget: 256,
        max_running: 8,
        kv_blocks: 64,
        block_size: 16,
        watermark: 0.0,
        kv_eviction,
        ..BatchConfig::default()
    })
    .unwrap()
}

/// Cached prefix blocks of each admitted request, in plan order.
fn hits(plan: &StepPlan) -> Vec<(u64, usize)> {
    let admitted = plan.scheduled.iter().enumerate();
    admitted
        .map(|(i, e)| (e.id, plan.cached_blocks(i).len()))
        .collect()
}

#[test]
fn a_request_admitted_after_another_in_its_step_hits_the_blocks_that_one_computes() {
    let prefix = vec![11, 22, 33];
    for (order, second_hits) in [(KvEviction::Lru, 0), (KvEviction::Vllm, 3)] {
        let mut s = scheduler(order);
        for id in [1, 2] {
            let r = Request::new(id, "a", 60, 4).with_arrival(id as f64);
            s.add(r.with_block_hashes(prefix.clone())).unwrap();
        }
        let plan = s.schedule();
        assert_eq!(hits(&plan), vec![(1, 0), (2, second_hits)], "{order:?}");
        let first = plan.new_blocks(0)[..3].to_vec();
        if second_hits > 0 {
            assert_eq!(plan.cached_blocks(1), &first[..], "{order:?}");
        }
    }
}

#[test]
fn a_running_request_s_chunk_of_this_step_is_hit_by_a_request_admitted_in_it() {
    for (order, second_hits) in [(KvEviction::Lru, 16), (KvEviction::Vllm, 18)] {
        let mut s = scheduler(order);
        let hashes: Vec<u64> = (1..=18).collect();
        let long = Request::new(1, "a", 300, 4).with_block_hashes(hashes.clone());
        s.add(long).unwrap();
        s.schedule(); // 256 of its 300 prompt tokens: 16 full blocks
        s.expect_sampled().unwrap();
        let r = Request::new(2, "a", 300, 4).with_arrival(1.0);
        s.add(r.with_block_hashes(hashes)).unwrap();
        // The last 44 prompt tokens of 1 fill its blocks 17 and 18, then 2 is admitted.
        let plan = s.schedule();
        assert_eq!(hits(&plan), vec![(1, 0), (2, second_hits)], "{order:?}");
    }
}
