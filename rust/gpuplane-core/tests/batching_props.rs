//! Properties of the batching scheduler, checked after every step of random workloads.

mod batching {
    use std::collections::BTreeMap;

    use gpuplane_core::batching::{
        BatchConfig, BatchScheduler, Policy, Request, StepOutputs, StepPlan,
    };
    use gpuplane_core::rng::SplitMix64;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Add {
            tenant: u8,
            prompt: u32,
            max_new: u32,
            prio: i32,
            family: u64,
            hashes: u32,
        },
        Step {
            stop: Option<usize>,
        },
        Abort(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..3, 1u32..64, 1u32..24, -1i32..2, 0u64..3, 0u32..8).prop_map(
                |(tenant, prompt, max_new, prio, family, hashes)| Op::Add { tenant, prompt, max_new, prio, family, hashes }
            ),
            4 => proptest::option::weighted(0.1, 0usize..32).prop_map(|stop| Op::Step { stop }),
            1 => (0usize..64).prop_map(Op::Abort),
        ]
    }

    fn policy() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::Fcfs),
            Just(Policy::Priority),
            Just(Policy::Fair),
            Just(Policy::Deadline),
            Just(Policy::WorkflowFair),
            Just(Policy::ProgramLas)
        ]
    }

    fn config() -> impl Strategy<Value = BatchConfig> {
        (
            8u32..200,
            1u32..12,
            24u32..80,
            prop_oneof![Just(2u32), Just(4), Just(8)],
            0u32..3,
            any::<bool>(),
            policy(),
        )
            .prop_map(|(budget, max_running, blocks, bs, wm, chunk_cap, policy)| {
                BatchConfig {
                    token_budget: budget,
                    max_running,
                    kv_blocks: blocks,
                    block_size: bs,
                    watermark: f64::from(wm) * 0.05,
                    long_prefill_token_threshold: if chunk_cap { 8 } else { 0 },
                    preempt_priority_gap: Some(2),
                    policy,
                    ..BatchConfig::default()
                }
            })
    }

    /// The test's view of live requests: id -> (prompt, max_new).
    struct World {
        s: BatchScheduler,
        live: BTreeMap<u64, (u32, u32)>,
        next_id: u64,
        tenants_used: [bool; 3],
    }

    impl World {
        fn add(
            &mut self,
            tenant: u8,
            prompt: u32,
            max_new: u32,
            prio: i32,
            family: u64,
            hashes: u32,
        ) {
            let id = self.next_id;
            self.next_id += 1;
            let full = prompt / self.s.config().block_size;
            let hashes = (0..hashes.min(full))
                .map(|i| (family << 32) | u64::from(i))
                .collect();
            let r = Request::new(id, format!("t{tenant}"), prompt, max_new)
                .with_priority(prio)
                .with_arrival(id as f64)
                .with_deadline((id % 7) as f64)
                .with_block_hashes(hashes);
            let before = self.s.metrics();
            if self.s.add(r).is_ok() {
                self.live.insert(id, (prompt, max_new));
                self.tenants_used[tenant as usize] = true;
            } else {
                assert_eq!(self.s.metrics(), before, "a refused add changes nothing");
            }
        }

        fn step(&mut self, stop: Option<usize>) -> StepPlan {
            let plan = self.s.schedule();
            self.check_plan(&plan);
            for e in &plan.scheduled {
                let p = self.s.progress(e.id).unwrap();
                assert_eq!(e.samples, p.computed == p.known);
            }
            let generated = plan
                .scheduled
                .iter()
                .filter(|e| e.samples)
                .map(|e| (e.id, 1))
                .collect();
            let finished = stop
                .and_then(|i| plan.scheduled.get(i))
                .map(|e| vec![e.id])
                .unwrap_or_default();
            for f in self
                .s
                .update(&StepOutputs {
                    generated,
                    finished,
                })
                .unwrap()
            {
                self.live.remove(&f.id);
            }
            self.check_state();
            plan
        }

        fn abort(&mut self, i: usize) {
            if let Some(&id) = self.live.keys().nth(i % self.live.len().max(1)) {
                self.s.abort(id).unwrap();
                self.live.remove(&id);
                self.check_state();
            }
        }

        fn check_plan(&self, plan: &StepPlan) {
            let c = self.s.config();
            assert!(plan.total_tokens <= c.token_budget);
            assert!(plan.scheduled.len() <= c.max_running as usize);
            assert!(self.s.num_running() <= c.max_running as usize);
            assert_eq!(
                plan.total_tokens,
                plan.scheduled.iter().map(|e| e.num_tokens).sum::<u32>()
            );
            if !plan.preempted.is_empty() {
                assert!(
                    plan.admitted.is_empty(),
                    "no admission on a preempting step"
                );
            }
            self.check_work_conserving(plan);
        }

        fn check_work_conserving(&self, plan: &StepPlan) {
            let c = self.s.config();
            let single_account =
                c.policy == Policy::Fair && self.tenants_used.iter().filter(|&&u| u).count() <= 1;
            let checked = c.chunked_prefill && (!c.policy.is_fair() || single_account);
            let room_left =
                plan.total_tokens < c.token_budget && self.s.num_running() < c.max_running as usize;
            if !checked || !room_left || !plan.preempted.is_empty() || !plan.admitted.is_empty() {
                return;
            }
            let m = self.s.metrics();
            let avail =
                (m.kv_free_blocks + m.kv_cached_blocks).saturating_sub(c.watermark_blocks());
            for &id in self.live.keys() {
                let p = self.s.progress(id).unwrap();
                if !p.running {
                    assert!(
                        p.known.div_ceil(c.block_size) > avail,
                        "request {id} fits but nothing was admitted"
                    );
                }
            }
        }

        fn check_state(&self) {
            let m = self.s.metrics();
            assert_eq!(
                m.kv_free_blocks + m.kv_used_blocks + m.kv_cached_blocks,
                m.kv_total_blocks
            );
            let mut holders = vec![0u32; m.kv_total_blocks as usize];
            for (&id, &(prompt, max_new)) in &self.live {
                let p = self.s.progress(id).expect("live request is known");
                assert!(p.computed <= p.known && p.known <= prompt + max_new);
                assert!(
                    p.computed < prompt + max_new,
                    "computes past prompt + max_new_tokens"
                );
                for &b in self.s.blocks_of(id).unwrap() {
                    holders[b as usize] += 1;
                }
            }
            for (b, &n) in holders.iter().enumerate() {
                assert_eq!(
                    self.s.block_refcount(b as u32),
                    Some(n),
                    "refcount of block {b}"
                );
            }
            assert_eq!(m.running + m.waiting, self.live.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn invariants_hold_and_everything_finishes(cfg in config(), chunked in any::<bool>(), ops in proptest::collection::vec(op(), 1..160)) {
            let cfg = BatchConfig { chunked_prefill: chunked, ..cfg };
            let mut w = World { s: BatchScheduler::new(cfg).unwrap(), live: BTreeMap::new(), next_id: 0, tenants_used: [false; 3] };
            for op in ops {
                match op {
                    Op::Add { tenant, prompt, max_new, prio, family, hashes } => w.add(tenant, prompt, max_new, prio, family, hashes),
                    Op::Step { stop } => { w.step(stop); }
                    Op::Abort(i) => w.abort(i),
                }
            }
            for _ in 0..20_000 {
                if w.live.is_empty() { break; }
                w.step(None);
            }
            prop_assert!(w.live.is_empty(), "{} requests starved", w.live.len());
        }
    }

    /// Two or more fair-share tenants kept continuously backlogged with random work.
    struct Backlog {
        s: BatchScheduler,
        rng: SplitMix64,
        next_id: u64,
        tenants: usize,
        longest_prompt: u32,
    }

    impl Backlog {
        fn new(weights: &[f64], seed: u64, longest_prompt: u32) -> Self {
            let cfg = BatchConfig {
                token_budget: 64,
                max_running: 8,
                kv_blocks: 64,
                block_size: 4,
                watermark: 0.0,
                policy: Policy::Fair,
                tenant_weights: weights
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| (format!("t{i}"), w))
                    .collect(),
                ..BatchConfig::default()
            };
            let s = BatchScheduler::new(cfg).unwrap();
            let mut b = Self {
                s,
                rng: SplitMix64::new(seed),
                next_id: 0,
                tenants: weights.len(),
                longest_prompt,
            };
            b.refill();
            b
        }

        fn refill(&mut self) {
            let m = self.s.metrics();
            for t in 0..self.tenants {
                for _ in m.tenants[t].waiting..4 {
                    let prompt = 1 + self.rng.below(u64::from(self.longest_prompt)) as u32;
                    let max_new = 1 + self.rng.below(32) as u32;
                    let id = self.next_id;
                    self.next_id += 1;
                    self.s
                        .add(
                            Request::new(id, format!("t{t}"), prompt, max_new)
                                .with_arrival(id as f64),
                        )
                        .unwrap();
                }
            }
        }

        fn step(&mut self) {
            let plan = self.s.schedule();
            let generated = plan
                .scheduled
                .iter()
                .filter(|e| self.s.progress(e.id).is_some_and(|p| p.computed == p.known))
                .map(|e| (e.id, 1))
                .collect();
            self.s
                .update(&StepOutputs {
                    generated,
                    finished: vec![],
                })
                .unwrap();
            self.refill();
        }

        fn services(&self) -> Vec<f64> {
            self.s
                .metrics()
                .tenants
                .iter()
                .map(|t| t.normalized_service)
                .collect()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn vtc_bound_for_two_equal_tenants(seed in any::<u64>(), longest in 1u32..100) {
            let mut b = Backlog::new(&[1.0, 1.0], seed, longest);
            let c = b.s.config().clone();
            let kv_tokens = f64::from(c.kv_blocks * c.block_size);
            let bound = 2.0 * (c.w_in * f64::from(longest)).max(c.w_out * kv_tokens);
            for _ in 0..400 {
                b.step();
                let s = b.services();
                prop_assert!((s[0] - s[1]).abs() <= bound, "difference {} > bound {bound}", (s[0] - s[1]).abs());
            }
        }
    }

    #[test]
    fn unequal_weights_converge_to_their_shares() {
        for seed in 0..4 {
            let mut b = Backlog::new(&[1.0, 3.0], seed, 48);
            for _ in 0..6000 {
                b.step();
            }
            let m = b.s.metrics();
            let (a, c) = (m.tenants[0].service, m.tenants[1].service);
            let share = c / (a + c);
            assert!((share - 0.75).abs() < 0.03, "seed {seed}: share {share}");
        }
    }
}
