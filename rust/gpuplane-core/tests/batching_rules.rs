//! One test per scheduling rule of the continuous-batching scheduler.

mod batching {
    use gpuplane_core::batching::{
        BatchConfig, BatchScheduler, FinishReason, Finished, Policy, Request, StepOutputs, StepPlan,
    };
    use gpuplane_core::Error;

    fn cfg(budget: u32, max_running: u32, blocks: u32, bs: u32) -> BatchConfig {
        BatchConfig {
            token_budget: budget,
            max_running,
            kv_blocks: blocks,
            block_size: bs,
            watermark: 0.0,
            ..BatchConfig::default()
        }
    }

    fn with_policy(mut c: BatchConfig, policy: Policy) -> BatchConfig {
        c.policy = policy;
        c
    }

    fn req(id: u64, tenant: &str, prompt: u32, max_new: u32) -> Request {
        Request::new(id, tenant, prompt, max_new).with_arrival(id as f64)
    }

    /// The engine: every scheduled request whose computed tokens caught up generates one token.
    fn outputs(s: &BatchScheduler, plan: &StepPlan) -> StepOutputs {
        let generated = plan
            .scheduled
            .iter()
            .filter_map(|e| {
                s.progress(e.id)
                    .filter(|p| p.computed == p.known)
                    .map(|_| (e.id, 1))
            })
            .collect();
        StepOutputs {
            generated,
            finished: vec![],
        }
    }

    fn step(s: &mut BatchScheduler) -> (StepPlan, Vec<Finished>) {
        let plan = s.schedule();
        let out = outputs(s, &plan);
        let fin = s.update(&out).unwrap();
        (plan, fin)
    }

    fn tokens(plan: &StepPlan) -> Vec<(u64, u32)> {
        plan.scheduled
            .iter()
            .map(|e| (e.id, e.num_tokens))
            .collect()
    }

    /// Runs steps until `id` is finished; returns the order of admissions seen.
    fn drain(s: &mut BatchScheduler, max_steps: usize) -> Vec<u64> {
        let mut admitted = Vec::new();
        for _ in 0..max_steps {
            let (plan, _) = step(s);
            admitted.extend(plan.admitted);
            if s.num_running() + s.num_waiting() == 0 {
                break;
            }
        }
        admitted
    }

    #[test]
    fn catch_up_contract_chunks_then_decodes_then_finishes_by_length() {
        let mut s = BatchScheduler::new(cfg(64, 8, 100, 16)).unwrap();
        s.add(req(1, "a", 100, 3)).unwrap();
        let (p1, _) = step(&mut s);
        assert_eq!(tokens(&p1), vec![(1, 64)]);
        assert_eq!(p1.admitted, vec![1]);
        assert_eq!(
            p1.new_blocks(0).len(),
            7,
            "the whole prompt is allocated at admission"
        );
        let (p2, _) = step(&mut s);
        assert_eq!(tokens(&p2), vec![(1, 36)]);
        assert_eq!(s.progress(1).unwrap().generated, 1);
        let (p3, _) = step(&mut s);
        assert_eq!(tokens(&p3), vec![(1, 1)]);
        let (p4, fin) = step(&mut s);
        assert_eq!(tokens(&p4), vec![(1, 1)]);
        assert_eq!(fin.len(), 1);
        assert_eq!(
            (fin[0].id, fin[0].generated, fin[0].reason),
            (1, 3, FinishReason::Length)
        );
        assert_eq!(s.metrics().kv_used_blocks, 0);
        assert!(!s.contains(1));
    }

    #[test]
    fn running_requests_come_first_then_admissions_share_the_budget() {
        let mut s = BatchScheduler::new(cfg(10, 8, 100, 4)).unwrap();
        s.add(req(1, "a", 8, 5)).unwrap();
        step(&mut s);
        s.add(req(2, "a", 8, 5)).unwrap();
        s.add(req(3, "a", 8, 5)).unwrap();
        let plan = s.schedule();
        assert_eq!(tokens(&plan), vec![(1, 1), (2, 8), (3, 1)]);
        assert_eq!(plan.admitted, vec![2, 3]);
        assert_eq!(plan.total_tokens, 10);
    }

    #[test]
    fn long_prefill_threshold_caps_chunks() {
        let mut c = cfg(100, 8, 100, 4);
        c.long_prefill_token_threshold = 3;
        let mut s = BatchScheduler::new(c).unwrap();
        s.add(req(1, "a", 8, 2)).unwrap();
        let got: Vec<_> = (0..3).map(|_| tokens(&step(&mut s).0)).collect();
        assert_eq!(got, vec![vec![(1, 3)], vec![(1, 3)], vec![(1, 2)]]);
    }

    #[test]
    fn chunked_prefill_off_computes_prompts_whole() {
        let mut c = cfg(10, 8, 100, 4);
        c.chunked_prefill = false;
        let mut s = BatchScheduler::new(c.clone()).unwrap();
        s.add(req(1, "a", 8, 2)).unwrap();
        s.add(req(2, "a", 8, 2)).unwrap();
        let (p, _) = step(&mut s);
        assert_eq!(
            tokens(&p),
            vec![(1, 8)],
            "request 2 does not fit the 2 tokens left"
        );
        let (p, _) = step(&mut s);
        assert_eq!(tokens(&p), vec![(1, 1), (2, 8)]);
        let err = s.add(req(3, "a", 11, 1)).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest { ref field, .. } if field == "prompt_len"));
    }

    #[test]
    fn admission_needs_the_whole_prompt_in_free_blocks_above_the_watermark() {
        let mut c = cfg(1000, 8, 10, 4);
        c.watermark = 0.2; // 2 blocks
        let mut s = BatchScheduler::new(c).unwrap();
        s.add(req(1, "a", 16, 2)).unwrap(); // 4 blocks
        s.add(req(2, "a", 20, 2)).unwrap(); // 5 blocks: 6 free - 2 watermark = 4
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted, vec![1]);
        let (p, fin) = step(&mut s);
        assert!(p.admitted.is_empty());
        assert_eq!(fin.len(), 1);
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted, vec![2]);
    }

    #[test]
    fn backfill_admits_a_smaller_request_when_the_head_does_not_fit() {
        let mut s = BatchScheduler::new(cfg(1000, 8, 10, 4)).unwrap();
        s.add(req(1, "a", 24, 2)).unwrap(); // 6 blocks
        s.add(req(2, "a", 20, 2)).unwrap(); // 5 blocks, does not fit
        s.add(req(3, "a", 8, 2)).unwrap(); // 2 blocks, fits
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted, vec![1, 3]);
    }

    /// Two requests fill a 4-block pool; the third block of request 1 forces a preemption.
    fn exhausting_pair() -> BatchScheduler {
        let mut s = BatchScheduler::new(cfg(100, 8, 4, 4)).unwrap();
        s.add(req(1, "a", 4, 6)).unwrap();
        s.add(req(2, "a", 4, 10)).unwrap();
        for _ in 0..5 {
            let (p, _) = step(&mut s);
            assert!(p.preempted.is_empty());
        }
        s.add(req(3, "a", 4, 1)).unwrap();
        s
    }

    #[test]
    fn nothing_is_admitted_on_a_step_that_preempted_and_the_victim_keeps_its_place() {
        let mut s = exhausting_pair();
        let (p, fin) = step(&mut s);
        assert_eq!(p.preempted, vec![2], "newest running request is the victim");
        assert!(
            p.admitted.is_empty(),
            "request 3 would fit but nothing is admitted"
        );
        assert_eq!(tokens(&p), vec![(1, 1)]);
        assert_eq!(fin[0].id, 1);
        let p2 = s.progress(2).unwrap();
        assert_eq!((p2.computed, p2.generated, p2.running), (0, 5, false));
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted, vec![2, 3], "preempted 2 stays ahead of newer 3");
        assert_eq!(
            tokens(&p),
            vec![(2, 9), (3, 4)],
            "recompute covers prompt and output"
        );
        assert_eq!(s.metrics().total_preemptions, 1);
    }

    /// Four requests in two tenants and two bands, one free block left when all four need one.
    fn victim_scenario(policy: Policy) -> StepPlan {
        let mut s = BatchScheduler::new(with_policy(cfg(100, 8, 6, 4), policy)).unwrap();
        s.add(
            Request::new(1, "a", 4, 12)
                .with_priority(1)
                .with_arrival(10.0),
        )
        .unwrap();
        s.add(req(2, "b", 4, 12)).unwrap();
        s.add(req(3, "a", 8, 12)).unwrap();
        s.add(req(4, "b", 4, 12)).unwrap();
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted.len(), 4);
        s.schedule()
    }

    #[test]
    fn victim_is_lowest_band_then_highest_counter_then_newest() {
        assert_eq!(
            victim_scenario(Policy::Fair).preempted,
            vec![3],
            "tenant a has more service"
        );
        assert_eq!(
            victim_scenario(Policy::Priority).preempted[0],
            4,
            "band 0, newest"
        );
        assert_eq!(
            victim_scenario(Policy::Fcfs).preempted[0],
            1,
            "no bands: newest overall"
        );
    }

    #[test]
    fn a_victim_already_scheduled_this_step_is_unscheduled() {
        let mut s = BatchScheduler::new(with_policy(cfg(100, 8, 3, 4), Policy::Priority)).unwrap();
        s.add(Request::new(1, "a", 4, 7).with_arrival(5.0)).unwrap();
        step(&mut s);
        s.add(
            Request::new(2, "a", 4, 7)
                .with_priority(5)
                .with_arrival(1.0),
        )
        .unwrap();
        step(&mut s); // 1 takes its second block, 2 is admitted into the last one
        assert_eq!(s.running_ids(), vec![1, 2]);
        let p = s.schedule(); // 1 is served first; 2 needs a block: the victim is 1
        assert_eq!(p.preempted, vec![1]);
        assert_eq!(tokens(&p), vec![(2, 1)]);
        assert_eq!(p.total_tokens, 1);
    }

    fn admission_order(policy: Policy, reqs: Vec<Request>) -> Vec<u64> {
        let mut s = BatchScheduler::new(with_policy(cfg(1000, 1, 100, 4), policy)).unwrap();
        s.add_many(reqs).unwrap();
        drain(&mut s, 1000)
    }

    #[test]
    fn fcfs_ignores_priority_and_priority_uses_bands() {
        let reqs = || {
            vec![
                req(1, "a", 4, 1),
                req(2, "a", 4, 1).with_priority(9),
                req(3, "a", 4, 1),
            ]
        };
        assert_eq!(admission_order(Policy::Fcfs, reqs()), vec![1, 2, 3]);
        assert_eq!(admission_order(Policy::Priority, reqs()), vec![2, 1, 3]);
    }

    #[test]
    fn deadline_orders_by_earliest_deadline_with_none_last() {
        let reqs = vec![
            req(1, "a", 4, 1),
            req(2, "a", 4, 1).with_deadline(50.0),
            req(3, "a", 4, 1).with_deadline(10.0),
            req(4, "a", 4, 1).with_deadline(10.0).with_priority(1),
        ];
        assert_eq!(admission_order(Policy::Deadline, reqs), vec![4, 3, 2, 1]);
    }

    #[test]
    fn fair_alternates_tenants_by_virtual_counter() {
        let reqs = vec![
            req(1, "a", 4, 1),
            req(2, "a", 4, 1),
            req(3, "a", 4, 1),
            req(4, "b", 4, 1),
        ];
        assert_eq!(
            admission_order(Policy::Fcfs, reqs.clone()),
            vec![1, 2, 3, 4]
        );
        assert_eq!(admission_order(Policy::Fair, reqs), vec![1, 4, 2, 3]);
    }

    #[test]
    fn fair_respects_bands_before_counters() {
        let reqs = vec![
            req(1, "a", 4, 1),
            req(2, "a", 4, 1).with_priority(1),
            req(3, "b", 4, 1),
        ];
        assert_eq!(admission_order(Policy::Fair, reqs), vec![2, 3, 1]);
    }

    #[test]
    fn workflow_fair_keeps_a_short_program_ahead_of_a_long_one() {
        let reqs = vec![
            req(1, "a", 40, 1).with_workflow(7),
            req(2, "a", 40, 1).with_workflow(7),
            req(3, "a", 4, 1).with_workflow(8),
            req(4, "a", 4, 1),
        ];
        assert_eq!(
            admission_order(Policy::Fair, reqs.clone()),
            vec![1, 2, 3, 4]
        );
        assert_eq!(
            admission_order(Policy::WorkflowFair, reqs),
            vec![1, 3, 4, 2]
        );
    }

    #[test]
    fn weights_divide_the_charge() {
        let mut c = with_policy(cfg(1000, 1, 100, 4), Policy::Fair);
        c.tenant_weights = [("a".to_string(), 3.0), ("b".to_string(), 1.0)].into();
        let mut s = BatchScheduler::new(c).unwrap();
        let mut reqs = Vec::new();
        for i in 0..4 {
            reqs.push(req(i, "a", 4, 1));
            reqs.push(req(10 + i, "b", 4, 1));
        }
        s.add_many(reqs).unwrap();
        let order = drain(&mut s, 1000);
        assert_eq!(
            &order[..5],
            &[0, 10, 1, 2, 3],
            "a (weight 3) gets three admissions per b's one"
        );
        let m = s.metrics();
        assert_eq!(m.tenants[0].service, 4.0 * 6.0);
        assert_eq!(m.tenants[0].normalized_service, 8.0);
    }

    #[test]
    fn a_re_backlogged_tenant_is_lifted_to_the_minimum_backlogged_counter() {
        let mut s = BatchScheduler::new(with_policy(cfg(1000, 1, 100, 4), Policy::Fair)).unwrap();
        s.add_many(vec![
            req(1, "a", 4, 1),
            req(2, "a", 4, 1),
            req(3, "a", 4, 1),
        ])
        .unwrap();
        step(&mut s);
        step(&mut s); // a: two requests of 4 + 2 charged = 12, one still waiting
        s.add(req(4, "b", 4, 1)).unwrap();
        let m = s.metrics();
        let (a, b) = (&m.tenants[0], &m.tenants[1]);
        assert_eq!(a.counter, 12.0);
        assert_eq!(b.counter, 12.0, "b is lifted instead of banking idle time");
        assert_eq!(b.normalized_service, 0.0);
        assert_eq!(m.max_service_diff, 12.0);
    }

    #[test]
    fn prefix_blocks_are_shared_counted_and_not_charged() {
        let mut s = BatchScheduler::new(cfg(1000, 8, 20, 4)).unwrap();
        s.add(req(1, "a", 10, 1).with_block_hashes(vec![11, 22]))
            .unwrap();
        let (p, _) = step(&mut s);
        let first = p.new_blocks(0).to_vec();
        assert_eq!(
            s.metrics().kv_cached_blocks,
            2,
            "full prompt blocks stay cached after finish"
        );
        s.add(req(2, "b", 12, 5).with_block_hashes(vec![11, 22, 33]))
            .unwrap();
        let (p, _) = step(&mut s);
        assert_eq!(p.cached_blocks(0), &first[..2]);
        assert_eq!((p.scheduled[0].num_tokens, p.new_blocks(0).len()), (4, 1));
        assert_eq!(
            s.metrics().tenants[1].input_tokens,
            4,
            "cached tokens are not charged"
        );
        s.add(req(3, "c", 8, 5).with_block_hashes(vec![11, 22]))
            .unwrap();
        let (p, _) = step(&mut s);
        let i = p.scheduled.iter().position(|e| e.id == 3).unwrap();
        let entry = &p.scheduled[i];
        assert_eq!(
            p.cached_blocks(i),
            &first[..1],
            "the last block is recomputed"
        );
        assert_eq!(
            entry.num_tokens, 4,
            "a fully cached prompt still computes its last block"
        );
        assert_eq!(s.block_refcount(first[0]), Some(2));
        assert_eq!(s.block_refcount(first[1]), Some(1));
    }

    #[test]
    fn cached_free_blocks_are_evicted_least_recently_used() {
        let mut s = BatchScheduler::new(cfg(1000, 8, 4, 4)).unwrap();
        s.add(req(1, "a", 4, 1).with_block_hashes(vec![10]))
            .unwrap();
        step(&mut s);
        s.add(req(2, "a", 4, 1).with_block_hashes(vec![20]))
            .unwrap();
        let (p, _) = step(&mut s);
        let block_20 = p.new_blocks(0)[0];
        assert_eq!(s.metrics().kv_cached_blocks, 2);
        s.add(req(3, "a", 12, 1)).unwrap(); // 3 blocks: 2 free + evict hash 10
        step(&mut s);
        assert_eq!(s.metrics().kv_cached_blocks, 1);
        s.add(req(4, "a", 5, 1).with_block_hashes(vec![20]))
            .unwrap();
        s.add(req(5, "a", 5, 1).with_block_hashes(vec![10]))
            .unwrap();
        let (p, _) = step(&mut s);
        assert_eq!(p.cached_blocks(0), [block_20], "hash 20 survived");
        assert!(p.cached_blocks(1).is_empty(), "hash 10 was evicted");
    }

    #[test]
    fn priority_gap_preempts_at_the_sequence_cap() {
        let mut c = with_policy(cfg(1000, 2, 100, 4), Policy::Priority);
        c.preempt_priority_gap = Some(5);
        let mut s = BatchScheduler::new(c).unwrap();
        s.add_many(vec![
            req(1, "a", 4, 50),
            req(2, "a", 4, 50).with_priority(3),
        ])
        .unwrap();
        step(&mut s);
        s.add(req(3, "a", 4, 50).with_priority(4)).unwrap();
        let (p, _) = step(&mut s);
        assert!(p.preempted.is_empty(), "gap 4 < 5");
        s.add(req(4, "a", 4, 50).with_priority(10)).unwrap();
        let (p, _) = step(&mut s);
        assert_eq!((p.preempted.clone(), p.admitted.clone()), (vec![1], vec![]));
        let (p, _) = step(&mut s);
        assert_eq!(p.admitted, vec![4]);
    }

    #[test]
    fn priority_gap_disabled_by_none_or_zero() {
        for gap in [None, Some(0)] {
            let mut c = with_policy(cfg(1000, 1, 100, 4), Policy::Priority);
            c.preempt_priority_gap = gap;
            let mut s = BatchScheduler::new(c).unwrap();
            s.add(req(1, "a", 4, 12)).unwrap();
            step(&mut s);
            s.add(req(2, "a", 4, 50).with_priority(100)).unwrap();
            assert!(step(&mut s).0.preempted.is_empty());
        }
    }

    #[test]
    fn abort_frees_waiting_and_running_requests() {
        let mut s = BatchScheduler::new(cfg(1000, 1, 100, 4)).unwrap();
        s.add_many(vec![
            req(1, "a", 8, 50).with_block_hashes(vec![5]),
            req(2, "a", 8, 50),
        ])
        .unwrap();
        step(&mut s);
        s.abort(2).unwrap();
        assert_eq!(s.num_waiting(), 0);
        s.abort(1).unwrap();
        let m = s.metrics();
        assert_eq!((m.running, m.kv_used_blocks, m.kv_cached_blocks), (0, 0, 1));
        assert!(matches!(s.abort(1), Err(Error::NotFound { .. })));
        assert!(s.schedule().scheduled.is_empty());
    }

    #[test]
    fn stop_finishes_and_queue_time_is_measured_from_arrival() {
        let mut s = BatchScheduler::new(cfg(1000, 8, 100, 4)).unwrap();
        s.add(Request::new(1, "a", 4, 50).with_arrival(1.0))
            .unwrap();
        s.set_time(3.5).unwrap();
        let plan = s.schedule();
        let out = StepOutputs {
            generated: vec![(1, 1)],
            finished: vec![1],
        };
        let fin = s.update(&out).unwrap();
        assert_eq!(plan.admitted, vec![1]);
        assert_eq!(
            (fin[0].reason, fin[0].generated, fin[0].queue_time),
            (FinishReason::Stop, 1, 2.5)
        );
        let m = s.metrics();
        assert_eq!((m.finished_total, m.mean_queue_time), (1, 2.5));
    }

    #[test]
    fn speculative_tokens_are_clamped_to_max_new_tokens() {
        let mut s = BatchScheduler::new(cfg(1000, 8, 100, 4)).unwrap();
        s.add(req(1, "a", 4, 3)).unwrap();
        s.schedule();
        let fin = s
            .update(&StepOutputs {
                generated: vec![(1, 9)],
                finished: vec![],
            })
            .unwrap();
        assert_eq!(fin[0].generated, 3);
        assert_eq!(s.metrics().tenants[0].output_tokens, 3);
    }

    fn assert_invalid<T: std::fmt::Debug>(r: gpuplane_core::Result<T>, want: &str) {
        match r {
            Err(Error::InvalidRequest { field, .. }) => assert_eq!(field, want),
            other => panic!("expected invalid {want}, got {other:?}"),
        }
    }

    type Edit = Box<dyn Fn(&mut BatchConfig)>;

    #[test]
    fn bad_config_is_refused_naming_the_field() {
        let base = || cfg(100, 8, 100, 16);
        let cases: Vec<(&str, Edit)> = vec![
            ("token_budget", Box::new(|c| c.token_budget = 0)),
            ("max_running", Box::new(|c| c.max_running = 0)),
            ("kv_blocks", Box::new(|c| c.kv_blocks = 0)),
            ("block_size", Box::new(|c| c.block_size = 0)),
            ("watermark", Box::new(|c| c.watermark = f64::NAN)),
            ("watermark", Box::new(|c| c.watermark = 1.0)),
            ("w_in", Box::new(|c| c.w_in = f64::INFINITY)),
            ("w_out", Box::new(|c| c.w_out = -1.0)),
            (
                "preempt_priority_gap",
                Box::new(|c| c.preempt_priority_gap = Some(-1)),
            ),
            (
                "tenant_weights[x]",
                Box::new(|c| _ = c.tenant_weights.insert("x".into(), 0.0)),
            ),
            (
                "tenant_weights[x]",
                Box::new(|c| _ = c.tenant_weights.insert("x".into(), f64::NAN)),
            ),
        ];
        for (field, edit) in cases {
            let mut c = base();
            edit(&mut c);
            assert_invalid(BatchScheduler::new(c), field);
        }
    }

    #[test]
    fn bad_requests_are_refused_and_change_nothing() {
        let mut c = cfg(100, 8, 10, 4);
        c.tenant_weights = [("a".to_string(), 1.0)].into();
        let mut s = BatchScheduler::new(c).unwrap();
        s.add(req(1, "a", 4, 2)).unwrap();
        step(&mut s);
        let before = s.metrics();
        let ok = || req(9, "a", 4, 2);
        assert_invalid(
            s.add(Request {
                prompt_len: 0,
                ..ok()
            }),
            "prompt_len",
        );
        assert_invalid(
            s.add(Request {
                prompt_len: (1 << 24) + 1,
                ..ok()
            }),
            "prompt_len",
        );
        assert_invalid(
            s.add(Request {
                max_new_tokens: 0,
                ..ok()
            }),
            "max_new_tokens",
        );
        assert_invalid(
            s.add(Request {
                prompt_len: 44,
                ..ok()
            }),
            "prompt_len",
        );
        assert_invalid(
            s.add(Request {
                prompt_len: 40,
                ..ok()
            }),
            "max_new_tokens",
        );
        assert_invalid(
            s.add(Request {
                arrival: f64::NAN,
                ..ok()
            }),
            "arrival",
        );
        assert_invalid(s.add(ok().with_deadline(f64::INFINITY)), "ttft_deadline");
        assert_invalid(s.add(ok().with_block_hashes(vec![1, 2])), "block_hashes");
        assert_invalid(s.add(req(9, "zz", 4, 2)), "tenant");
        assert_invalid(s.add(req(9, "", 4, 2)), "tenant");
        assert!(matches!(s.add(req(1, "a", 4, 2)), Err(Error::Conflict(_))));
        let batch = vec![
            req(20, "a", 4, 2),
            req(21, "a", 4, 2),
            Request {
                prompt_len: 0,
                ..ok()
            },
        ];
        assert_invalid(s.add_many(batch), "reqs[2].prompt_len");
        assert!(matches!(
            s.add_many(vec![req(30, "a", 4, 2), req(30, "a", 4, 2)]),
            Err(Error::Conflict(_))
        ));
        assert_invalid(s.set_time(f64::NAN), "now");
        assert_eq!(s.metrics(), before);
        assert!(!s.contains(9) && !s.contains(20) && !s.contains(30));
    }

    #[test]
    fn bad_outputs_are_refused_and_change_nothing() {
        let mut s = BatchScheduler::new(cfg(4, 8, 100, 4)).unwrap();
        s.add_many(vec![req(1, "a", 4, 5), req(2, "a", 8, 5)])
            .unwrap();
        step(&mut s); // 1 prefilled whole; 2 not admitted (budget)
        let plan = s.schedule(); // 1 decodes, 2 gets 3 prefill tokens
        assert_eq!(tokens(&plan), vec![(1, 1), (2, 3)]);
        let before = (s.metrics(), s.progress(1), s.progress(2));
        let bad = [
            StepOutputs {
                generated: vec![(1, 1), (77, 1)],
                finished: vec![],
            },
            StepOutputs {
                generated: vec![(1, 1), (2, 1)],
                finished: vec![],
            },
            StepOutputs {
                generated: vec![(1, 1), (1, 1)],
                finished: vec![],
            },
            StepOutputs {
                generated: vec![(1, 1)],
                finished: vec![77],
            },
            StepOutputs {
                generated: vec![(1, u32::MAX)],
                finished: vec![],
            },
        ];
        for out in &bad {
            assert!(s.update(out).is_err(), "{out:?}");
            assert_eq!((s.metrics(), s.progress(1), s.progress(2)), before);
        }
        s.update(&StepOutputs {
            generated: vec![(1, 1)],
            finished: vec![],
        })
        .unwrap();
        let stale = s.update(&StepOutputs {
            generated: vec![(1, 1)],
            finished: vec![],
        });
        assert!(matches!(stale, Err(Error::Conflict(_))));
    }

    #[test]
    fn a_victim_that_grew_earlier_in_the_step_gives_back_its_new_block() {
        // 4 blocks of 4 tokens. A (band 0) runs first; B (band 1) is admitted after it. On
        // the sixth step both cross a block boundary: A takes the last free block, then B
        // needs one and preempts A, which must give back that block too.
        let mut s = BatchScheduler::new(with_policy(cfg(64, 4, 4, 4), Policy::Priority)).unwrap();
        s.add(req(1, "a", 4, 12)).unwrap();
        step(&mut s);
        s.add(req(2, "a", 1, 12).with_priority(1)).unwrap();
        for _ in 0..4 {
            step(&mut s);
        }
        let (plan, _) = step(&mut s);
        assert_eq!(plan.preempted, vec![1]);
        assert_eq!(tokens(&plan), vec![(2, 1)]);
        assert_eq!(plan.new_blocks(0).len(), 1);
        let m = s.metrics();
        assert_eq!(
            (m.kv_used_blocks, m.kv_free_blocks + m.kv_cached_blocks),
            (2, 2)
        );
        assert_eq!(s.blocks_of(1), Some(&[][..]));
        let held = s.blocks_of(2).unwrap().to_vec();
        for b in 0..4 {
            let want = u32::from(held.contains(&b));
            assert_eq!(s.block_refcount(b), Some(want), "block {b}");
        }
    }
}
