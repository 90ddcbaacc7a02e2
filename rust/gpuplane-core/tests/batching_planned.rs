//! `BatchScheduler::planned_progress`: each plan entry's counters before its step.

use std::collections::HashMap;

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Request, RequestProgress};

fn scheduler() -> BatchScheduler {
    BatchScheduler::new(BatchConfig {
        token_budget: 24,
        max_running: 8,
        kv_blocks: 64,
        block_size: 4,
        watermark: 0.0,
        ..BatchConfig::default()
    })
    .unwrap()
}

#[test]
fn entries_report_the_counters_they_were_planned_from() {
    let mut s = scheduler();
    for (id, prompt) in [(1, 10), (2, 30), (3, 5)] {
        s.add(Request::new(id, "a", prompt, 6).with_arrival(id as f64))
            .unwrap();
    }
    for _ in 0..8 {
        let before: HashMap<u64, RequestProgress> = [1, 2, 3]
            .into_iter()
            .filter_map(|id| s.progress(id).map(|p| (id, p)))
            .collect();
        let plan = s.schedule();
        let planned = s.planned_progress(&plan).unwrap();
        for (i, entry) in plan.scheduled.iter().enumerate() {
            let was = before[&entry.id];
            let computed = if was.running {
                was.computed
            } else {
                s.progress(entry.id).unwrap().computed - entry.num_tokens
            };
            assert_eq!(planned.computed[i], computed, "entry {}", entry.id);
            assert_eq!(planned.known[i], was.known, "entry {}", entry.id);
            assert_eq!(planned.generated[i], was.generated, "entry {}", entry.id);
            assert_eq!(entry.samples, computed + entry.num_tokens == was.known);
        }
        s.expect_sampled().unwrap();
    }
}

#[test]
fn a_plan_whose_step_was_updated_is_refused() {
    let mut s = scheduler();
    s.add(Request::new(1, "a", 8, 4)).unwrap();
    let plan = s.schedule();
    assert_eq!(s.planned_progress(&plan).unwrap().computed, vec![0]);
    s.expect_sampled().unwrap();
    let err = s.planned_progress(&plan).unwrap_err();
    assert!(err.to_string().contains("plan"), "{err}");
    let next = s.schedule();
    assert_eq!(s.planned_progress(&next).unwrap().generated, vec![1]);
    assert!(
        s.planned_progress(&plan).is_err(),
        "an older plan is not the last one"
    );
}

#[test]
fn kv_work_names_entries_that_allocate_and_those_that_fill_a_block() {
    let mut s = scheduler();
    s.add(Request::new(1, "a", 3, 6)).unwrap();
    s.add(Request::new(2, "a", 30, 6)).unwrap();
    s.schedule();
    s.expect_sampled().unwrap();
    // 1 decodes its 4th token, which fills its one block; 2 computes prompt tokens 21..30
    // (its blocks were all allocated at admission), filling blocks 6 and 7.
    let plan = s.schedule();
    let planned = s.planned_progress(&plan).unwrap();
    assert_eq!(planned.computed, vec![3, 21]);
    let (allocating, caching) = planned.kv_work(&plan, 2, 4, &[false, true]).unwrap();
    assert_eq!((allocating, caching), (vec![1], vec![0]));
    let (allocating, caching) = planned.kv_work(&plan, 2, 4, &[false, false]).unwrap();
    assert_eq!((allocating, caching), (vec![], vec![0, 1]));
    let (allocating, _) = planned.kv_work(&plan, 2, 8, &[false, false]).unwrap();
    assert!(allocating.is_empty());
    s.expect_sampled().unwrap();
    // 1's 5th token needs a new block; 2's 31st token fits the blocks it holds.
    let next = s.schedule();
    let progress = s.planned_progress(&next).unwrap();
    assert_eq!(
        progress.kv_work(&next, 2, 4, &[false, false]).unwrap(),
        (vec![0], vec![])
    );
    assert!(planned.kv_work(&plan, 2, 4, &[false]).is_err());
    assert!(planned.kv_work(&plan, 2, 0, &[false, false]).is_err());
}
