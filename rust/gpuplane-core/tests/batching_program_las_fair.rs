//! `program_las` is tenant-fair: tenants share by weight (the Virtual Token Counter bound of
//! `fair`) whatever their programs' attained service, and programs are ranked by least
//! attained service only inside their tenant.

use gpuplane_core::batching::{BatchConfig, BatchScheduler, Policy, Request, StepOutputs};
use gpuplane_core::rng::SplitMix64;
use proptest::prelude::*;

/// Tenants kept continuously backlogged: tenant 0 runs a few long programs (their attained
/// service only grows), the others mostly fresh single calls (attained 0, ranked first by a
/// program-level order that ignores tenants).
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
            policy: Policy::ProgramLas,
            starvation_s: 1e9,
            tenant_weights: weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (format!("t{i}"), w))
                .collect(),
            ..BatchConfig::default()
        };
        let mut b = Self {
            s: BatchScheduler::new(cfg).unwrap(),
            rng: SplitMix64::new(seed),
            next_id: 0,
            tenants: weights.len(),
            longest_prompt,
        };
        b.refill();
        b
    }

    /// Tenant 0's calls belong to one of 2 programs; the others' are single calls 3 times in 4.
    fn workflow(&mut self, t: usize) -> Option<u64> {
        let base = 1000 * t as u64;
        match t {
            0 => Some(base + self.rng.below(2)),
            _ if self.rng.below(4) > 0 => None,
            _ => Some(base + self.rng.below(3)),
        }
    }

    fn refill(&mut self) {
        let m = self.s.metrics();
        for t in 0..self.tenants {
            for _ in m.tenants[t].waiting..4 {
                let prompt = 1 + self.rng.below(u64::from(self.longest_prompt)) as u32;
                let max_new = 1 + self.rng.below(32) as u32;
                let id = self.next_id;
                self.next_id += 1;
                let mut r =
                    Request::new(id, format!("t{t}"), prompt, max_new).with_arrival(id as f64);
                r.workflow = self.workflow(t);
                self.s.add(r).unwrap();
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
        let outputs = StepOutputs {
            generated,
            finished: vec![],
        };
        self.s.update(&outputs).unwrap();
        self.refill();
    }

    /// Each tenant's weighted service divided by its weight.
    fn services(&self) -> Vec<f64> {
        let m = self.s.metrics();
        m.tenants.iter().map(|t| t.normalized_service).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Backlogged tenants' normalized services stay within the VTC bound of each other:
    /// 2 x max(w_in x longest prompt, w_out x KV tokens) (the bound `fair` keeps).
    #[test]
    fn tenants_keep_the_vtc_bound_under_program_las(
        seed in any::<u64>(),
        longest in 1u32..100,
        weights in proptest::collection::vec(1u8..4, 2..4),
    ) {
        let weights: Vec<f64> = weights.into_iter().map(f64::from).collect();
        let mut b = Backlog::new(&weights, seed, longest);
        let c = b.s.config().clone();
        let kv_tokens = f64::from(c.kv_blocks * c.block_size);
        let bound = 2.0 * (c.w_in * f64::from(longest)).max(c.w_out * kv_tokens);
        for _ in 0..400 {
            b.step();
            let s = b.services();
            let (lo, hi) = s.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            prop_assert!(hi - lo <= bound, "services {s:?}: spread {} > bound {bound}", hi - lo);
        }
    }
}
