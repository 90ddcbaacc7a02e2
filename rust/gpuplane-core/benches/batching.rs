//! Step time (schedule + update) of the batching scheduler in steady state: `running` requests
//! running, 10,000 waiting, every finished request replaced by a new waiting one.
//!
//! One iteration is one step: `schedule`, building the engine's outputs from that plan (one
//! token per sampling request), `update` with them, and adding the replacements. The harness
//! reuses its outputs buffer and tenant names so that it allocates little of its own; the
//! plan is dropped inside the iteration, as an engine would.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gpuplane_core::batching::{
    BatchConfig, BatchScheduler, KvEviction, Policy, Request, StepOutputs,
};
use gpuplane_core::rng::SplitMix64;

const WAITING: usize = 10_000;
const TENANTS: u64 = 8;

struct Load {
    sched: BatchScheduler,
    rng: SplitMix64,
    next_id: u64,
    tenants: Vec<String>,
    outputs: StepOutputs,
}

impl Load {
    fn new(policy: Policy, kv_eviction: KvEviction, running: u32) -> Self {
        let cfg = BatchConfig {
            token_budget: running + 2048,
            max_running: running,
            kv_blocks: running * 40 + 1024,
            block_size: 16,
            policy,
            kv_eviction,
            ..BatchConfig::default()
        };
        let mut load = Self {
            sched: BatchScheduler::new(cfg).unwrap(),
            rng: SplitMix64::new(7),
            next_id: 0,
            tenants: (0..TENANTS).map(|t| format!("t{t}")).collect(),
            outputs: StepOutputs::default(),
        };
        for _ in 0..WAITING + running as usize {
            load.add();
        }
        while load.sched.num_running() < running as usize {
            load.step();
        }
        load
    }

    fn add(&mut self) {
        let id = self.next_id;
        self.next_id += 1;
        let prompt = 64 + self.rng.below(192) as u32;
        let max_new = 16 + self.rng.below(240) as u32;
        let tenant = self.tenants[self.rng.below(TENANTS) as usize].clone();
        let r = Request::new(id, tenant, prompt, max_new).with_arrival(id as f64);
        self.sched.add(r).unwrap();
    }

    fn step(&mut self) {
        let plan = self.sched.schedule();
        self.outputs.generated.clear();
        self.outputs.generated.extend(
            plan.scheduled
                .iter()
                .filter(|e| e.samples)
                .map(|e| (e.id, 1)),
        );
        drop(plan);
        let finished = self.sched.update(&self.outputs).unwrap();
        for _ in 0..finished.len() {
            self.add();
        }
    }
}

fn step_time(c: &mut Criterion) {
    // `*_vllm_kv`: the pool in vLLM's order (what gpuplane.vllm runs), every full block
    // released into the LRU list.
    let variants = [
        ("fcfs", Policy::Fcfs, KvEviction::Lru),
        ("fair", Policy::Fair, KvEviction::Lru),
        ("fcfs_vllm_kv", Policy::Fcfs, KvEviction::Vllm),
        ("fair_vllm_kv", Policy::Fair, KvEviction::Vllm),
    ];
    for (name, policy, kv_eviction) in variants {
        let mut group = c.benchmark_group(format!("batching_step_{name}"));
        group
            .sample_size(30)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for running in [64u32, 256, 1024] {
            let mut load = Load::new(policy, kv_eviction, running);
            group.bench_with_input(
                BenchmarkId::new("running_10k_waiting", running),
                &running,
                |b, _| b.iter(|| load.step()),
            );
        }
        group.finish();
    }
}

criterion_group!(benches, step_time);
criterion_main!(benches);
